// One entry point for every model source g4u runs: a quantized checkpoint (`g4u quantize`'s
// folder, quantization.json), a GGUF file of the gemma4 architecture, or an HF checkpoint folder or
// preset. The commands (apps/flags/model_flags.h) and the experiment steps (`g4u run`) load through it.
#pragma once

#include "model/io/loader.h"

#include <string>

namespace g4u::quant {

model::LoadedModel load_any_model(const std::string& source, const model::LoadOptions& options);

}  // namespace g4u::quant
