// bitsandbytes NF4 (shared/docs/quant-and-mtp.md §2.9): 16-entry normal-float table, blocks of 64
// consecutive elements of the flattened tensor with an fp32 absmax each, optional double
// quantization of the absmax values (scheme nf4_dq).
#pragma once

#include <array>

namespace g4u::quant {

constexpr int kNf4BlockSize = 64;
constexpr int kNf4NestedBlockSize = 256;

// The NF4 code table exactly as bitsandbytes ships it (index 7 = 0).
extern const std::array<float, 16> kNf4Values;

// bitsandbytes' signed "dynamic" 8-bit map (create_dynamic_map(signed=True)): for i = 0..6 the
// 2^i midpoints of linspace(0.1, 1, 2^i + 1) scaled by 10^(i - 6), both signs, plus 0 and 1,
// sorted; computed in fp32 the way torch does. Used for the double-quantized absmax values.
const std::array<float, 256>& nf4_dynamic_map();

// Index of the entry of an ascending table nearest to u; an exact tie goes to the lower index
// (torch.argmin over |u - table| picks the first minimum).
int nearest_index_sorted(const float* table, int n, float u);

}  // namespace g4u::quant
