// One entry point for every model source g4u runs: a quantized checkpoint (`g4u quantize`'s
// folder, quantization.json), a GGUF file of the gemma4 architecture, or an HF checkpoint folder or
// preset. The commands (apps/flags/model_flags.h) and the experiment steps (`g4u run`) load through it.
#pragma once

#include "model/io/loader.h"
#include "model/mtp/drafter.h"

#include <memory>

#include <string>

namespace g4u::quant {

model::LoadedModel load_any_model(const std::string& source, const model::LoadOptions& options);

// A drafter (preset or checkpoint folder) for `target`, in the target's dtype, a preset's weights
// seeded by `seed`; with `draft_quant` its projections quantized in memory with that RTN recipe.
std::shared_ptr<model::Drafter> load_any_drafter(const std::string& source, model::LoadedModel& target, uint64_t seed,
                                                 const std::string& draft_quant = "");

}  // namespace g4u::quant
