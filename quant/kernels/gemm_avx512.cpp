// AVX-512 (F, BW, VL, VNNI) register-blocked GEMM for prefill (kernel_impl.h, "register-blocked
// GEMM"). This file alone is compiled with the AVX-512 flags (quant/CMakeLists.txt); the dispatcher
// calls it only after cpu_has_avx512().
//
// Why: the row dots of kernels_avx512.cpp finish every 256 weights with a horizontal add, a
// conversion and two FMAs per activation row, and unpack the weights again for every group of
// four activation rows. Here a panel of 16 weight rows is unpacked once into a buffer with one row
// per 32-bit lane, so each VPDPBUSD takes a 64-byte vector of codes (4 codes of each of the 16
// rows) and one activation dword broadcast from memory, and adds the 4 products into each row's
// lane: a 32-block of 16 rows and one activation row is 8 VPDPBUSD, then one conversion and one FMA
// with the 16 rows' scales times the activation scale, and its result already sits in the lane of
// its output. kGemmActs activation rows share each block's code registers.
//
// Per-block integer dots are exact, as in the row dots; only the fp32 summation order differs:
//   Q4_0 (w = d (q - 8)):            y += d_w d_a (dot(q, x) - 8 sum(x))   (the -8 sum(x) in int32)
//   Q4_K (w = d sc q - dmin m):      y += d sc d_a dot(q, x) - dmin m s_a  (s_a = d_a sum(x))
//   Q6_K (w = d sc_h (q - 32)):      y += d_a (d sc_0 dot_0 + d sc_1 dot_1), dot_h = dot(q, x) - 32 sum(x)
//                                    over the block's 16-element half h (the -32 sum(x) in int32).
#include "quant/formats/ggml_formats.h"
#include "quant/kernels/avx512_warnings.h"
#include "quant/kernels/kernel_impl.h"

#include <immintrin.h>

#include <cstddef>
#include <cstring>

namespace g4u::quant::detail {
namespace {

static_assert(kGemmRows == 16, "one weight row per 32-bit lane of a 512-bit register");

// A panel in its buffer: codes [nb][8][64] (block b, vector k: lane i = row i's codes of elements
// 4k..4k+3), then the fp32 scales [nscale][16] (Q4_0 / Q4_K: one per block, Q6_K: one per
// 16-element half), then Q4_K's offsets dmin m [nb][16].
struct Panel {
  uint8_t* codes;
  float* scale;
  float* minv;
};

Panel panel_at(uint8_t* buf, KernelKind kind, int64_t nb) {
  Panel p;
  p.codes = buf;
  p.scale = reinterpret_cast<float*>(buf + 512 * nb);
  p.minv = p.scale + (kind == KernelKind::kQ6_K ? 2 : 1) * 16 * nb;
  return p;
}

// The panel rows' bytes: dword `offset + 4 b` of each row for b = 0..7 as eight vectors v[b], lane i
// = row i. A full panel loads each row's 32 bytes and transposes the 16 x 8 dwords in registers
// (16 loads, 8 inserts, 24 permutes); a partial one gathers, rows past the tensor reading as zero.
struct PanelRows {
  const uint8_t* base;
  int64_t row_bytes;
  __m512i index;
  __mmask16 mask;
  bool full;

  __m512i gather(int64_t offset) const {
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, index, base + offset, 1);
  }
  void dwords8(int64_t offset, __m512i (&v)[8]) const {
    if (!full) {
      for (int b = 0; b < 8; ++b) v[b] = gather(offset + 4 * b);
      return;
    }
    __m512i z[8];  // z[p]: lanes 0..7 row 2p's dwords, lanes 8..15 row 2p+1's
    for (int p = 0; p < 8; ++p) {
      const uint8_t* r = base + 2 * p * row_bytes + offset;
      z[p] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r))),
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + row_bytes)), 1);
    }
    // rows 4q..4q+3: lane 4b + r = row 4q + r's dword b, for b = 0..3 (lo) and 4..7 (hi)
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    __m512i a[4], c[4];
    for (int q = 0; q < 4; ++q) {
      a[q] = _mm512_permutex2var_epi32(z[2 * q], lo, z[2 * q + 1]);
      c[q] = _mm512_permutex2var_epi32(z[2 * q], hi, z[2 * q + 1]);
    }
    // rows 8s..8s+7: lane 8b' + 4t + r = row 8s + 4t + r's dword b' (of 2 dwords: first, second pair)
    const __m512i p0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i p1 = _mm512_add_epi32(p0, _mm512_set1_epi32(8));
    __m512i e[8];  // e[2 * pair + s]: dwords 2 pair, 2 pair + 1 of rows 8s..8s+7
    for (int s = 0; s < 2; ++s) {
      e[0 + s] = _mm512_permutex2var_epi32(a[2 * s], p0, a[2 * s + 1]);
      e[2 + s] = _mm512_permutex2var_epi32(a[2 * s], p1, a[2 * s + 1]);
      e[4 + s] = _mm512_permutex2var_epi32(c[2 * s], p0, c[2 * s + 1]);
      e[6 + s] = _mm512_permutex2var_epi32(c[2 * s], p1, c[2 * s + 1]);
    }
    for (int pair = 0; pair < 4; ++pair) {
      v[2 * pair] = _mm512_shuffle_i64x2(e[2 * pair], e[2 * pair + 1], 0x44);
      v[2 * pair + 1] = _mm512_shuffle_i64x2(e[2 * pair], e[2 * pair + 1], 0xEE);
    }
  }
};

inline __m512 fp16_low(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }
inline __m512 fp16_high(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16))); }
inline __m512 byte_to_float(__m512i v, int byte) {
  return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8 * byte), _mm512_set1_epi32(0xFF)));
}

// Interleaved Q4_0 / Q4_K units (144 bytes: 16 bytes of scales, then four 32-byte chunks; chunk j,
// dword b = block b's elements 4j..4j+3 in the low nibbles, 16+4j.. in the high ones).
void unpack_interleaved_codes(const PanelRows& g, int64_t unit_offset, uint8_t* codes) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int j = 0; j < 4; ++j) {
    __m512i v[8];
    g.dwords8(unit_offset + 16 + 32 * j, v);
    for (int b = 0; b < 8; ++b) {
      _mm512_store_si512(codes + 512 * b + 64 * j, _mm512_and_si512(v[b], m4));
      _mm512_store_si512(codes + 512 * b + 64 * (4 + j), _mm512_and_si512(_mm512_srli_epi32(v[b], 4), m4));
    }
  }
}

void repack_q4_0(const PanelRows& g, int64_t units, Panel p) {
  constexpr int64_t kUnit = 8 * sizeof(BlockQ4_0);
  for (int64_t u = 0; u < units; ++u) {
    unpack_interleaved_codes(g, u * kUnit, p.codes + 4096 * u);
    for (int k = 0; k < 4; ++k) {  // fp16 scales of blocks 2k, 2k+1
      const __m512i v = g.gather(u * kUnit + 4 * k);
      _mm512_store_ps(p.scale + 16 * (8 * u + 2 * k), fp16_low(v));
      _mm512_store_ps(p.scale + 16 * (8 * u + 2 * k + 1), fp16_high(v));
    }
  }
}

void repack_q4_k(const PanelRows& g, int64_t units, Panel p) {
  constexpr int64_t kUnit = sizeof(BlockQ4_K);
  for (int64_t u = 0; u < units; ++u) {
    const int64_t o = u * kUnit;
    unpack_interleaved_codes(g, o, p.codes + 4096 * u);
    const __m512i dd = g.gather(o);
    const __m512 d = fp16_low(dd), dmin = fp16_high(dd);
    // get_scale_min_k4 on 32-bit lanes, as unpack_q4_K_scales (kernels_avx2.cpp) does per row
    const __m512i a = g.gather(o + 4), b = g.gather(o + 8), c = g.gather(o + 12);
    const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f),
                  top = _mm512_set1_epi32(0x30303030);
    const __m512i sc_lo = _mm512_and_si512(a, m6), mn_lo = _mm512_and_si512(b, m6);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(c, m4), _mm512_and_si512(_mm512_srli_epi32(a, 2), top));
    const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 4), m4),
                                          _mm512_and_si512(_mm512_srli_epi32(b, 2), top));
    for (int j = 0; j < 4; ++j) {
      _mm512_store_ps(p.scale + 16 * (8 * u + j), _mm512_mul_ps(d, byte_to_float(sc_lo, j)));
      _mm512_store_ps(p.scale + 16 * (8 * u + 4 + j), _mm512_mul_ps(d, byte_to_float(sc_hi, j)));
      _mm512_store_ps(p.minv + 16 * (8 * u + j), _mm512_mul_ps(dmin, byte_to_float(mn_lo, j)));
      _mm512_store_ps(p.minv + 16 * (8 * u + 4 + j), _mm512_mul_ps(dmin, byte_to_float(mn_hi, j)));
    }
  }
}

// Q6_K super-blocks in storage order: 32-block 4h+k, element l: low 4 bits from ql[64h + 32(k&1) + l]
// (high nibble when k & 2), top 2 bits from qh[32h + l] >> 2k; int8 scale sc[2(4h+k) + l/16].
void repack_q6_k(const PanelRows& g, int64_t units, Panel p) {
  constexpr int64_t kUnit = sizeof(BlockQ6_K);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
  for (int64_t u = 0; u < units; ++u) {
    const int64_t o = u * kUnit;
    for (int h = 0; h < 2; ++h) {
      __m512i qh[8], ql[2][8];
      g.dwords8(o + offsetof(BlockQ6_K, qh) + 32 * h, qh);
      g.dwords8(o + 64 * h, ql[0]);
      g.dwords8(o + 64 * h + 32, ql[1]);
      for (int v = 0; v < 8; ++v)
        for (int k = 0; k < 4; ++k) {
          const __m512i low = _mm512_and_si512(k & 2 ? _mm512_srli_epi32(ql[k & 1][v], 4) : ql[k & 1][v], m4);
          const __m512i high = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[v], 2 * k), m2), 4);
          _mm512_store_si512(p.codes + 512 * (8 * u + 4 * h + k) + 64 * v, _mm512_or_si512(low, high));
        }
    }
    // d: the high half of the dword ending the block (scales[14..15], d)
    const __m512 d = fp16_high(g.gather(o + offsetof(BlockQ6_K, d) - 2));
    for (int q = 0; q < 4; ++q) {  // int8 scales 4q..4q+3 = halves of blocks 2q, 2q+1
      const __m512i v = g.gather(o + offsetof(BlockQ6_K, scales) + 4 * q);
      for (int t = 0; t < 4; ++t) {
        const __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * t), 24);
        _mm512_store_ps(p.scale + 16 * (16 * u + 4 * q + t), _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc)));
      }
    }
  }
}

inline __m512i bcast_dword(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
inline __m512 bcast_float(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_ps(v);
}

// Offsets of the parts of an activation record (kernel_impl.h).
constexpr int kRecD = 32 * kGemmActs, kRecS = kRecD + 4 * kGemmActs, kRecOff = kRecS + 4 * kGemmActs;

// One tile: the panel's 16 rows x the first NA activation rows of a group, over all nb blocks.
template <KernelKind kKind, int NA>
void tile(const Panel& p, const uint8_t* rec, int64_t nb, float* y, int64_t ldy, __mmask16 rows) {
  __m512 acc[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm512_setzero_ps();
  const uint8_t* codes = p.codes;
  for (int64_t b = 0; b < nb; ++b, rec += kGemmActRecord, codes += 512) {
    __m512i c[8];
    for (int k = 0; k < 8; ++k) c[k] = _mm512_load_si512(codes + 64 * k);
    if constexpr (kKind == KernelKind::kQ6_K) {
      const __m512 s0 = _mm512_load_ps(p.scale + 32 * b), s1 = _mm512_load_ps(p.scale + 32 * b + 16);
      for (int a = 0; a < NA; ++a) {
        const uint8_t* q = rec + 32 * a;
        __m512i h0 = bcast_dword(rec + kRecOff + 8 * a), h1 = bcast_dword(rec + kRecOff + 8 * a + 4);
        for (int k = 0; k < 4; ++k) h0 = _mm512_dpbusd_epi32(h0, c[k], bcast_dword(q + 4 * k));
        for (int k = 4; k < 8; ++k) h1 = _mm512_dpbusd_epi32(h1, c[k], bcast_dword(q + 4 * k));
        const __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(h0), s0, _mm512_mul_ps(_mm512_cvtepi32_ps(h1), s1));
        acc[a] = _mm512_fmadd_ps(t, bcast_float(rec + kRecD + 4 * a), acc[a]);
      }
    } else {
      const __m512 sw = _mm512_load_ps(p.scale + 16 * b);
      for (int a = 0; a < NA; ++a) {
        const uint8_t* q = rec + 32 * a;
        __m512i dot;
        if constexpr (kKind == KernelKind::kQ4_0)
          dot = bcast_dword(rec + kRecOff + 4 * a);
        else
          dot = _mm512_setzero_si512();
        for (int k = 0; k < 8; ++k) dot = _mm512_dpbusd_epi32(dot, c[k], bcast_dword(q + 4 * k));
        acc[a] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(sw, bcast_float(rec + kRecD + 4 * a)), acc[a]);
        if constexpr (kKind == KernelKind::kQ4_K)
          acc[a] = _mm512_fnmadd_ps(_mm512_load_ps(p.minv + 16 * b), bcast_float(rec + kRecS + 4 * a), acc[a]);
      }
    }
  }
  for (int a = 0; a < NA; ++a) _mm512_mask_storeu_ps(y + a * ldy, rows, acc[a]);
}

template <KernelKind kKind>
void panel_times_acts(const Panel& p, const GemmActs& x, float* y, int64_t ldy, __mmask16 rows) {
  const int64_t group_bytes = x.nb * kGemmActRecord;
  for (int64_t a0 = 0; a0 < x.n; a0 += kGemmActs) {
    const uint8_t* rec = x.records + (a0 / kGemmActs) * group_bytes;
    float* ya = y + a0 * ldy;
    switch (x.n - a0 < kGemmActs ? x.n - a0 : kGemmActs) {
      case 1: tile<kKind, 1>(p, rec, x.nb, ya, ldy, rows); break;
      case 2: tile<kKind, 2>(p, rec, x.nb, ya, ldy, rows); break;
      case 3: tile<kKind, 3>(p, rec, x.nb, ya, ldy, rows); break;
      case 4: tile<kKind, 4>(p, rec, x.nb, ya, ldy, rows); break;
      case 5: tile<kKind, 5>(p, rec, x.nb, ya, ldy, rows); break;
      case 6: tile<kKind, 6>(p, rec, x.nb, ya, ldy, rows); break;
      case 7: tile<kKind, 7>(p, rec, x.nb, ya, ldy, rows); break;
      default: tile<kKind, 8>(p, rec, x.nb, ya, ldy, rows); break;
    }
  }
}

}  // namespace

void gemm_rows_avx512(const WeightView& w, int64_t r0, int64_t r1, const GemmActs& acts, uint8_t* buf, float* y,
                      int64_t ldy) {
  const int64_t units = w.cols / 256;
  const Panel p = panel_at(buf, w.kind, acts.nb);
  for (int64_t p0 = r0; p0 < r1; p0 += kGemmRows) {
    const int nrows = static_cast<int>(r1 - p0 < kGemmRows ? r1 - p0 : kGemmRows);
    const __mmask16 rows = static_cast<__mmask16>((1u << nrows) - 1);
    PanelRows g;
    g.base = w.data + p0 * w.row_bytes;
    g.row_bytes = w.row_bytes;
    g.index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                 _mm512_set1_epi32(static_cast<int32_t>(w.row_bytes)));
    g.mask = rows;
    g.full = nrows == kGemmRows;
    switch (w.kind) {
      case KernelKind::kQ4_0:
        repack_q4_0(g, units, p);
        panel_times_acts<KernelKind::kQ4_0>(p, acts, y + p0, ldy, rows);
        break;
      case KernelKind::kQ4_K:
        repack_q4_k(g, units, p);
        panel_times_acts<KernelKind::kQ4_K>(p, acts, y + p0, ldy, rows);
        break;
      default:
        repack_q6_k(g, units, p);
        panel_times_acts<KernelKind::kQ6_K>(p, acts, y + p0, ldy, rows);
        break;
    }
  }
}

}  // namespace g4u::quant::detail
