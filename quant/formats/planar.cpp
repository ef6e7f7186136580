// Shared pieces of the planar 4-bit schemes (rtn4_*, hqq*): storage sizes, byte accounting and
// the decoder. Layout: see quant/formats/quantized_tensor.h.
#include "quant/formats/scheme_impl.h"

namespace g4u::quant::detail {

StorageSizes storage_planar(const SchemeTraits& s, int64_t rows, int64_t cols) {
  const int64_t groups = rows * (cols / s.group_size(cols));
  StorageSizes z;
  z.data = rows * cols / 2;
  z.scales = 2 * groups;
  if (s.kernel == KernelKind::kPlanarIntZero) z.zeros = (groups + 1) / 2;
  else if (s.kernel == KernelKind::kPlanarFp16Zero) z.zeros = 2 * groups;
  return z;
}

ByteAccounting accounting_planar(const SchemeTraits& s, int64_t rows, int64_t cols) {
  const StorageSizes z = storage_planar(s, rows, cols);
  ByteAccounting a;
  a.codes = z.data;
  a.scales = z.scales;
  a.zeros_mins = z.zeros;
  return a;
}

void decode_planar(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out) {
  const int64_t cols = t.cols, g = t.scheme->group_size(cols), groups = cols / g;
  const KernelKind kind = t.scheme->kernel;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = t.data.data() + r * (cols / 2);
    float* o = out + (r - r0) * cols;
    for (int64_t gr = 0; gr < groups; ++gr) {
      const int64_t gi = r * groups + gr;
      const float s = fp16_to_fp32(load_u16(t.scales.data() + 2 * gi));
      if (kind == KernelKind::kPlanarFp16Zero) {  // hqq: (q - z) * scale, z fractional
        const float z = fp16_to_fp32(load_u16(t.zeros.data() + 2 * gi));
        for (int64_t c = gr * g; c < (gr + 1) * g; ++c) o[c] = (static_cast<float>(code_q4_0_order(row, c)) - z) * s;
      } else {
        const int z = kind == KernelKind::kPlanarIntZero ? zero_nibble(t.zeros.data(), gi) : 8;
        for (int64_t c = gr * g; c < (gr + 1) * g; ++c) o[c] = s * static_cast<float>(code_q4_0_order(row, c) - z);
      }
    }
  }
}

}  // namespace g4u::quant::detail
