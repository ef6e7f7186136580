// AVX2 + FMA + F16C row-dot kernels. This file alone is compiled with -mavx2 -mfma -mf16c
// (quant/CMakeLists.txt); the dispatcher calls it only after cpu_has_avx2(). Same algorithm as
// kernels_scalar.cpp: per 32-block integer dot products of 4/6/8-bit codes with 8-bit activations
// (_mm256_maddubs_epi16 + _mm256_madd_epi16, exact in int32), scaled and accumulated in fp32.
#include "quant/formats/ggml_formats.h"
#include "quant/kernels/kernel_impl.h"
#include "quant/formats/scheme_impl.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace g4u::quant::detail {
namespace {

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of Q4_0-order nibbles -> 32 codes (bytes) aligned with elements 0..31.
// (broadcast the 16 bytes to both lanes, shift the high lane right by 4, mask: 3 uops)
inline __m256i unpack_nibbles_16(const uint8_t* p) {
  const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i shifted = _mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0));
  return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
}

inline __m256i load_act(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Unsigned codes (0..127) x signed activations -> 8 int32 partial sums.
inline __m256 dot_u8s8(__m256i q, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(q, x);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// Signed codes x signed activations via |q| and sign-adjusted activations.
inline __m256i abs_sign_dot16(__m256i q, __m256i x) {
  return _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- Q4_0 / Q4_1 ----
// Eight blocks per step: their fp16 scales (and Q4_1 minima) are gathered into one vector, so the
// scale products and the offset term (Q4_0: -8 d sum(x), Q4_1: m sum(x)) cost one vector op per
// eight blocks; the per-block work is the nibble unpack, the integer dot and one FMA.

template <int kOffset>
inline __m256 gather8_fp16(const uint8_t* first_block, int64_t stride) {
  __m128i v = _mm_setzero_si128();
  uint16_t h[8];
  for (int k = 0; k < 8; ++k) std::memcpy(&h[k], first_block + k * stride + kOffset, 2);
  v = _mm_insert_epi16(v, h[0], 0);
  v = _mm_insert_epi16(v, h[1], 1);
  v = _mm_insert_epi16(v, h[2], 2);
  v = _mm_insert_epi16(v, h[3], 3);
  v = _mm_insert_epi16(v, h[4], 4);
  v = _mm_insert_epi16(v, h[5], 5);
  v = _mm_insert_epi16(v, h[6], 6);
  v = _mm_insert_epi16(v, h[7], 7);
  return _mm256_cvtph_ps(v);
}

template <int NA, bool kMin>
void dot_q4_legacy_n(const uint8_t* row, int64_t nb, const ActRef* acts, float* out) {
  constexpr int64_t kBytes = kMin ? sizeof(BlockQ4_1) : sizeof(BlockQ4_0);
  constexpr int kQsOffset = kMin ? 4 : 2;
  __m256 acc[NA], offv[NA];
  float off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), offv[a] = _mm256_setzero_ps(), off[a] = 0.f;
  alignas(32) float scale[NA][8];
  int64_t ib = 0;
  for (; ib + 8 <= nb; ib += 8) {
    const uint8_t* b0 = row + ib * kBytes;
    const __m256 d8 = gather8_fp16<0>(b0, kBytes);
    const __m256 o8 = kMin ? gather8_fp16<2>(b0, kBytes) : d8;
    for (int a = 0; a < NA; ++a) {
      _mm256_store_ps(scale[a], _mm256_mul_ps(d8, _mm256_loadu_ps(acts[a].d + ib)));
      offv[a] = _mm256_fmadd_ps(o8, _mm256_loadu_ps(acts[a].s + ib), offv[a]);
    }
    for (int k = 0; k < 8; k += 2) {
      const __m256i q0 = unpack_nibbles_16(b0 + k * kBytes + kQsOffset);
      const __m256i q1 = unpack_nibbles_16(b0 + (k + 1) * kBytes + kQsOffset);
      for (int a = 0; a < NA; ++a) {
        const int8_t* x = acts[a].q + 32 * (ib + k);
        const __m256 p0 = dot_u8s8(q0, load_act(x));
        const __m256 p1 = dot_u8s8(q1, load_act(x + 32));
        const __m256 t = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[a][k]), p0,
                                         _mm256_mul_ps(_mm256_broadcast_ss(&scale[a][k + 1]), p1));
        acc[a] = _mm256_add_ps(acc[a], t);
      }
    }
  }
  for (; ib < nb; ++ib) {
    const uint8_t* b0 = row + ib * kBytes;
    uint16_t hd, hm;
    std::memcpy(&hd, b0, 2);
    std::memcpy(&hm, b0 + 2, 2);
    const float d0 = half_to_float(hd), o0 = kMin ? half_to_float(hm) : d0;
    const __m256i q0 = unpack_nibbles_16(b0 + kQsOffset);
    for (int a = 0; a < NA; ++a) {
      const __m256 p0 = dot_u8s8(q0, load_act(acts[a].q + 32 * ib));
      acc[a] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * acts[a].d[ib]), p0, acc[a]);
      off[a] += o0 * acts[a].s[ib];
    }
  }
  for (int a = 0; a < NA; ++a) {
    const float o = hsum(offv[a]) + off[a];
    out[a] = kMin ? hsum(acc[a]) + o : hsum(acc[a]) - 8 * o;
  }
}

// ---- interleaved Q4_0 / Q4_K (quant/formats/interleave.h) ----
// Eight 32-blocks at a time: lane b (4 bytes) of every code chunk and activation vector belongs to
// block b, so the int16 sums of the eight maddubs products collect block b's dot in lane b (each
// int16 at most 8 * 2 * 15 * 127 = 30480: no overflow). One madd to int32, one conversion and
// one FMA with the eight block scales then finish all eight blocks.
template <int NA>
inline void dot8_interleaved_sums(const uint8_t* codes, const ActRef* acts, int64_t act_offset, __m256i (&sum16)[NA]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int a = 0; a < NA; ++a) sum16[a] = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * j));
    const __m256i lo = _mm256_and_si256(raw, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    for (int a = 0; a < NA; ++a) {
      const int8_t* x = acts[a].q + act_offset + 64 * j;
      const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, load_act(x)), _mm256_maddubs_epi16(hi, load_act(x + 32)));
      sum16[a] = _mm256_add_epi16(sum16[a], p);
    }
  }
}

template <int NA>
inline void dot8_interleaved(const uint8_t* codes, const ActRef* acts, int64_t act_offset, __m256 (&dots)[NA]) {
  __m256i sum16[NA];
  dot8_interleaved_sums<NA>(codes, acts, act_offset, sum16);
  for (int a = 0; a < NA; ++a) dots[a] = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum16[a], _mm256_set1_epi16(1)));
}

template <int NA>
void dot_q4_0_interleaved_n(const uint8_t* row, int64_t nb, const ActRef* acts, float* out) {
  constexpr int64_t kGroupBytes = 8 * sizeof(BlockQ4_0);
  const int64_t groups = nb / 8;
  __m256 acc[NA], offv[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), offv[a] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* p = row + g * kGroupBytes;
    const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __m256 dots[NA];
    dot8_interleaved<NA>(p + 16, acts, 256 * g, dots);
    for (int a = 0; a < NA; ++a) {
      acc[a] = _mm256_fmadd_ps(dots[a], _mm256_mul_ps(d8, _mm256_loadu_ps(acts[a].d + 8 * g)), acc[a]);
      offv[a] = _mm256_fmadd_ps(d8, _mm256_loadu_ps(acts[a].s + 8 * g), offv[a]);
    }
  }
  float tail[NA] = {};
  if (groups * 8 < nb) {  // the last nb % 8 blocks stay in storage order
    ActRef rest[NA];
    for (int a = 0; a < NA; ++a) rest[a] = {acts[a].q + 256 * groups, acts[a].d + 8 * groups, acts[a].s + 8 * groups, nullptr};
    dot_q4_legacy_n<NA, false>(row + groups * kGroupBytes, nb - groups * 8, rest, tail);
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(_mm256_fnmadd_ps(_mm256_set1_ps(8.f), offv[a], acc[a])) + tail[a];
}

// ---- Q8_0 ----

template <int NA>
void dot_q8_0_n(const uint8_t* row, int64_t nb, const ActRef* acts, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
  __m256 acc[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  int64_t ib = 0;
  for (; ib + 1 < nb; ib += 2) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[ib].qs));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[ib + 1].qs));
    const float d0 = half_to_float(blocks[ib].d), d1 = half_to_float(blocks[ib + 1].d);
    for (int a = 0; a < NA; ++a) {
      const __m256 p0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(abs_sign_dot16(w0, load_act(acts[a].q + 32 * ib)), ones));
      const __m256 p1 =
          _mm256_cvtepi32_ps(_mm256_madd_epi16(abs_sign_dot16(w1, load_act(acts[a].q + 32 * ib + 32)), ones));
      const __m256 t = _mm256_fmadd_ps(_mm256_set1_ps(d0 * acts[a].d[ib]), p0,
                                       _mm256_mul_ps(_mm256_set1_ps(d1 * acts[a].d[ib + 1]), p1));
      acc[a] = _mm256_add_ps(acc[a], t);
    }
  }
  for (; ib < nb; ++ib) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[ib].qs));
    const float d0 = half_to_float(blocks[ib].d);
    for (int a = 0; a < NA; ++a) {
      const __m256 p0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(abs_sign_dot16(w0, load_act(acts[a].q + 32 * ib)), ones));
      acc[a] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * acts[a].d[ib]), p0, acc[a]);
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(acc[a]);
}

// ---- Q4_K ----

// The 8 six-bit scales (bytes 0..7 of *sc) and mins (*mn) of a Q4_K block, derived from the
// layout: for j < 4 sc = s[j] & 63, m = s[j+4] & 63; for j >= 4 the low 4 bits come from s[j+4]
// (scale: low nibble, min: high nibble) and the top 2 bits from bits 6-7 of s[j-4] / s[j].
inline void unpack_q4_K_scales(const uint8_t* s, uint64_t* sc, uint64_t* mn) {
  uint32_t a, b, c;
  std::memcpy(&a, s, 4);
  std::memcpy(&b, s + 4, 4);
  std::memcpy(&c, s + 8, 4);
  const uint32_t sc_lo = a & 0x3f3f3f3fu, mn_lo = b & 0x3f3f3f3fu;
  const uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
  *sc = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *mn = mn_lo | (static_cast<uint64_t>(mn_hi) << 32);
}

inline __m256 bytes8_to_floats(uint64_t v) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(v))));
}

// d * scale_j and dmin * min_j of the 8 sub-blocks of one Q4_K super-block, as floats.
inline void q4_K_block_scales(const BlockQ4_K& b, __m256* dsc, __m256* dmn) {
  uint64_t sc, mn;
  unpack_q4_K_scales(b.scales, &sc, &mn);
  *dsc = _mm256_mul_ps(_mm256_set1_ps(half_to_float(b.d)), bytes8_to_floats(sc));
  *dmn = _mm256_mul_ps(_mm256_set1_ps(half_to_float(b.dmin)), bytes8_to_floats(mn));
}

template <int NA>
void dot_q4_K_n(const uint8_t* row, int64_t nsb, const ActRef* acts, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ4_K*>(row);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[NA], off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), off[a] = _mm256_setzero_ps();
  alignas(32) float scale[NA][8];
  for (int64_t i = 0; i < nsb; ++i) {
    const BlockQ4_K& b = blocks[i];
    __m256 dsc, dmn;
    q4_K_block_scales(b, &dsc, &dmn);
    for (int a = 0; a < NA; ++a) {
      _mm256_store_ps(scale[a], _mm256_mul_ps(dsc, _mm256_loadu_ps(acts[a].d + 8 * i)));
      off[a] = _mm256_fmadd_ps(dmn, _mm256_loadu_ps(acts[a].s + 8 * i), off[a]);
    }
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
      const __m256i q_lo = _mm256_and_si256(raw, m4);
      const __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
      for (int a = 0; a < NA; ++a) {
        const int8_t* x = acts[a].q + 256 * i + 64 * c;
        const __m256 p0 = dot_u8s8(q_lo, load_act(x));
        const __m256 p1 = dot_u8s8(q_hi, load_act(x + 32));
        const __m256 t = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[a][2 * c]), p0,
                                         _mm256_mul_ps(_mm256_broadcast_ss(&scale[a][2 * c + 1]), p1));
        acc[a] = _mm256_add_ps(acc[a], t);
      }
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(_mm256_sub_ps(acc[a], off[a]));
}

// Interleaved rows: block b's int16 pair sums sit in lane b, so VPMADDWD with the block's six-bit
// scale in both int16 of lane b (one byte shuffle of the eight scales) gives sc_b * dot_b in int32,
// and one FMA with d * d_a(b) finishes all eight blocks. d and dmin are one fp16 conversion.
template <int NA>
void dot_q4_K_interleaved_n(const uint8_t* row, int64_t nsb, const ActRef* acts, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ4_K*>(row);
  // lane b (bytes 4b..4b+3 of the 256-bit vector) <- scale byte b as two int16
  const __m256i spread = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1,  //
                                          4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
  const __m256i second = _mm256_set1_epi32(1);
  __m256 acc[NA], off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), off[a] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nsb; ++i) {
    const BlockQ4_K& b = blocks[i];
    uint64_t sc, mn;
    unpack_q4_K_scales(b.scales, &sc, &mn);
    uint32_t d_dmin;
    std::memcpy(&d_dmin, &b.d, 4);  // d, dmin: adjacent fp16
    const __m256 dm = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d_dmin))));
    const __m256 d = _mm256_broadcastss_ps(_mm256_castps256_ps128(dm));
    const __m256 dmn = _mm256_mul_ps(_mm256_permutevar8x32_ps(dm, second), bytes8_to_floats(mn));
    const __m256i sc16 = _mm256_shuffle_epi8(_mm256_set1_epi64x(static_cast<long long>(sc)), spread);
    __m256i sum16[NA];
    dot8_interleaved_sums<NA>(b.qs, acts, 256 * i, sum16);
    for (int a = 0; a < NA; ++a) {
      const __m256 dots = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum16[a], sc16));
      acc[a] = _mm256_fmadd_ps(dots, _mm256_mul_ps(d, _mm256_loadu_ps(acts[a].d + 8 * i)), acc[a]);
      off[a] = _mm256_fmadd_ps(dmn, _mm256_loadu_ps(acts[a].s + 8 * i), off[a]);
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(_mm256_sub_ps(acc[a], off[a]));
}

// ---- Q6_K ----
// w = d sc_g (q - 32) over 16-element halves g. The unsigned codes q (0..63) meet the activations
// in VPMADDUBSW (pairs at most 2 * 63 * 127 = 16002), and VPMADDWD with the block's two int8 scales
// (low 128 bits: elements 0..15, high: 16..31) gives its exact scaled dot; the -32 term is one dot
// per super-block of the 16 scales with the activations' half-block sums (ActRef::s16, which the
// dispatcher supplies for Q6_K rows), as in the AVX-512 kernel:
//   y = sum_b d d_a(b) sum_{g in b} sc_g dot_g(q, x) - 32 d sum_g sc_g s16_g.
// Per super-block the products d d_a of its eight blocks are one vector multiply (broadcast from
// memory per block), and each block's scale pair is one byte shuffle of the scales widened per half.
template <int NA>
void dot_q6_K_n(const uint8_t* row, int64_t nsb, const ActRef* acts, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ6_K*>(row);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  // pick[k]: int16 2k of the low lane, 2k + 1 of the high lane, each repeated over its lane
  __m256i pick[4];
  for (int k = 0; k < 4; ++k) {
    const char lo0 = static_cast<char>(4 * k), lo1 = static_cast<char>(4 * k + 1);
    const char hi0 = static_cast<char>(4 * k + 2), hi1 = static_cast<char>(4 * k + 3);
    pick[k] = _mm256_setr_epi8(lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1,
                               hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1);
  }
  __m256 acc[NA], off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), off[a] = _mm256_setzero_ps();
  alignas(32) float scale[NA][8];
  for (int64_t i = 0; i < nsb; ++i) {
    const BlockQ6_K& b = blocks[i];
    const __m256 d = _mm256_set1_ps(half_to_float(b.d));
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m256 dsc_lo = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8)));
    const __m256 dsc_hi = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(sc8, sc8))));
    for (int a = 0; a < NA; ++a) {
      _mm256_store_ps(scale[a], _mm256_mul_ps(d, _mm256_loadu_ps(acts[a].d + 8 * i)));
      off[a] = _mm256_fmadd_ps(dsc_lo, _mm256_loadu_ps(acts[a].s16 + 16 * i), off[a]);
      off[a] = _mm256_fmadd_ps(dsc_hi, _mm256_loadu_ps(acts[a].s16 + 16 * i + 8), off[a]);
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    for (int h = 0; h < 2; ++h) {
      const __m256i half_scales =
          h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
      // block k: low 4 bits from ql0 / ql1 (high nibbles for k >= 2), bits 2k, 2k+1 of qh moved to 4, 5
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
      for (int k = 0; k < 4; ++k) {
        const __m256i scale16 = _mm256_shuffle_epi8(half_scales, pick[k]);
        const int64_t ab = 8 * i + 4 * h + k;
        for (int a = 0; a < NA; ++a) {
          const __m256i p16 = _mm256_maddubs_epi16(q[k], load_act(acts[a].q + 32 * ab));
          const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, scale16));
          acc[a] = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[a][4 * h + k]), p, acc[a]);
        }
      }
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(_mm256_fnmadd_ps(_mm256_set1_ps(32.f), off[a], acc[a]));
}

// ---- planar 4-bit (rtn, hqq) ----

// A per-thread float buffer that only grows. Deliberately not a std::vector: this file is compiled
// with -mavx2, and the vector<float> members it would instantiate are weak symbols the linker may
// keep for every caller in the program, CPUs without AVX2 included.
class ScratchFloats {
 public:
  ~ScratchFloats() { std::free(data_); }
  float* get(int64_t n) {
    if (n > capacity_) {
      std::free(data_);
      data_ = static_cast<float*>(std::malloc(static_cast<size_t>(n) * sizeof(float)));
      if (data_ == nullptr) throw std::bad_alloc();
      capacity_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

// Two passes per row: (1) per group, the fp32 scale of each 32-chunk and the offset term
// sum_g s_g z_g sum_{c in g} act.s[c]; (2) the chunk loop, shaped like Q4_0's.
template <int NA, KernelKind kKind, int kChunks>  // kChunks: 32-chunks per group, 0 = run time
void dot_planar_n(const WeightView& w, int64_t r, const ActRef* acts, float* out) {
  const uint8_t* codes = w.data + r * w.row_bytes;
  const int64_t chunks = kChunks > 0 ? kChunks : w.group / 32, nchunks = w.cols / 32;
  thread_local ScratchFloats scale_buf;
  float* sc = scale_buf.get(nchunks);
  float off[NA];
  for (int a = 0; a < NA; ++a) off[a] = 0.f;
  auto group_scale_zero = [&](int64_t g, float* s_out, float* z_out) {
    const int64_t gi = r * w.groups + g;
    uint16_t hs;
    std::memcpy(&hs, w.scales + 2 * gi, 2);
    *s_out = half_to_float(hs);
    *z_out = 8.f;
    if constexpr (kKind == KernelKind::kPlanarIntZero) {
      *z_out = static_cast<float>(zero_nibble(w.zeros, gi));
    } else if constexpr (kKind == KernelKind::kPlanarFp16Zero) {
      uint16_t hz;
      std::memcpy(&hz, w.zeros + 2 * gi, 2);
      *z_out = half_to_float(hz);
    }
  };
  int64_t g = 0;
  if (chunks == 1 && kKind != KernelKind::kPlanarIntZero) {
    // group 32: 8 groups at a time (fp16 scales and zeros are contiguous per row)
    __m256 offv[NA];
    for (int a = 0; a < NA; ++a) offv[a] = _mm256_setzero_ps();
    for (; g + 8 <= w.groups; g += 8) {
      const int64_t gi = r * w.groups + g;
      const __m256 s8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales + 2 * gi)));
      _mm256_storeu_ps(sc + g, s8);
      __m256 m8;
      if constexpr (kKind == KernelKind::kPlanarFp16Zero)
        m8 = _mm256_mul_ps(s8, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.zeros + 2 * gi))));
      else
        m8 = _mm256_mul_ps(s8, _mm256_set1_ps(8.f));
      for (int a = 0; a < NA; ++a) offv[a] = _mm256_fmadd_ps(m8, _mm256_loadu_ps(acts[a].s + g), offv[a]);
    }
    for (int a = 0; a < NA; ++a) off[a] = hsum(offv[a]);
  }
  for (; g < w.groups; ++g) {
    float s, z;
    group_scale_zero(g, &s, &z);
    const int64_t c0 = g * chunks;
    for (int64_t c = 0; c < chunks; ++c) sc[c0 + c] = s;
    const float m = s * z;
    for (int a = 0; a < NA; ++a) {
      float ssum = 0.f;
      for (int64_t c = 0; c < chunks; ++c) ssum += acts[a].s[c0 + c];
      off[a] += m * ssum;
    }
  }
  __m256 acc[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 1 < nchunks; c += 2) {
    const __m256i q0 = unpack_nibbles_16(codes + 16 * c);
    const __m256i q1 = unpack_nibbles_16(codes + 16 * c + 16);
    for (int a = 0; a < NA; ++a) {
      const __m256 p0 = dot_u8s8(q0, load_act(acts[a].q + 32 * c));
      const __m256 p1 = dot_u8s8(q1, load_act(acts[a].q + 32 * c + 32));
      const __m256 t = _mm256_fmadd_ps(_mm256_set1_ps(sc[c] * acts[a].d[c]), p0,
                                       _mm256_mul_ps(_mm256_set1_ps(sc[c + 1] * acts[a].d[c + 1]), p1));
      acc[a] = _mm256_add_ps(acc[a], t);
    }
  }
  for (; c < nchunks; ++c) {
    const __m256i q0 = unpack_nibbles_16(codes + 16 * c);
    for (int a = 0; a < NA; ++a) {
      const __m256 p0 = dot_u8s8(q0, load_act(acts[a].q + 32 * c));
      acc[a] = _mm256_fmadd_ps(_mm256_set1_ps(sc[c] * acts[a].d[c]), p0, acc[a]);
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(acc[a]) - off[a];
}

// ---- activation quantization (bit-identical to quantize_act_row_scalar) ----

void quantize_act_row_avx2(const float* x, int64_t cols, int8_t* q, float* d, float* s) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < cols / 32; ++b) {
    const float* xb = x + 32 * b;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(xb + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float db = _mm_cvtss_f32(m) / 127.f;
    const float id = db != 0.f ? 1.f / db : 0.f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i i32[4];
    for (int k = 0; k < 4; ++k) i32[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], vid));  // MXCSR: nearest-even
    // pack 32 int32 -> 32 int8 in element order
    const __m256i p01 = _mm256_packs_epi32(i32[0], i32[1]);
    const __m256i p23 = _mm256_packs_epi32(i32[2], i32[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), p);
    __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    d[b] = db;
    s[b] = db * static_cast<float>(_mm_cvtsi128_si32(s4));
  }
}

// ---- dispatch on the number of activation rows ----

template <template <int> class F>
void by_na(int na, const WeightView& w, int64_t r, const ActRef* acts, float* out) {
  switch (na) {
    case 1: F<1>::run(w, r, acts, out); break;
    case 2: F<2>::run(w, r, acts, out); break;
    case 3: F<3>::run(w, r, acts, out); break;
    default: F<4>::run(w, r, acts, out); break;
  }
}

template <int NA>
struct Q4_0F {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    if (w.interleaved)
      dot_q4_0_interleaved_n<NA>(w.data + r * w.row_bytes, w.cols / 32, a, o);
    else
      dot_q4_legacy_n<NA, false>(w.data + r * w.row_bytes, w.cols / 32, a, o);
  }
};
template <int NA>
struct Q4_1F {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    dot_q4_legacy_n<NA, true>(w.data + r * w.row_bytes, w.cols / 32, a, o);
  }
};
template <int NA>
struct Q8_0F {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    dot_q8_0_n<NA>(w.data + r * w.row_bytes, w.cols / 32, a, o);
  }
};
template <int NA>
struct Q4_KF {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    if (w.interleaved)
      dot_q4_K_interleaved_n<NA>(w.data + r * w.row_bytes, w.cols / kQK_K, a, o);
    else
      dot_q4_K_n<NA>(w.data + r * w.row_bytes, w.cols / kQK_K, a, o);
  }
};
template <int NA>
struct Q6_KF {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    dot_q6_K_n<NA>(w.data + r * w.row_bytes, w.cols / kQK_K, a, o);
  }
};
template <int NA, KernelKind kKind>
void dot_planar_by_group(const WeightView& w, int64_t r, const ActRef* a, float* o) {
  switch (w.group) {
    case 32: dot_planar_n<NA, kKind, 1>(w, r, a, o); break;
    case 64: dot_planar_n<NA, kKind, 2>(w, r, a, o); break;
    case 128: dot_planar_n<NA, kKind, 4>(w, r, a, o); break;
    default: dot_planar_n<NA, kKind, 0>(w, r, a, o); break;
  }
}
template <int NA>
struct SymF {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    dot_planar_by_group<NA, KernelKind::kPlanarSym8>(w, r, a, o);
  }
};
template <int NA>
struct IntZeroF {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    dot_planar_by_group<NA, KernelKind::kPlanarIntZero>(w, r, a, o);
  }
};
template <int NA>
struct Fp16ZeroF {
  static void run(const WeightView& w, int64_t r, const ActRef* a, float* o) {
    dot_planar_by_group<NA, KernelKind::kPlanarFp16Zero>(w, r, a, o);
  }
};

// ---- bf16 rows with fp32 activations (the tied head) ----
// bf16 -> fp32 is a 16-bit left shift; four accumulators hide the FMA latency.
inline __m256 widen_bf16(const uint16_t* p) {
  const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

float dot_bf16(const uint16_t* w, const float* x, int64_t cols) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t c = 0;
  for (; c + 32 <= cols; c += 32)
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(widen_bf16(w + c + 8 * k), _mm256_loadu_ps(x + c + 8 * k), acc[k]);
  for (; c + 8 <= cols; c += 8) acc[0] = _mm256_fmadd_ps(widen_bf16(w + c), _mm256_loadu_ps(x + c), acc[0]);
  float tail = 0.f;
  for (; c < cols; ++c) {
    const uint32_t bits = static_cast<uint32_t>(w[c]) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    tail += f * x[c];
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + tail;
}

template <template <int> class F>
void entry(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  by_na<F>(na, w, r, acts, out);
}

}  // namespace

const KernelTable& avx2_kernel_table() {
  static const KernelTable table = [] {
    KernelTable t;
    t.dot[static_cast<int>(KernelKind::kQ4_0)] = entry<Q4_0F>;
    t.dot[static_cast<int>(KernelKind::kQ4_1)] = entry<Q4_1F>;
    t.dot[static_cast<int>(KernelKind::kQ8_0)] = entry<Q8_0F>;
    t.dot[static_cast<int>(KernelKind::kQ4_K)] = entry<Q4_KF>;
    t.dot[static_cast<int>(KernelKind::kQ6_K)] = entry<Q6_KF>;
    t.dot[static_cast<int>(KernelKind::kPlanarSym8)] = entry<SymF>;
    t.dot[static_cast<int>(KernelKind::kPlanarIntZero)] = entry<IntZeroF>;
    t.dot[static_cast<int>(KernelKind::kPlanarFp16Zero)] = entry<Fp16ZeroF>;
    t.quantize_act_row = quantize_act_row_avx2;
    t.bf16_dot = dot_bf16;
    t.reads_interleaved = true;
    return t;
  }();
  return table;
}

}  // namespace g4u::quant::detail
