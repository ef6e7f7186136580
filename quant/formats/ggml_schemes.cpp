// Scheme adapters for the ggml block formats: whole-tensor encode (row after row, rows in
// parallel), row-range decode, storage sizes and byte accounting by part.
#include "quant/formats/ggml_formats.h"
#include "quant/formats/scheme_impl.h"
#include "quant/kernels/parallel.h"

#include <algorithm>

namespace g4u::quant::detail {
namespace {


template <typename Block, void (*Ref)(const float*, Block*, int64_t),
          void (*Imat)(const float*, Block*, int64_t, const float*)>
void encode_rows(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix,
                 int threads, QuantizedTensor& out) {
  const int64_t row_bytes = cols / s.block * static_cast<int64_t>(sizeof(Block));
  out.data.assign(static_cast<size_t>(rows * row_bytes), 0);
  const int64_t chunk = std::max<int64_t>(1, 16384 / cols);  // ~16k weights per task
  parallel_for((rows + chunk - 1) / chunk, threads, [&](int64_t task) {
    const int64_t r1 = std::min(rows, (task + 1) * chunk);
    for (int64_t r = task * chunk; r < r1; ++r) {
      Block* y = reinterpret_cast<Block*>(out.data.mutable_data() + r * row_bytes);
      if (imatrix) Imat(w + r * cols, y, cols, imatrix);
      else Ref(w + r * cols, y, cols);
    }
  });
}

template <typename Block, void (*Deq)(const Block*, float*, int64_t)>
void decode_rows(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out) {
  const int64_t row_bytes = t.cols / t.scheme->block * static_cast<int64_t>(sizeof(Block));
  for (int64_t r = r0; r < r1; ++r)
    Deq(reinterpret_cast<const Block*>(t.data.data() + r * row_bytes), out + (r - r0) * t.cols, t.cols);
}

// q8_0 has no imatrix path (ggml ignores quant_weights for it); the registry never passes one.
void q8_0_imatrix_unused(const float* x, BlockQ8_0* y, int64_t k, const float*) { quantize_row_q8_0_ref(x, y, k); }
void iq4_nl_plain(const float* x, BlockIQ4_NL* y, int64_t k) { quantize_row_iq4_nl(x, y, k, nullptr, 7); }
void iq4_nl_imatrix(const float* x, BlockIQ4_NL* y, int64_t k, const float* qw) {
  quantize_row_iq4_nl(x, y, k, qw, 7);
}

}  // namespace

#define G4U_DEFINE_GGML_CODEC(type, Block, Ref, Imat, Deq)                                              \
  void encode_##type(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix, \
                     int threads, QuantizedTensor& out) {                                                \
    encode_rows<Block, Ref, Imat>(s, w, rows, cols, imatrix, threads, out);                              \
  }                                                                                                      \
  void decode_##type(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out) {                    \
    decode_rows<Block, Deq>(t, r0, r1, out);                                                             \
  }

G4U_DEFINE_GGML_CODEC(q4_0, BlockQ4_0, quantize_row_q4_0_ref, quantize_row_q4_0_imatrix, dequantize_row_q4_0)
G4U_DEFINE_GGML_CODEC(q4_1, BlockQ4_1, quantize_row_q4_1_ref, quantize_row_q4_1_imatrix, dequantize_row_q4_1)
G4U_DEFINE_GGML_CODEC(q8_0, BlockQ8_0, quantize_row_q8_0_ref, q8_0_imatrix_unused, dequantize_row_q8_0)
G4U_DEFINE_GGML_CODEC(q4_K, BlockQ4_K, quantize_row_q4_K_ref, quantize_row_q4_K_imatrix, dequantize_row_q4_K)
G4U_DEFINE_GGML_CODEC(q6_K, BlockQ6_K, quantize_row_q6_K_ref, quantize_row_q6_K_imatrix, dequantize_row_q6_K)
G4U_DEFINE_GGML_CODEC(iq4_nl, BlockIQ4_NL, iq4_nl_plain, iq4_nl_imatrix, dequantize_row_iq4_nl)
#undef G4U_DEFINE_GGML_CODEC

StorageSizes storage_ggml(const SchemeTraits& s, int64_t rows, int64_t cols) {
  StorageSizes z;
  z.data = rows * (cols / s.block) * s.bytes_per_block;
  return z;
}

ByteAccounting accounting_ggml(const SchemeTraits& s, int64_t rows, int64_t cols) {
  const int64_t nb = rows * (cols / s.block);
  ByteAccounting a;
  switch (s.kernel) {
    case KernelKind::kQ4_0:  // d + 16 code bytes
      a.codes = 16 * nb, a.scales = 2 * nb;
      break;
    case KernelKind::kQ4_1:  // d, m + 16 code bytes
      a.codes = 16 * nb, a.scales = 2 * nb, a.zeros_mins = 2 * nb;
      break;
    case KernelKind::kQ8_0:  // d + 32 code bytes
      a.codes = 32 * nb, a.scales = 2 * nb;
      break;
    case KernelKind::kQ4_K:  // d + 8 x 6-bit scales | dmin + 8 x 6-bit mins | 128 code bytes
      a.codes = 128 * nb, a.scales = 8 * nb, a.zeros_mins = 8 * nb;
      break;
    case KernelKind::kQ6_K:  // ql + qh | 16 int8 scales + d
      a.codes = 192 * nb, a.scales = 18 * nb;
      break;
    default:  // iq4_nl: d + 16 code bytes; the 16-entry table is fixed by the format
      a.codes = 16 * nb, a.scales = 2 * nb;
      break;
  }
  return a;
}

}  // namespace g4u::quant::detail
