// A 4-bit weight in the affine group form of LibTorch's int4 weight-only product
// (_weight_int4pack_mm, the GPU path of QuantLinear):
//   w[n][k] = (q[n][k] - 8) * scale[n][k / group] + zero[n][k / group],  q in 0..15.
// Every scheme whose codes are 4-bit and whose groups are affine has this form exactly (up to fp32
// rounding of the terms): q4_0 (scale d, zero 0), q4_1 (d, m + 8d), q4_k (d*sc_j, 8 d*sc_j -
// dmin*m_j over sub-blocks of 32), rtn4 sym and asym (s, (8 - z) s) and hqq (s, (8 - z) s).
// Non-linear or wider codes (iq4_nl, nf4, q6_k, q8_0) have none.
#pragma once

#include "quant/formats/quantized_tensor.h"

#include <torch/torch.h>

#include <optional>

namespace g4u::quant {

struct Int4Groups {
  int64_t group = 0;     // weights per group along a row
  torch::Tensor codes;   // uint8 [rows, cols], 0..15
  torch::Tensor scales;  // fp32 [rows, cols / group]
  torch::Tensor zeros;   // fp32 [rows, cols / group]

  // (codes - 8) * scale + zero, fp32 [rows, cols]: what the product multiplies by.
  torch::Tensor dequantized() const;
};

// nullopt when `w`'s scheme has no such form.
std::optional<Int4Groups> int4_groups(const QuantizedTensor& w);

// The device form of QuantLinear on a CUDA device: the codes packed for LibTorch's int4 tensor-core
// product and the bf16 [cols / group, rows, 2] scale-and-zero table it reads. Needs a CUDA build
// of g4u against LibTorch >= 2.5 (the uint8 [N, K/2] packing input), a GPU of compute capability
// 8.0 or newer, a group of 32..256 and cols a multiple of 32; int4_pack_supported says why not.
struct Int4Packed {
  int64_t group = 0, rows = 0, cols = 0;
  torch::Tensor packed;           // int32, opaque tensor-core layout
  torch::Tensor scales_and_zeros; // bf16 [cols / group, rows, 2]
};
// "" when the packed product can run on `device`, else the reason it cannot.
std::string int4_pack_unsupported_reason(const Int4Groups& g, int64_t rows, int64_t cols,
                                         const torch::Device& device);
Int4Packed int4_pack(const Int4Groups& g, const torch::Device& device);
// x [n, cols] -> [n, rows] in x's dtype (computed in bf16 with fp32 accumulation).
torch::Tensor int4_packed_matmul(const Int4Packed& w, const torch::Tensor& x);

// The bf16 [cols / group, rows, 2] table (scale first) of `g`, on the CPU.
torch::Tensor scales_and_zeros_table(const Int4Groups& g);
// The codes as LibTorch's CUDA packing takes them: uint8 [rows, cols / 2], byte j of a row holding
// code 2j in its high nibble and code 2j + 1 in its low one.
torch::Tensor pack_code_pairs(const torch::Tensor& codes);

}  // namespace g4u::quant
