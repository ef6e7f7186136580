// Internal: the per-family functions the scheme registry (quant/formats/scheme.cpp) points at, and small
// helpers shared by the planar layouts. Not for use outside quant/.
#pragma once

#include "quant/formats/fp16.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme.h"

#include <cstdint>
#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "g4u quant layouts assume a little-endian host");

namespace g4u::quant::detail {

// ggml block schemes (quant/formats/ggml_schemes.cpp): encode_q4_0, decode_q4_0, ...
#define G4U_DECLARE_GGML_CODEC(type)                                                                 \
  void encode_##type(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix, \
                     int threads, QuantizedTensor& out);                                                \
  void decode_##type(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out);
G4U_DECLARE_GGML_CODEC(q4_0)
G4U_DECLARE_GGML_CODEC(q4_1)
G4U_DECLARE_GGML_CODEC(q8_0)
G4U_DECLARE_GGML_CODEC(q4_K)
G4U_DECLARE_GGML_CODEC(q6_K)
G4U_DECLARE_GGML_CODEC(iq4_nl)
#undef G4U_DECLARE_GGML_CODEC
StorageSizes storage_ggml(const SchemeTraits& s, int64_t rows, int64_t cols);
ByteAccounting accounting_ggml(const SchemeTraits& s, int64_t rows, int64_t cols);

// Planar 4-bit schemes: RTN (quant/formats/rtn.cpp) and HQQ (quant/formats/hqq.cpp); shared decode/sizes in
// quant/formats/planar.cpp.
void encode_rtn(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix,
                int threads, QuantizedTensor& out);
void encode_hqq(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix,
                int threads, QuantizedTensor& out);
void decode_planar(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out);
StorageSizes storage_planar(const SchemeTraits& s, int64_t rows, int64_t cols);
ByteAccounting accounting_planar(const SchemeTraits& s, int64_t rows, int64_t cols);

// bitsandbytes NF4 (quant/formats/nf4.cpp).
void encode_nf4(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix,
                int threads, QuantizedTensor& out);
void decode_nf4(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out);
StorageSizes storage_nf4(const SchemeTraits& s, int64_t rows, int64_t cols);
ByteAccounting accounting_nf4(const SchemeTraits& s, int64_t rows, int64_t cols);

// Little-endian fp16 / fp32 arrays inside byte vectors.
inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store_f32(uint8_t* p, float v) { std::memcpy(p, &v, 4); }

// Planar 4-bit code packing (Q4_0 order inside each 32-element chunk).
inline void pack_codes_q4_0_order(const uint8_t* codes, int64_t n, uint8_t* out) {
  for (int64_t c = 0; c < n / 32; ++c)
    for (int j = 0; j < 16; ++j)
      out[16 * c + j] = static_cast<uint8_t>(codes[32 * c + j] | (codes[32 * c + 16 + j] << 4));
}
inline int code_q4_0_order(const uint8_t* row, int64_t col) {
  const uint8_t b = row[16 * (col / 32) + (col % 16)];
  return (col % 32) < 16 ? (b & 0xF) : (b >> 4);
}

// 4-bit integer zero i of a planar rtn asym tensor (flat index row * groups + group).
inline int zero_nibble(const uint8_t* zeros, int64_t i) {
  const uint8_t b = zeros[i / 2];
  return (i % 2 == 0) ? (b & 0xF) : (b >> 4);
}

}  // namespace g4u::quant::detail
