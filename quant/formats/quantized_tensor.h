// QuantizedTensor: one quantized [rows, cols] weight, kept packed, with exact byte accounting.
//
// Array contents by layout (all multi-byte values little-endian):
//
// ggml schemes (q4_0, q4_1, q4_k, q6_k, q8_0, iq4_nl): `data` = ggml blocks, row after row,
// byte-for-byte what ggml stores (rows * cols / block * bytes_per_block bytes); other arrays empty.
//
// rtn4_{sym,asym}_{g32,g64,g128,pc} and hqq, hqq_g32, hqq_g128 (group g along cols; pc: g = cols):
//   data   = 4-bit codes, rows * cols / 2 bytes. Within a row, 16-byte chunk c holds elements
//            32c .. 32c+31 in ggml Q4_0 order: byte j low nibble = element 32c+j, high nibble =
//            element 32c+16+j. (So cols must be a multiple of 32 for every planar 4-bit scheme.)
//   scales = fp16 scale per group, [rows][cols/g].
//   zeros  = rtn asym: 4-bit integer zero per group, flat index i = row * (cols/g) + group,
//            byte i/2, low nibble for even i, high nibble for odd i (ceil(rows*cols/g / 2) bytes);
//            hqq: fp16 zero per group, [rows][cols/g]; rtn sym: empty (zero is fixed at 8).
//   Dequant: rtn sym w = s * (q - 8); rtn asym and hqq w = s * (q - z).
//
// nf4, nf4_dq (bitsandbytes NF4, blocks of 64 consecutive elements of the flattened tensor):
//   data   = codes of the flattened tensor, byte i: high nibble = element 2i, low = element 2i+1.
//   scales = nf4: fp32 absmax per block; nf4_dq: uint8 code (into the 256-entry signed dynamic
//            map) per block.
//   meta   = nf4_dq only: fp32 second-level absmax per 256 blocks (ceil(nblocks / 256) values),
//            then the fp32 offset (mean of the first-level absmax).
//   Dequant: w = NF4[code] * absmax, with absmax = dynamic[q] * absmax2 + offset for nf4_dq.
#pragma once

#include "base/byte_buffer.h"
#include "quant/formats/scheme.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::quant {

struct QuantizedTensor {
  const SchemeTraits* scheme = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  // Owned, or borrowed from a checkpoint's mapping (base/byte_buffer.h: read-only, copied on the
  // first mutation).
  ByteBuffer data;
  ByteBuffer scales;
  ByteBuffer zeros;
  ByteBuffer meta;
  // q4_0 / q4_k only: `data` rows are in the kernels' interleaved order (quant/formats/interleave.h), as
  // QuantLinear keeps them. dequantize handles both orders; to_bytes needs storage order; quantized
  // checkpoints record which order they hold (quant/io/checkpoint.h).
  bool interleaved = false;

  int64_t numel() const { return rows * cols; }
  // Exact bytes by part; equals data + scales + zeros + meta sizes.
  ByteAccounting bytes() const;
  // 8 * bytes().total() / numel().
  double bits_per_weight() const;
  // Whole tensor to fp32, row-major [rows, cols].
  std::vector<float> dequantize() const;
  void dequantize_rows(int64_t r0, int64_t r1, float* out) const;
  // Byte size of one row of `data` for row-local layouts (ggml and planar codes); 0 for nf4.
  int64_t data_row_bytes() const;
};

// Checks that `scheme` can store a [rows, cols] tensor; InputError naming `where` otherwise.
void check_shape(const SchemeTraits& scheme, int64_t rows, int64_t cols, const std::string& where);

// Quantizes a row-major [rows, cols] fp32 weight. `imatrix` (optional) has `cols` values >= 0
// (llama-imatrix's mean squared activation per input column) and selects the importance-weighted
// path; only schemes with uses_imatrix accept it. Bad shapes, NaN/Inf weights, a bad imatrix, or
// values whose scales overflow fp16 -> InputError naming `where`. threads <= 0: default count.
// `error` (optional) receives the squared error sums of the decoded tensor, taken in the same
// decoding pass that checks it for overflow (the streaming quantizer's relative_error).
struct DecodeError {
  double squared_error = 0;      // sum (w - w_hat)^2
  double squared_reference = 0;  // sum w^2
};
QuantizedTensor quantize(const SchemeTraits& scheme, const float* w, int64_t rows, int64_t cols,
                         const float* imatrix = nullptr, const std::string& where = "weights",
                         int threads = 0, DecodeError* error = nullptr);
QuantizedTensor quantize(std::string_view scheme, const float* w, int64_t rows, int64_t cols,
                         const float* imatrix = nullptr, const std::string& where = "weights",
                         int threads = 0);

// Decodes q in parallel row chunks: the squared error sums against w ([q.rows, q.cols]), or an
// InputError naming `where` when a decoded value is not finite.
DecodeError decoded_error(const QuantizedTensor& q, const float* w, int threads = 0,
                          const std::string& where = "weights");

// ||W - What||_F / ||W||_F, accumulated in double (0 when both are all-zero).
double relative_error(const float* w, const float* w_hat, int64_t n);
double relative_error(const QuantizedTensor& q, const float* w);

// The file form used by `g4u quant encode/decode`: data, scales, zeros, meta concatenated in
// that order (for ggml schemes this is exactly the raw ggml blocks, row after row).
std::string to_bytes(const QuantizedTensor& q);
// Inverse of to_bytes; the size must match exactly (InputError naming `where` otherwise).
QuantizedTensor from_bytes(const SchemeTraits& scheme, int64_t rows, int64_t cols,
                           std::string_view bytes, const std::string& where);

}  // namespace g4u::quant
