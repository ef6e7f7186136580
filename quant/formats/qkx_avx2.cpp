// make_qkx_quants (ggml_formats.cpp) for the eight 32-element sub-blocks of a Q4_K super-block at
// once, one sub-block per 32-bit lane of an AVX2 register; make_qx_quants likewise for eight of a
// Q6_K super-block's sixteen 16-element sub-blocks. This file alone is compiled with -mavx2
// (quant/CMakeLists.txt); callers check cpu_has_avx2() first.
//
// Why: the grid search (21 or 37 candidate scales, each a rounding pass, three weighted sums and
// an error pass over 32 elements) was ~75 % of `g4u quantize --scheme q4_k_m` (Q6_K's 19 candidates
// most of the rest), and it is a chain of
// dependent scalar float additions that the compiler may not reorder. Eight sub-blocks side by side
// run the very same operations in the very same order in each lane: IEEE single-precision add,
// multiply, divide, min/max and round-to-nearest-even give the same bits in a lane as in a scalar
// register, and no multiply-add is fused (no -mfma here), so the codes, scales and minimums equal
// the scalar reference's bit for bit (tests/quant/ggml_formats_test.cpp compares them).
//
// Kept free of std templates and non-static inline functions (see quant/CMakeLists.txt).
#include "quant/formats/ggml_formats.h"

#include <immintrin.h>

namespace g4u::quant {

namespace {

// round half to even, then clamped to [0, nmax] (nearest_int + std::max(0, std::min(nmax, l)))
inline __m256 code_of(__m256 v, __m256 fnmax) {
  const __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm256_max_ps(_mm256_min_ps(r, fnmax), _mm256_setzero_ps());
}

}  // namespace

void make_qkx_quants_x8_avx2(int nmax, const float* x, const float* weights, uint8_t* L, float* scales,
                             float* the_mins, float rmin, float rdelta, int nstep) {
  // lane j = sub-block j: xt[i] holds element i of every sub-block
  const __m256i rows = _mm256_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224);
  __m256 xt[32], wt[32], best_l[32], l_aux[32];
  for (int i = 0; i < 32; ++i) {
    xt[i] = _mm256_i32gather_ps(x + i, rows, 4);
    wt[i] = _mm256_i32gather_ps(weights + i, rows, 4);
  }
  const __m256 zero = _mm256_setzero_ps(), fnmax = _mm256_set1_ps(static_cast<float>(nmax));
  __m256 mn = xt[0], mx = xt[0], sum_w = wt[0], sum_x = _mm256_mul_ps(wt[0], xt[0]);
  for (int i = 1; i < 32; ++i) {
    mn = _mm256_min_ps(xt[i], mn);  // x < min ? x : min
    mx = _mm256_max_ps(xt[i], mx);
    sum_w = _mm256_add_ps(sum_w, wt[i]);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wt[i], xt[i]));
  }
  mn = _mm256_blendv_ps(mn, zero, _mm256_cmp_ps(mn, zero, _CMP_GT_OQ));  // if (min > 0) min = 0
  const __m256 flat = _mm256_cmp_ps(mx, mn, _CMP_LE_OQ);                 // max <= min: all codes 0
  const __m256 flat_min = mn;

  __m256 iscale = _mm256_div_ps(fnmax, _mm256_sub_ps(mx, mn));
  __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.f), iscale);
  __m256 best_error = zero;
  for (int i = 0; i < 32; ++i) {
    best_l[i] = code_of(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], mn)), fnmax);
    const __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, best_l[i]), mn), xt[i]);
    best_error = _mm256_add_ps(best_error, _mm256_mul_ps(wt[i], _mm256_mul_ps(diff, diff)));
  }
  for (int is = 0; is <= nstep && nstep >= 1; ++is) {
    const __m256 num = _mm256_add_ps(
        _mm256_add_ps(_mm256_set1_ps(rmin), _mm256_mul_ps(_mm256_set1_ps(rdelta), _mm256_set1_ps(static_cast<float>(is)))),
        fnmax);
    iscale = _mm256_div_ps(num, _mm256_sub_ps(mx, mn));
    __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < 32; ++i) {
      l_aux[i] = code_of(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], mn)), fnmax);
      const __m256 wl = _mm256_mul_ps(wt[i], l_aux[i]);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l_aux[i]));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
    }
    const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    const __m256 solvable = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
    if (_mm256_movemask_ps(solvable) == 0) continue;
    __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
    __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
    const __m256 positive_min = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
    this_min = _mm256_blendv_ps(this_min, zero, positive_min);
    this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), positive_min);
    __m256 cur_error = zero;
    for (int i = 0; i < 32; ++i) {
      const __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, l_aux[i]), this_min), xt[i]);
      cur_error = _mm256_add_ps(cur_error, _mm256_mul_ps(wt[i], _mm256_mul_ps(diff, diff)));
    }
    const __m256 better = _mm256_and_ps(solvable, _mm256_cmp_ps(cur_error, best_error, _CMP_LT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    for (int i = 0; i < 32; ++i) best_l[i] = _mm256_blendv_ps(best_l[i], l_aux[i], better);
    best_error = _mm256_blendv_ps(best_error, cur_error, better);
    scale = _mm256_blendv_ps(scale, this_scale, better);
    mn = _mm256_blendv_ps(mn, this_min, better);
  }
  scale = _mm256_blendv_ps(scale, zero, flat);
  mn = _mm256_blendv_ps(mn, flat_min, flat);
  const __m256 neg_min = _mm256_xor_ps(mn, _mm256_set1_ps(-0.f));
  _mm256_storeu_ps(scales, scale);
  _mm256_storeu_ps(the_mins, neg_min);
  alignas(32) int32_t codes[32][8];
  for (int i = 0; i < 32; ++i)
    _mm256_store_si256(reinterpret_cast<__m256i*>(codes[i]),
                       _mm256_andnot_si256(_mm256_castps_si256(flat), _mm256_cvtps_epi32(best_l[i])));
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i) L[32 * j + i] = static_cast<uint8_t>(codes[i][j]);
}

void make_qx_quants_x8_avx2(int nmax, const float* x, const float* qw, int8_t* L, float* scales) {
  // lane j = sub-block j of 16 elements
  const __m256i rows = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
  __m256 xt[16], wt[16], best_l[16];
  for (int i = 0; i < 16; ++i) {
    xt[i] = _mm256_i32gather_ps(x + i, rows, 4);
    wt[i] = qw ? _mm256_i32gather_ps(qw + i, rows, 4) : _mm256_mul_ps(xt[i], xt[i]);
  }
  const __m256 zero = _mm256_setzero_ps(), abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 amax = zero, mx = zero;
  for (int i = 0; i < 16; ++i) {  // the first element of largest magnitude, with its sign
    const __m256 ax = _mm256_and_ps(xt[i], abs_mask);
    const __m256 larger = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
    amax = _mm256_blendv_ps(amax, ax, larger);
    mx = _mm256_blendv_ps(mx, xt[i], larger);
  }
  const __m256 flat = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_LT_OQ);  // kGroupMaxEps: all codes 0
  const __m256 lo = _mm256_set1_ps(static_cast<float>(-nmax)), hi = _mm256_set1_ps(static_cast<float>(nmax - 1));
  // l = clamp(nearest_int(iscale x), -nmax, nmax - 1); the sums of w x l and w l^2
  auto fit = [&](__m256 iscale, __m256* l, __m256* sumlx, __m256* suml2) {
    *sumlx = zero;
    *suml2 = zero;
    for (int i = 0; i < 16; ++i) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(iscale, xt[i]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      l[i] = _mm256_max_ps(_mm256_min_ps(r, hi), lo);
      *sumlx = _mm256_add_ps(*sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), l[i]));
      *suml2 = _mm256_add_ps(*suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], l[i]), l[i]));
    }
  };
  __m256 sumlx, suml2;
  fit(_mm256_div_ps(lo, mx), best_l, &sumlx, &suml2);
  __m256 scale = _mm256_blendv_ps(_mm256_div_ps(sumlx, suml2), zero, _mm256_cmp_ps(suml2, zero, _CMP_EQ_OQ));
  __m256 best = _mm256_mul_ps(scale, sumlx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const __m256 num = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(nmax)),
                                     _mm256_mul_ps(_mm256_set1_ps(0.1f), _mm256_set1_ps(static_cast<float>(is))));
    const __m256 iscale = _mm256_div_ps(_mm256_xor_ps(num, _mm256_set1_ps(-0.f)), mx);
    __m256 l[16];
    fit(iscale, l, &sumlx, &suml2);
    const __m256 better = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                        _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    for (int i = 0; i < 16; ++i) best_l[i] = _mm256_blendv_ps(best_l[i], l[i], better);
    scale = _mm256_blendv_ps(scale, _mm256_div_ps(sumlx, suml2), better);
    best = _mm256_blendv_ps(best, _mm256_mul_ps(scale, sumlx), better);
  }
  _mm256_storeu_ps(scales, _mm256_blendv_ps(scale, zero, flat));
  alignas(32) int32_t codes[16][8];
  const __m256i offset = _mm256_set1_epi32(nmax);
  for (int i = 0; i < 16; ++i)
    _mm256_store_si256(reinterpret_cast<__m256i*>(codes[i]),
                       _mm256_andnot_si256(_mm256_castps_si256(flat), _mm256_add_epi32(_mm256_cvtps_epi32(best_l[i]), offset)));
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 16; ++i) L[16 * j + i] = static_cast<int8_t>(codes[i][j]);
}

}  // namespace g4u::quant
