// Round-to-nearest 4-bit baselines (shared/docs/quant-and-mtp.md §2.1), one fp16 scale per group
// of g weights along a row (g = 32, 64, 128, or the whole row: "pc", per channel).
//
//  rtn4_sym_*  (GPTQ-style sym, unsigned codes with fixed zero 8):
//      amax = max|w|, s = fp16(2 amax / 15), q = clamp(round(w / s) + 8, 0, 15), w^ = s (q - 8)
//  rtn4_asym_* (GPTQ/AWQ-checkpoint style: fp16 scale + 4-bit integer zero):
//      lo = min(min w, 0), hi = max(max w, 0) (the range always contains 0, as in GPTQ's quantizer),
//      s = fp16((hi - lo) / 15), z = clamp(round(-lo / s), 0, 15), q = clamp(round(w / s) + z, 0, 15),
//      w^ = s (q - z)
// round = half to even (torch.round). Codes are computed with the stored fp16 scale, so
// |w - w^| <= s/2 for every weight inside the representable range. An all-zero group stores s = 0
// and decodes to exact zeros (GPTQ would use the range [-1, 1] there: same result, zero error).
// bits/weight: sym 4 + 16/g (4.5 / 4.25 / 4.125), asym 4 + 20/g (4.625 / 4.3125 / 4.156).
#include "quant/formats/rounding.h"
#include "quant/formats/scheme_impl.h"
#include "quant/kernels/parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace g4u::quant::detail {
namespace {

// Quantizes one group; writes codes (0..15) and returns (fp16 scale bits, zero).
void rtn_group(const float* w, int64_t g, bool sym, uint8_t* codes, uint16_t* scale_bits, int* zero) {
  if (sym) {
    float amax = 0.f;
    for (int64_t i = 0; i < g; ++i) amax = std::max(amax, std::fabs(w[i]));
    *scale_bits = fp32_to_fp16(2.f * amax / 15.f);
    *zero = 8;
  } else {
    float lo = 0.f, hi = 0.f;
    for (int64_t i = 0; i < g; ++i) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
    *scale_bits = fp32_to_fp16((hi - lo) / 15.f);
    const float s = fp16_to_fp32(*scale_bits);
    *zero = s > 0.f ? std::clamp(round_half_even(-lo / s), 0, 15) : 0;
  }
  const float s = fp16_to_fp32(*scale_bits);
  for (int64_t i = 0; i < g; ++i)
    codes[i] = static_cast<uint8_t>(s > 0.f ? std::clamp(round_half_even(w[i] / s) + *zero, 0, 15) : *zero);
}

}  // namespace

void encode_rtn(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float*, int threads,
                QuantizedTensor& out) {
  const StorageSizes sz = storage_planar(s, rows, cols);
  const int64_t g = s.group_size(cols), groups = cols / g;
  out.data.assign(static_cast<size_t>(sz.data), 0);
  out.scales.assign(static_cast<size_t>(sz.scales), 0);
  std::vector<uint8_t> zeros(static_cast<size_t>(rows * groups), 0);
  parallel_for(rows, threads, [&](int64_t r) {
    std::vector<uint8_t> codes(static_cast<size_t>(cols));
    for (int64_t gr = 0; gr < groups; ++gr) {
      uint16_t sb;
      int z;
      rtn_group(w + r * cols + gr * g, g, s.symmetric, codes.data() + gr * g, &sb, &z);
      store_u16(out.scales.mutable_data() + 2 * (r * groups + gr), sb);
      zeros[static_cast<size_t>(r * groups + gr)] = static_cast<uint8_t>(z);
    }
    pack_codes_q4_0_order(codes.data(), cols, out.data.mutable_data() + r * (cols / 2));
  });
  out.zeros.assign(static_cast<size_t>(sz.zeros), 0);
  if (!s.symmetric)
    for (size_t i = 0; i < zeros.size(); ++i) out.zeros.mutable_data()[i / 2] |= static_cast<uint8_t>(zeros[i] << (4 * (i % 2)));
}

}  // namespace g4u::quant::detail
