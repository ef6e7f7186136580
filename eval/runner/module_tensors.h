// The tensors of a module (parameters and buffers, recursively) as TensorEntry rows for
// weight_bytes_by_class (eval/results/meters.h).
#pragma once

#include "eval/results/meters.h"

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace g4u::runner {

std::vector<TensorEntry> module_tensors(const torch::nn::Module& module);

// Peak device memory of this process on CUDA (the caching allocator's peak), nullopt when the model
// does not run on CUDA or this build has no CUDA.
std::optional<int64_t> peak_cuda_bytes();

}  // namespace g4u::runner
