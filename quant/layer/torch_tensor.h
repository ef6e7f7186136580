// LibTorch bridges for QuantizedTensor (kept out of the torch-free headers).
#pragma once

#include "quant/formats/quantized_tensor.h"

#include <torch/torch.h>

#include <string>
#include <string_view>

namespace g4u::quant {

// Quantizes a 2-D floating-point tensor (any float dtype; converted to contiguous fp32 on the CPU).
// `imatrix` is undefined or a 1-D tensor of cols values. Errors as quantize().
QuantizedTensor quantize_tensor(const torch::Tensor& w, std::string_view scheme,
                                const torch::Tensor& imatrix = torch::Tensor(), const std::string& where = "weights",
                                int threads = 0);

// Dequantizes to a new CPU tensor [rows, cols] in `dtype`, a slice of rows at a time (a 12B table
// needs no second full-size buffer).
torch::Tensor dequantize_tensor(const QuantizedTensor& q, torch::ScalarType dtype = torch::kFloat);

}  // namespace g4u::quant
