// `g4u bench --embedders`: latency of every vision projector variant per image at each soft-token
// budget and of every audio variant per second of audio, next to the decoder's prefill of the same
// number of tokens (what "encoder-free" costs against what the LLM spends anyway).
#pragma once

#include "model/io/config.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace g4u::app {

// `decoder_available`: whether the text decoder of `c` fits in memory (not for the 12B on CPU).
// Every module and input in `dtype` on `device` (timings synchronized with it).
nlohmann::json bench_embedders(const model::ModelConfig& c, int reps, bool decoder_available, uint64_t seed,
                               torch::ScalarType dtype = torch::kFloat32, const torch::Device& device = torch::kCPU);

}  // namespace g4u::app
