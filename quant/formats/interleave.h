// The kernels' interleaved row order for Q4_0 and Q4_K (same bytes, rearranged).
//
// Why: in ggml's order one 32-block's codes fill a whole AVX2 register, so every block needs its
// own int->float conversion and FMA with its scale. Interleaving eight consecutive blocks of a row
// puts four codes of each block in one 32-bit lane: eight register-wide integer dot products then
// leave block b's exact dot in lane b, and one conversion + one FMA with the eight block scales
// finishes all eight. (ggml's CPU backend repacks Q4_0 for the same reason.)
//
// Q4_0, per group of 8 consecutive blocks of a row (144 bytes, as in storage order):
//   bytes 0..15   the 8 fp16 scales d_0..d_7;
//   bytes 16..143 four 32-byte chunks; chunk j, bytes 4b..4b+3 = qs[4j..4j+3] of block b. So the
//                 low nibbles of chunk j hold elements 4j..4j+3 of each block, the high nibbles
//                 elements 16+4j..16+4j+3.
//   The blocks after the last full group of 8 (cols/32 mod 8 of them) stay in ggml order.
// Q4_K, per super-block (144 bytes): d, dmin and the 12 scale bytes unchanged; the 128 code bytes
//   become four chunks where chunk j, byte 4b+t holds sub-block b's element 4j+t (low nibble) and
//   element 16+4j+t (high nibble) (ggml: byte 32c+e holds element e of sub-blocks 2c (low) and
//   2c+1 (high)).
// The matching activation order (interleave_act_groups) permutes each 256-element group of the
// 8-bit activations the same way: 32-byte vector v = 2j+h, bytes 4b..4b+3 = elements
// 32b+16h+4j .. +3.
#pragma once

#include "quant/formats/quantized_tensor.h"

#include <cstdint>

namespace g4u::quant {

// True for the schemes that have an interleaved kernel order (q4_0, q4_k).
bool has_interleaved_order(const SchemeTraits& scheme);

// The tensor in interleaved order (unchanged when already interleaved or when the scheme has no
// interleaved order). QuantLinear keeps its weight this way.
QuantizedTensor to_interleaved(QuantizedTensor q);
// The tensor in ggml storage order (unchanged when it already is).
QuantizedTensor to_storage_order(QuantizedTensor q);

namespace detail {
// One row of `cols` weights of an interleavable scheme, between the two orders.
void interleave_row(const SchemeTraits& scheme, int64_t cols, const uint8_t* storage, uint8_t* interleaved);
void deinterleave_row(const SchemeTraits& scheme, int64_t cols, const uint8_t* interleaved, uint8_t* storage);
// Permutes every full 256-element group of one row of 8-bit activations in place (see above).
void interleave_act_groups(int8_t* q, int64_t cols);
}  // namespace detail

}  // namespace g4u::quant
