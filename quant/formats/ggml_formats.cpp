// Reference encoders/decoders of the ggml block formats. Written from shared/docs/quant-and-mtp.md
// §2.2-2.7; details the doc leaves open were checked against ggml's ggml-quants.c (facts only):
//  * every float expression keeps ggml's evaluation order (products left to right, no FMA), so
//    that the encoders produce the same bytes as ggml's C reference built without FMA contraction;
//  * Q4_K/Q6_K sub-blocks whose 6-/8-bit scale rounds to 0 keep the codes of the first fit;
//  * Q6_K's imatrix path passes the raw imatrix values as weights (no sqrt(sigma^2 + x^2) factor);
//  * IQ4_NL's llama-quantize path (ntry = 7) starts from d = max/127 (the first guess maps the
//    extreme element to the positive end), then searches d = max/(t - 127), t = -7..7.
#include "quant/formats/ggml_formats.h"

#include "quant/formats/fp16.h"
#include "quant/formats/rounding.h"
#include "quant/kernels/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace g4u::quant {

const int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

namespace {

constexpr float kGroupMaxEps = 1e-15f;

}  // namespace

// make_qx_quants with rmse_type 1: signed codes l in [-nmax, nmax-1] stored as l + nmax, weights
// qw (or x^2), search iscale = -(nmax + 0.1 t)/max for t = -9..9 maximising (sum w x l)^2 / sum w l^2.
// Returns the least-squares scale of the winning candidate.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  auto weight = [&](int i) { return qw ? qw[i] : x[i] * x[i]; };
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    float w = weight(i);
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      float w = weight(i);
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// make_qkx2_quants / make_qkx3_quants (identical when weights are given and use_mad is false):
// unsigned codes 0..nmax with an offset min <= 0, weighted least squares over a grid of
// iscale = (rmin + rdelta * t + nmax) / (max - min), t = 0..nstep. Returns the scale; *the_min is
// -min (>= 0).
float make_qkx_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                      uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *the_min = -min;
    return 0.f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_error += weights[i] * (diff * diff);
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + fnmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      float w = weights[i];
      float fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        cur_error += weights[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        std::memcpy(L, Laux, static_cast<size_t>(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

namespace {

// make_qp_quants: non-negative values x quantized to 0..nmax with one scale, weighted MSE over
// iscale = (nmax + 0.1 t)/max, t = -4..4, then up to 5 rounds of per-element coordinate descent.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    float diff = x[i] - scale * static_cast<float>(L[i]);
    float w = quant_weights[i];
    best_mse += w * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    float iscale_is = (0.1f * static_cast<float>(is) + fnmax) / max;
    float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      int l = std::min(nmax, nearest_int(iscale_is * x[i]));
      float diff = x[i] - scale_is * static_cast<float>(l);
      float w = quant_weights[i];
      mse += w * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = std::min(nmax, nearest_int(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    float w = quant_weights[i];
    float fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      float w = quant_weights[i];
      float li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      float sl2 = suml2 - w * li * li;
      if (slx > 0 && sl2 > 0) {
        int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
        if (new_l != L[i]) {
          float fl = static_cast<float>(new_l);
          slx += w * x[i] * fl;
          sl2 += w * fl * fl;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Packs 8 six-bit (scale, min) pairs into the 12 Q4_K scale bytes (the doc's §2.4 rule).
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* q) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      q[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Q4_K step 3: re-quantize against the stored fp16 d/dmin and 6-bit scales; pack the nibbles.
void finish_q4_K(const float* x, uint8_t* L, BlockQ4_K& y) {
  const float d_all = fp16_to_fp32(y.d), dmin_all = fp16_to_fp32(y.dmin);
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, y.scales, &sc, &m);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.f) continue;
    const float dm = dmin_all * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) {
      int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(15, l)));
    }
  }
  uint8_t* q = y.qs;
  for (int j = 0; j < kQK_K; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

// Q6_K after the 16 sub-block scales are known: 8-bit scales, re-quantization, packing.
void finish_q6_K(const float* x, const float* scales, float max_scale, float max_abs_scale, int8_t* L,
                 BlockQ6_K& y) {
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(&y, 0, sizeof y);
    y.d = fp32_to_fp16(0.f);
    return;
  }
  const float iscale = -128.f / max_scale;
  y.d = fp32_to_fp16(1 / iscale);
  for (int ib = 0; ib < kQK_K / 16; ++ib)
    y.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  const float d_all = fp16_to_fp32(y.d);
  for (int j = 0; j < kQK_K / 16; ++j) {
    const float d = d_all * static_cast<float>(y.scales[j]);
    if (d == 0.f) continue;
    for (int ii = 0; ii < 16; ++ii) {
      int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
    }
  }
  uint8_t* ql = y.ql;
  uint8_t* qh = y.qh;
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
      const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
      ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
      qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                   ((L[j + l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

// Σ x[j]² in order, in float (as ggml accumulates it).
float sum_of_squares(const float* x, int64_t n) {
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += x[j] * x[j];
  return sum;
}

// ggml's importance weights of a block: qw[j] * sqrt(sigma2 + x[j]²).
void importance_weights(const float* x, const float* qw, float sigma2, int n, float* weight) {
  for (int j = 0; j < n; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

void quantize_row_q6_K_impl(const float* x, BlockQ6_K* y, int64_t k, const float* qw) {
  const int64_t nb = k / kQK_K;
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i) {
    float max_scale = 0, max_abs_scale = 0;
    if (cpu_has_avx2()) {  // eight sub-blocks per call, the same bits (qkx_avx2.cpp)
      for (int h = 0; h < 2; ++h)
        make_qx_quants_x8_avx2(32, x + 128 * h, qw ? qw + kQK_K * i + 128 * h : nullptr, L + 128 * h, scales + 8 * h);
    } else {
      for (int ib = 0; ib < kQK_K / 16; ++ib)
        scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + kQK_K * i + 16 * ib : nullptr);
    }
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = scales[ib];
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    finish_q6_K(x, scales, max_scale, max_abs_scale, L, y[i]);
    x += kQK_K;
  }
}

}  // namespace

int nearest_int(float v) { return round_half_even(v); }

int iq4nl_best_index(float x) {
  const int8_t* val = kIq4nlValues;
  const int n = 16;
  if (x <= val[0]) return 0;
  if (x >= val[n - 1]) return n - 1;
  int ml = 0, mu = n - 1;
  while (mu - ml > 1) {
    int mav = (ml + mu) / 2;
    if (x < val[mav]) mu = mav;
    else ml = mav;
  }
  return x - static_cast<float>(val[mu - 1]) < static_cast<float>(val[mu]) - x ? mu - 1 : mu;
}

void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// ---- Q4_0 ---------------------------------------------------------------------------------------

void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k) {
  const int64_t nb = k / kQK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK4_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      // truncation of v + 8.5 (round half up), codes computed with the fp32 1/d
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>(xb[j] * id + 8.5f)));
      const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>(xb[kQK4_0 / 2 + j] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

void quantize_row_q4_0_imatrix(const float* x, BlockQ4_0* y, int64_t n_per_row, const float* qw) {
  const float sigma2 = sum_of_squares(x, n_per_row) / static_cast<float>(n_per_row);
  float weight[kQK4_0];
  int8_t L[kQK4_0];
  const int64_t nb = n_per_row / kQK4_0;
  for (int64_t ib = 0; ib < nb; ++ib) {
    const float* xb = x + kQK4_0 * ib;
    const float* w = qw + kQK4_0 * ib;
    importance_weights(xb, w, sigma2, kQK4_0, weight);
    const float d = make_qx_quants(kQK4_0, 8, xb, L, weight);
    y[ib].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t k) {
  const int64_t nb = k / kQK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[i * kQK4_0 + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[i * kQK4_0 + j + 16] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// ---- Q4_1 ---------------------------------------------------------------------------------------

void quantize_row_q4_1_ref(const float* x, BlockQ4_1* y, int64_t k) {
  const int64_t nb = k / kQK4_1;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK4_1;
    float min = xb[0], max = xb[0];
    for (int j = 1; j < kQK4_1; ++j) {
      if (xb[j] < min) min = xb[j];
      if (xb[j] > max) max = xb[j];
    }
    const float d = (max - min) / 15;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>((xb[j] - min) * id + 0.5f)));
      const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>((xb[16 + j] - min) * id + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

void quantize_row_q4_1_imatrix(const float* x, BlockQ4_1* y, int64_t n_per_row, const float* qw) {
  const float sigma2 = sum_of_squares(x, n_per_row) / static_cast<float>(n_per_row);
  float weight[kQK4_1];
  uint8_t L[kQK4_1], Laux[kQK4_1];
  const int64_t nb = n_per_row / kQK4_1;
  for (int64_t ib = 0; ib < nb; ++ib) {
    const float* xb = x + kQK4_1 * ib;
    const float* w = qw + kQK4_1 * ib;
    importance_weights(xb, w, sigma2, kQK4_1, weight);
    float min;
    const float d = make_qkx_quants(kQK4_1, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36);
    y[ib].d = fp32_to_fp16(d);
    y[ib].m = fp32_to_fp16(-min);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t k) {
  const int64_t nb = k / kQK4_1;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[i * kQK4_1 + j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[i * kQK4_1 + j + 16] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

// ---- Q8_0 ---------------------------------------------------------------------------------------

void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k) {
  const int64_t nb = k / kQK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(xb[j] * id));  // half away from 0
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t k) {
  const int64_t nb = k / kQK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[i * kQK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

// ---- Q4_K ---------------------------------------------------------------------------------------

// make_qkx_quants of a Q4_K super-block's eight 32-element sub-blocks (weights [8][32]), eight
// lanes at a time where the CPU has AVX2 (the same bits: qkx_avx2.cpp).
static void fit_q4_K_subblocks(const float* x, const float* weights, uint8_t* L, float* scales, float* mins, float rmin,
                        float rdelta, int nstep) {
  if (cpu_has_avx2()) {
    make_qkx_quants_x8_avx2(15, x, weights, L, scales, mins, rmin, rdelta, nstep);
    return;
  }
  uint8_t Laux[32];
  for (int j = 0; j < kQK_K / 32; ++j)
    scales[j] = make_qkx_quants(32, 15, x + 32 * j, weights + 32 * j, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep);
}

void quantize_row_q4_K_ref(const float* x, BlockQ4_K* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  uint8_t L[kQK_K];
  float weights[kQK_K], mins[kQK_K / 32], scales[kQK_K / 32];
  for (int64_t i = 0; i < nb; ++i) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
      const float av_x = std::sqrt(sum_of_squares(x + 32 * j, 32) / 32);
      for (int l = 0; l < 32; ++l) weights[32 * j + l] = av_x + std::fabs(x[32 * j + l]);
    }
    fit_q4_K_subblocks(x, weights, L, scales, mins, -1.f, 0.1f, 20);
    for (int j = 0; j < kQK_K / 32; ++j) {
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < kQK_K / 32; ++j) {
      // ggml stores nearest_int's result in a uint8_t before clamping to 63
      ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_scale_min_k4(ls, lm, y[i].scales);
    y[i].d = fp32_to_fp16(max_scale / 63.f);
    y[i].dmin = fp32_to_fp16(max_min / 63.f);
    finish_q4_K(x, L, y[i]);
    x += kQK_K;
  }
}

void quantize_row_q4_K_imatrix(const float* x, BlockQ4_K* y, int64_t n_per_row, const float* qw) {
  const int64_t nb = n_per_row / kQK_K;
  uint8_t L[kQK_K], Ls[kQK_K / 32], Lm[kQK_K / 32];
  float weights[kQK_K], sw[kQK_K / 32], mins[kQK_K / 32], scales[kQK_K / 32];
  for (int64_t i = 0; i < nb; ++i) {
    const float sigma2 = 2 * sum_of_squares(x, kQK_K) / kQK_K;
    for (int j = 0; j < kQK_K / 32; ++j) {
      const float* w = qw + kQK_K * i + 32 * j;
      importance_weights(x + 32 * j, w, sigma2, 32, weights + 32 * j);
      float sumw = 0;
      for (int l = 0; l < 32; ++l) sumw += weights[32 * j + l];
      sw[j] = sumw;
    }
    fit_q4_K_subblocks(x, weights, L, scales, mins, -0.9f, 0.05f, 36);
    const float d_block = make_qp_quants(kQK_K / 32, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(kQK_K / 32, 63, mins, Lm, sw);
    pack_scale_min_k4(Ls, Lm, y[i].scales);
    y[i].d = fp32_to_fp16(d_block);
    y[i].dmin = fp32_to_fp16(m_block);
    finish_q4_K(x, L, y[i]);
    x += kQK_K;
  }
}

void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    for (int j = 0; j < kQK_K; j += 64) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = min * static_cast<float>(m);
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

// ---- Q6_K ---------------------------------------------------------------------------------------

void quantize_row_q6_K_ref(const float* x, BlockQ6_K* y, int64_t k) { quantize_row_q6_K_impl(x, y, k, nullptr); }

void quantize_row_q6_K_imatrix(const float* x, BlockQ6_K* y, int64_t n_per_row, const float* qw) {
  quantize_row_q6_K_impl(x, y, n_per_row, qw);
}

void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// ---- IQ4_NL -------------------------------------------------------------------------------------

void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n_per_row, const float* qw, int ntry) {
  const int64_t nb = n_per_row / kQK4_NL;
  const int8_t* values = kIq4nlValues;
  for (int64_t ib = 0; ib < nb; ++ib, x += kQK4_NL) {
    const float* w = qw ? qw + kQK4_NL * ib : nullptr;
    float sigma2 = sum_of_squares(x, kQK4_NL);
    sigma2 *= 2.f / kQK4_NL;
    float weight[kQK4_NL];
    uint8_t L[kQK4_NL] = {};
    if (w) importance_weights(x, w, sigma2, kQK4_NL, weight);
    else
      for (int j = 0; j < kQK4_NL; ++j) weight[j] = x[j] * x[j];
    float amax = 0, max = 0;
    for (int j = 0; j < kQK4_NL; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    float scale = 0.f;
    if (amax >= kGroupMaxEps) {
      float d = ntry > 0 ? -max / values[0] : max / values[0];
      float id = 1 / d;
      float sumqx = 0, sumq2 = 0;
      for (int j = 0; j < kQK4_NL; ++j) {
        const int l = iq4nl_best_index(id * x[j]);
        L[j] = static_cast<uint8_t>(l);
        const float q = values[l];
        sumqx += weight[j] * q * x[j];
        sumq2 += weight[j] * q * q;
      }
      d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
      float best = d * sumqx;
      for (int itry = -ntry; itry <= ntry; ++itry) {
        id = static_cast<float>(itry + values[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < kQK4_NL; ++j) {
          const float q = values[iq4nl_best_index(id * x[j])];
          sumqx += weight[j] * q * x[j];
          sumq2 += weight[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          d = sumqx / sumq2;
          best = d * sumqx;
        }
      }
      scale = d;
    }
    y[ib].d = fp32_to_fp16(scale);
    if (ntry > 0) {
      const float id = scale != 0.f ? 1 / scale : 0;
      for (int j = 0; j < kQK4_NL; ++j) L[j] = static_cast<uint8_t>(iq4nl_best_index(id * x[j]));
    }
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[16 + j] << 4));
  }
}

void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t k) {
  const int64_t nb = k / kQK4_NL;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * kQK4_NL + j] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] & 0xF]);
      y[i * kQK4_NL + j + 16] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] >> 4]);
    }
  }
}

}  // namespace g4u::quant
