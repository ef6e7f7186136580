// HQQ, half-quadratic quantization without calibration (shared/docs/quant-and-mtp.md §2.12),
// 4-bit, groups of g consecutive weights along a row (HQQ axis=1; g = 64 by default), following
// mobiusml/hqq's Quantizer with optimize_weights_proximal_legacy, computed in fp32:
//  * init per group: s = 15 / (max - min) (an inverse scale; 1 where max - min <= 1e-4; at most
//    2e4), z = round(-min * s) (round_zero, the 4-bit default);
//  * up to 20 iterations over the whole tensor, with beta = 10, kappa = 1.01, p = 0.7:
//      q = clamp(round(W s + z), 0, 15); W_r = (q - z) / s; W_e = shrink_p(W - W_r, beta);
//      z <- mean_group(q - (W - W_e) s); beta <- kappa beta;
//      error = mean |W - W_r| over the tensor; stop as soon as it does not improve (the zero
//      updated in that last iteration is kept, as in the reference);
//    shrink_p(x, beta) = sign(x) max(0, |x| - |x|^(p-1) / beta);
//  * final q = clamp(round(W s + z), 0, 15); stored scale = fp16(1 / s), zero = fp16(z)
//    (fractional). Dequant w^ = (q - z) * scale with the stored fp16 values.
// The tensor-wide mean is accumulated per row in double and summed in row order, so the result
// does not depend on the thread count.
#include "quant/formats/scheme_impl.h"
#include "quant/kernels/parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace g4u::quant::detail {
namespace {

constexpr float kQmax = 15.f;
constexpr float kLpNorm = 0.7f;
constexpr double kBeta0 = 10.0, kKappa = 1.01;
constexpr int kIters = 20;

inline float quant_code(float w, float s, float z) {
  return std::clamp(std::nearbyint(w * s + z), 0.f, kQmax);
}

}  // namespace

void encode_hqq(const SchemeTraits& sch, const float* w, int64_t rows, int64_t cols, const float*, int threads,
                QuantizedTensor& out) {
  const int64_t g = sch.group_size(cols), groups_per_row = cols / g, groups = rows * groups_per_row;
  std::vector<float> inv_scale(static_cast<size_t>(groups)), zero(static_cast<size_t>(groups));
  for (int64_t gi = 0; gi < groups; ++gi) {
    const float* v = w + gi * g;  // rows are contiguous, so group gi starts at gi * g
    float lo = v[0], hi = v[0];
    for (int64_t i = 1; i < g; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
    const float range = hi - lo;
    const float s = range <= 1e-4f ? 1.f : std::min(kQmax / range, 2e4f);
    inv_scale[gi] = s;
    zero[gi] = std::nearbyint(-lo * s);
  }

  std::vector<double> row_err(static_cast<size_t>(rows));
  double beta = kBeta0;
  float best_error = 1e4f;
  for (int it = 0; it < kIters; ++it) {
    const float inv_beta = static_cast<float>(1.0 / beta);
    parallel_for(rows, threads, [&](int64_t r) {
      double err = 0;
      for (int64_t gr = 0; gr < groups_per_row; ++gr) {
        const int64_t gi = r * groups_per_row + gr;
        const float* v = w + gi * g;
        const float s = inv_scale[gi], z = zero[gi];
        float zsum = 0.f;
        for (int64_t i = 0; i < g; ++i) {
          const float q = quant_code(v[i], s, z);
          const float wr = (q - z) / s;
          const float e = v[i] - wr;
          const float ae = std::fabs(e);
          const float shrunk = std::max(0.f, ae - inv_beta * std::pow(ae, kLpNorm - 1.f));
          const float we = e > 0.f ? shrunk : (e < 0.f ? -shrunk : 0.f);
          zsum += q - (v[i] - we) * s;
          err += ae;
        }
        zero[gi] = zsum / static_cast<float>(g);
      }
      row_err[static_cast<size_t>(r)] = err;
    });
    beta *= kKappa;
    double total = 0;
    for (double e : row_err) total += e;
    const float current = static_cast<float>(total / static_cast<double>(rows * cols));
    if (current < best_error) best_error = current;
    else break;
  }

  const StorageSizes sz = storage_planar(sch, rows, cols);
  out.data.assign(static_cast<size_t>(sz.data), 0);
  out.scales.assign(static_cast<size_t>(sz.scales), 0);
  out.zeros.assign(static_cast<size_t>(sz.zeros), 0);
  parallel_for(rows, threads, [&](int64_t r) {
    std::vector<uint8_t> codes(static_cast<size_t>(cols));
    for (int64_t gr = 0; gr < groups_per_row; ++gr) {
      const int64_t gi = r * groups_per_row + gr;
      const float* v = w + gi * g;
      for (int64_t i = 0; i < g; ++i)
        codes[static_cast<size_t>(gr * g + i)] = static_cast<uint8_t>(quant_code(v[i], inv_scale[gi], zero[gi]));
      store_u16(out.scales.mutable_data() + 2 * gi, fp32_to_fp16(1.f / inv_scale[gi]));
      store_u16(out.zeros.mutable_data() + 2 * gi, fp32_to_fp16(zero[gi]));
    }
    pack_codes_q4_0_order(codes.data(), cols, out.data.mutable_data() + r * (cols / 2));
  });
}

}  // namespace g4u::quant::detail
