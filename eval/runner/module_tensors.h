// The tensors of a module (parameters and buffers, recursively) as TensorEntry rows for
// weight_bytes_by_class (eval/results/meters.h).
#pragma once

#include "eval/results/meters.h"

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace g4u::runner {

std::vector<TensorEntry> module_tensors(const torch::nn::Module& module);

}  // namespace g4u::runner
