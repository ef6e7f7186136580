// AVX-512 (F, BW, VL, VNNI) row dots for Q4_0 and Q4_K rows in the interleaved order
// (quant/formats/interleave.h), Q6_K rows, and planar rows (rtn4_*, hqq). This file alone is
// compiled with the AVX-512 flags (quant/CMakeLists.txt); the dispatcher calls it only after
// cpu_has_avx512(). Every other scheme, and Q4_0 / Q4_K rows in ggml's order, run the AVX2 kernels
// (the table below starts as a copy of theirs).
//
// Why: with AVX2 these two kernels are bound by instruction throughput, not by memory: on one
// core an L2-resident Q4_0 GEMV streams ~27 GB/s of weights, about what one core's share of DRAM
// bandwidth delivers, so any stall (wide rows whose activations do not stay in L1) falls below
// it. Here one 512-bit register holds both nibbles of a 32-byte code chunk, lined up with two
// activation vectors, and VPDPBUSD adds four u8 x s8 products straight into each int32 lane: per
// 256 weights 8 unpack instructions and 4 dot instructions per activation row, where the AVX2
// kernel needs 12 and 16 (maddubs, int16 adds).
#include "quant/formats/ggml_formats.h"
#include "quant/kernels/avx512_warnings.h"
#include "quant/kernels/kernel_impl.h"

#include <immintrin.h>

#include <cstring>

namespace g4u::quant::detail {
namespace {

// One 32-byte code chunk j of an interleaved group -> 64 codes: the low half holds the low
// nibbles (lane b = block b's elements 4j..4j+3, matching activation vector 2j), the high half
// the high nibbles (elements 16+4j.., matching vector 2j+1). The two vectors are adjacent in the
// interleaved activations, so one 64-byte load pairs with it.
inline __m512i unpack_chunk(const uint8_t* p) {
  const __m512i both = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i shifted = _mm512_srlv_epi64(both, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0));
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

// Exact integer dots of eight interleaved 32-blocks (256 weights) with NA activation rows, as int32
// lanes b and 8 + b both holding part of block b's dot. Codes 0..15 are unsigned, activations
// signed, which is VPDPBUSD's operand order; 32 products of at most 15 * 128 fit int32 easily.
template <int NA>
inline void dot8(const uint8_t* codes, const ActRef* acts, int64_t act_offset, __m512i (&sum)[NA]) {
  for (int a = 0; a < NA; ++a) sum[a] = _mm512_setzero_si512();
  for (int j = 0; j < 4; ++j) {
    const __m512i q = unpack_chunk(codes + 32 * j);
    for (int a = 0; a < NA; ++a)
      sum[a] = _mm512_dpbusd_epi32(sum[a], q, _mm512_loadu_si512(acts[a].q + act_offset + 64 * j));
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The 256-weight units of the two interleaved formats: where a unit's codes (four 32-byte chunks)
// start, and the fp32 scale d_b and offset factor m_b of each of its eight 32-blocks. With the
// activation block sums s_b (act.s), a row's dot is sum_b d_b dot_b - kOffsetFactor sum_b m_b s_b.
struct Q4_0Unit {  // a group of 8 blocks: 16 bytes of fp16 scales, then the codes; w = d (q - 8)
  static constexpr int64_t kBytes = 8 * sizeof(BlockQ4_0);
  static constexpr float kOffsetFactor = 8.f;
  static const uint8_t* codes(const uint8_t* u) { return u + 16; }
  static void scales(const uint8_t* u, __m256* d, __m256* off) {
    *d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    *off = *d;
  }
};

struct Q4_KUnit {  // a super-block; w = d sc_j q - dmin m_j
  static constexpr int64_t kBytes = sizeof(BlockQ4_K);
  static constexpr float kOffsetFactor = 1.f;
  static const uint8_t* codes(const uint8_t* u) { return reinterpret_cast<const BlockQ4_K*>(u)->qs; }
  static void scales(const uint8_t* u, __m256* d, __m256* off) {
    // The 12 packed bytes s (get_scale_min_k4 in ggml_formats.h) -> bytes [sc_0..sc_7, m_0..m_7]: lanes 0..3
    // s[0..3] & 63, 4..7 (s[8..11] & 15) | ((s[0..3] >> 2) & 48), 8..11 s[4..7] & 63,
    // 12..15 (s[8..11] >> 4) | ((s[4..7] >> 2) & 48). (16-byte load: the 4 bytes after the
    // scales are codes, unused.)
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 4));
    const __m128i a = _mm_shuffle_epi8(s, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i top = _mm_shuffle_epi8(s, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i a_hi = _mm_blend_epi32(a, _mm_srli_epi16(a, 4), 0b1000);  // lanes 12..15: s[8..11] >> 4
    const __m128i low = _mm_and_si128(a_hi, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i bytes = _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(top, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
    // d and dmin (the block's first 4 bytes) spread over the 8 scale and the 8 min lanes
    int d_dmin;
    std::memcpy(&d_dmin, u, 4);
    const __m512 dd = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128(d_dmin)));
    const __m512 spread = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), dd);
    const __m512 both = _mm512_mul_ps(spread, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes)));
    *d = _mm512_castps512_ps256(both);
    *off = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(both), 1));
  }
};

// One interleaved row of `units` units with NA activation rows. (Two units per step, their 16
// block dots scaled as one 512-bit vector, was faster with the weights in L2 but slower streaming
// them from DRAM: 0.61-0.79 of the read bandwidth on 15360x3840 against 1.05-1.13 for this loop.)
template <class Unit, int NA>
void dot_row(const uint8_t* row, int64_t units, const ActRef* acts, float* out) {
  __m256 acc[NA], off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), off[a] = _mm256_setzero_ps();
  for (int64_t u = 0; u < units; ++u) {
    const uint8_t* p = row + u * Unit::kBytes;
    __m256 d, m;
    Unit::scales(p, &d, &m);
    __m512i s[NA];
    dot8<NA>(Unit::codes(p), acts, 256 * u, s);
    for (int a = 0; a < NA; ++a) {
      const __m256 dots =
          _mm256_cvtepi32_ps(_mm256_add_epi32(_mm512_castsi512_si256(s[a]), _mm512_extracti64x4_epi64(s[a], 1)));
      acc[a] = _mm256_fmadd_ps(dots, _mm256_mul_ps(d, _mm256_loadu_ps(acts[a].d + 8 * u)), acc[a]);
      off[a] = _mm256_fmadd_ps(m, _mm256_loadu_ps(acts[a].s + 8 * u), off[a]);
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(acc[a]) - Unit::kOffsetFactor * hsum(off[a]);
}

// Row r with na activation rows; rows this file has no kernel for go to the AVX2 table.
template <class Unit, KernelKind kKind>
void dot_entry(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  if (!avx512_reads(w)) {
    avx2_kernel_table().dot[static_cast<int>(kKind)](w, r, acts, na, out);
    return;
  }
  const uint8_t* row = w.data + r * w.row_bytes;
  const int64_t units = w.cols / 256;
  switch (na) {
    case 1: dot_row<Unit, 1>(row, units, acts, out); break;
    case 2: dot_row<Unit, 2>(row, units, acts, out); break;
    case 3: dot_row<Unit, 3>(row, units, acts, out); break;
    default: dot_row<Unit, 4>(row, units, acts, out); break;
  }
}

// ---- planar rows (rtn4_*, hqq; quant/formats/planar.cpp) in storage order ----
// Each 32-block's 16 code bytes hold elements 0..15 in the low nibbles and 16..31 in the high ones,
// so a 64-byte load of four blocks gives, after masking, their first halves (one block per 128-bit
// lane) and, after a shift, their second halves; the activations come in the matching
// kPlanarHalves order. VPDPBUSD leaves four partial dots of block k in lane k; two adds, a shuffle
// and a permute gather a unit's eight block dots in order. Per 32-block j of group g(j): w = s_g (q
// - z_g), so a row's dot is sum_j s_g(j) d_j dot_j - sum_j s_g(j) z_g(j) act.s_j.
template <KernelKind kKind>
struct PlanarRow {
  const WeightView& w;
  int64_t r;
  int64_t chunks;   // 32-blocks per group
  __m256i lane_group;  // group of block b of a unit relative to the unit's first group
  int ngroups;         // groups a unit touches: 8 / chunks, or 1
  __mmask8 load_mask;  // the first ngroups lanes

  PlanarRow(const WeightView& view, int64_t row) : w(view), r(row), chunks(view.group / 32) {
    const int per = chunks >= 8 ? 8 : static_cast<int>(chunks);
    lane_group = _mm256_setr_epi32(0 / per, 1 / per, 2 / per, 3 / per, 4 / per, 5 / per, 6 / per, 7 / per);
    ngroups = chunks >= 8 ? 1 : 8 / static_cast<int>(chunks);
    load_mask = static_cast<__mmask8>((1u << ngroups) - 1);
  }
  // The fp16 values of a unit's groups, spread over its eight blocks.
  __m256 spread_fp16(const uint8_t* base, int64_t gi0) const {
    const __m128i h = _mm_maskz_loadu_epi16(load_mask, base + 2 * gi0);
    return _mm256_permutexvar_ps(lane_group, _mm256_cvtph_ps(h));
  }
  // Scales s and offsets s * z of unit u's eight blocks.
  void scales(int64_t u, __m256* s, __m256* sz) const {
    const int64_t gi0 = r * w.groups + (8 * u) / chunks;
    *s = spread_fp16(w.scales, gi0);
    if constexpr (kKind == KernelKind::kPlanarSym8) {
      *sz = _mm256_mul_ps(*s, _mm256_set1_ps(8.f));
    } else if constexpr (kKind == KernelKind::kPlanarFp16Zero) {
      *sz = _mm256_mul_ps(*s, spread_fp16(w.zeros, gi0));
    } else {  // 4-bit zeros, two per byte (low nibble first), from nibble gi0 on
      const int odd = static_cast<int>(gi0 & 1);
      const int nbytes = (odd + ngroups + 1) / 2;
      const __m128i raw = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << nbytes) - 1), w.zeros + gi0 / 2);
      const uint32_t nibbles = static_cast<uint32_t>(static_cast<uint64_t>(_mm_cvtsi128_si64(raw)) >> (4 * odd));
      const __m256i z = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(nibbles)),
                                                           _mm256_slli_epi32(lane_group, 2)),
                                         _mm256_set1_epi32(0xF));
      *sz = _mm256_mul_ps(*s, _mm256_cvtepi32_ps(z));
    }
  }
};

// Eight block dots of four-block vectors R0 (blocks 0..3, one per 128-bit lane, four partials
// each) and R1 (blocks 4..7), in block order.
inline __m256i gather_block_dots(__m512i r0, __m512i r1) {
  const __m512i x = _mm512_add_epi32(_mm512_unpacklo_epi64(r0, r1), _mm512_unpackhi_epi64(r0, r1));
  const __m512i x2 = _mm512_add_epi32(x, _mm512_shuffle_epi32(x, _MM_PERM_CDAB));  // lane k: [A A B B]
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, x2));
}

template <KernelKind kKind, int NA>
void dot_planar_row(const WeightView& w, int64_t r, const ActRef* acts, float* out) {
  const PlanarRow<kKind> row(w, r);
  const uint8_t* codes = w.data + r * w.row_bytes;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m256 acc[NA], off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps(), off[a] = _mm256_setzero_ps();
  for (int64_t u = 0; u < w.cols / 256; ++u) {
    __m512i lo[2], hi[2];
    for (int h = 0; h < 2; ++h) {
      const __m512i v = _mm512_loadu_si512(codes + 128 * u + 64 * h);
      lo[h] = _mm512_and_si512(v, low4);
      hi[h] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
    __m256 s, sz;
    row.scales(u, &s, &sz);
    for (int a = 0; a < NA; ++a) {
      const int8_t* x = acts[a].q + 256 * u;
      __m512i part[2];
      for (int h = 0; h < 2; ++h) {
        part[h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[h], _mm512_loadu_si512(x + 128 * h));
        part[h] = _mm512_dpbusd_epi32(part[h], hi[h], _mm512_loadu_si512(x + 128 * h + 64));
      }
      const __m256 dots = _mm256_cvtepi32_ps(gather_block_dots(part[0], part[1]));
      acc[a] = _mm256_fmadd_ps(dots, _mm256_mul_ps(s, _mm256_loadu_ps(acts[a].d + 8 * u)), acc[a]);
      off[a] = _mm256_fmadd_ps(sz, _mm256_loadu_ps(acts[a].s + 8 * u), off[a]);
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = hsum(acc[a]) - hsum(off[a]);
}

template <KernelKind kKind>
void dot_planar_entry(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  if (!avx512_reads(w)) {
    avx2_kernel_table().dot[static_cast<int>(kKind)](w, r, acts, na, out);
    return;
  }
  switch (na) {
    case 1: dot_planar_row<kKind, 1>(w, r, acts, out); break;
    case 2: dot_planar_row<kKind, 2>(w, r, acts, out); break;
    case 3: dot_planar_row<kKind, 3>(w, r, acts, out); break;
    default: dot_planar_row<kKind, 4>(w, r, acts, out); break;
  }
}

// ---- Q6_K rows (ggml's order) ----
// A super-block's 128 ql bytes are two 64-byte halves h whose low nibbles are elements
// 128h + 0..63 and high nibbles elements 128h + 64..127, in order; qh[32h + l] holds the top two
// bits of elements 128h + l, +32, +64, +96 at bit pairs 0, 2, 4, 6. So one 64-byte load, a mask or
// a shift, and the qh bytes broadcast to both 256-bit halves and shifted per 64-bit lane give 64
// unsigned 6-bit codes lined up with 64 consecutive activations (storage order): chunk c = 2h + k
// (k = 0: low nibbles, 1: high) covers elements 64c..64c+63. VPDPBUSD leaves in lane l of chunk c
// the exact dot of 4 elements, all in 16-element group 4c + l/4 (scale sc_g) and 32-block 2c + l/8
// (activation scale d_a). With w = d sc_g (q - 32), a row's dot is
//   sum_c sum_l G[4c + l/4] dot_cl - 32 sum_g G'_g s16_g,  G_g = d sc_g d_a(g/2), G'_g = d sc_g,
// where s16_g = d_a sum(x of half block g) comes with the activations (ActRef::s16).
inline void q6_k_codes(const BlockQ6_K& b, __m512i (&q)[4]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
    // bit pair 0 (bytes 0..31) or 2 (bytes 32..63) to bits 4..5; then pairs 4 and 6
    const __m512i hi_lo = _mm512_and_si512(_mm512_sllv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)), top2);
    const __m512i hi_hi = _mm512_and_si512(_mm512_srlv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)), top2);
    // (a & low4) | c: ternary-logic table 0xEA
    q[2 * h] = _mm512_ternarylogic_epi32(ql, low4, hi_lo, 0xEA);
    q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), low4, hi_hi, 0xEA);
  }
}

template <int NA>
void dot_q6_k_row(const uint8_t* row, int64_t nsb, const ActRef* acts, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ6_K*>(row);
  // lane g of G -> 32-block g / 2 of the activation scales; lane l of chunk c -> group 4c + l / 4
  const __m512i group_block = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  __m512i chunk_group[4];
  for (int c = 0; c < 4; ++c)
    chunk_group[c] = _mm512_add_epi32(_mm512_set1_epi32(4 * c),
                                      _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
  __m512 acc[NA], off[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm512_setzero_ps(), off[a] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nsb; ++i) {
    const BlockQ6_K& b = blocks[i];
    __m512i q[4];
    q6_k_codes(b, q);
    const __m512 d = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(b.d)));
    const __m512 dsc = _mm512_mul_ps(
        d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)))));
    for (int a = 0; a < NA; ++a) {
      const int8_t* x = acts[a].q + 256 * i;
      const __m512 da = _mm512_permutexvar_ps(group_block, _mm512_castps256_ps512(_mm256_loadu_ps(acts[a].d + 8 * i)));
      const __m512 g = _mm512_mul_ps(dsc, da);
      for (int c = 0; c < 4; ++c) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[c], _mm512_loadu_si512(x + 64 * c));
        acc[a] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(chunk_group[c], g), acc[a]);
      }
      off[a] = _mm512_fmadd_ps(dsc, _mm512_loadu_ps(acts[a].s16 + 16 * i), off[a]);
    }
  }
  for (int a = 0; a < NA; ++a) out[a] = _mm512_reduce_add_ps(acc[a]) - 32.f * _mm512_reduce_add_ps(off[a]);
}

void dot_q6_k_entry(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  if (!avx512_reads(w)) {
    avx2_kernel_table().dot[static_cast<int>(KernelKind::kQ6_K)](w, r, acts, na, out);
    return;
  }
  const uint8_t* row = w.data + r * w.row_bytes;
  const int64_t nsb = w.cols / 256;
  switch (na) {
    case 1: dot_q6_k_row<1>(row, nsb, acts, out); break;
    case 2: dot_q6_k_row<2>(row, nsb, acts, out); break;
    case 3: dot_q6_k_row<3>(row, nsb, acts, out); break;
    default: dot_q6_k_row<4>(row, nsb, acts, out); break;
  }
}

// bf16 rows with fp32 activations: 16 weights widened per shift, the ragged tail by masked loads.
inline __m512 widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

float dot_bf16(const uint16_t* w, const float* x, int64_t cols) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t c = 0;
  for (; c + 64 <= cols; c += 64)
    for (int k = 0; k < 4; ++k) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c + 16 * k));
      acc[k] = _mm512_fmadd_ps(widen_bf16(h), _mm512_loadu_ps(x + c + 16 * k), acc[k]);
    }
  for (; c < cols; c += 16) {
    const int64_t left = cols - c;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    acc[0] = _mm512_fmadd_ps(widen_bf16(_mm256_maskz_loadu_epi16(m, w + c)), _mm512_maskz_loadu_ps(m, x + c), acc[0]);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

}  // namespace

const KernelTable& avx512_kernel_table() {
  static const KernelTable table = [] {
    KernelTable t = avx2_kernel_table();
    constexpr int kQ4_0 = static_cast<int>(KernelKind::kQ4_0), kQ4_K = static_cast<int>(KernelKind::kQ4_K);
    t.dot[kQ4_0] = dot_entry<Q4_0Unit, KernelKind::kQ4_0>;
    t.dot[kQ4_K] = dot_entry<Q4_KUnit, KernelKind::kQ4_K>;
    t.dot[static_cast<int>(KernelKind::kQ6_K)] = dot_q6_k_entry;
    t.dot[static_cast<int>(KernelKind::kPlanarSym8)] = dot_planar_entry<KernelKind::kPlanarSym8>;
    t.dot[static_cast<int>(KernelKind::kPlanarIntZero)] = dot_planar_entry<KernelKind::kPlanarIntZero>;
    t.dot[static_cast<int>(KernelKind::kPlanarFp16Zero)] = dot_planar_entry<KernelKind::kPlanarFp16Zero>;
    t.bf16_dot = dot_bf16;
    return t;
  }();
  return table;
}

}  // namespace g4u::quant::detail
