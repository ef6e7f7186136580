// AVX2 (+ FMA, F16C) register-blocked GEMM for prefill: the AVX2 counterpart of gemm_avx512.cpp
// (kernel_impl.h, "register-blocked GEMM"), for CPUs without AVX-512. This file alone is compiled
// with -mavx2 -mfma -mf16c (quant/CMakeLists.txt); the dispatcher calls it only after cpu_has_avx2().
// It also packs the activation records both GEMMs read.
//
// Why: the AVX2 row dots read every activation row's 8-bit codes again for each weight row, one
// byte of activations per multiply-add, and measured the same speed with 8 activation rows as with
// 128. Here a panel of 8 weight rows is unpacked once into a buffer with one row per 32-bit lane:
// per 32-block eight 32-byte vectors of codes (lane i: 4 codes of row i), then the blocks' fp32
// scales. Each activation dword (4 codes) broadcast to the 8 lanes meets one code vector in a
// VPMADDUBSW, whose int16 pairs of products are summed over the block's 8 vectors (Q4: at most
// 8 * 2 * 15 * 127 = 30480, no overflow) and widened by one VPMADDWD: the row's exact block dot
// sits in its lane, and one conversion and one FMA with the 8 rows' scales times the activation
// scale accumulate it. kTileActs activation rows share each code vector load.
//
// Same integer dots as the row dots, so the same results up to fp32 summation order:
//   Q4_0 (w = d (q - 8)):            y += d_w d_a (dot(q, x) - 8 sum(x))   (the -8 sum(x) in int32)
//   Q4_K (w = d sc q - dmin m):      y += d sc d_a dot(q, x) - dmin m s_a  (s_a = d_a sum(x))
//   Q6_K (w = d sc_h (q - 32)):      y += d_a (d sc_0 dot_0 + d sc_1 dot_1), dot_h = dot(q, x) - 32 sum(x)
//                                    over the block's 16-element half h. Codes reach 63, so the
//                                    int16 sums are widened every two vectors (2 * 2 * 63 * 127 = 32004).
#include "quant/formats/ggml_formats.h"
#include "quant/kernels/kernel_impl.h"

#include <immintrin.h>

#include <cstddef>
#include <cstring>

namespace g4u::quant::detail {
namespace {

constexpr int kPanelRows = 8;  // one weight row per 32-bit lane of a 256-bit register
constexpr int kTileActs = 4;   // activation rows per tile (two tiles per 8-row record group)
static_assert(kGemmRows % kPanelRows == 0 && kGemmActs == 2 * kTileActs, "tasks and records hold whole tiles");

// A panel in its buffer: codes [nb][8][32] (block b, vector k: lane i = row i's codes of elements
// 4k..4k+3), then the fp32 scales [nscale][8] (Q4_0 / Q4_K: one per block, Q6_K: one per 16-element
// half), then Q4_K's offsets dmin m [nb][8]. At most 320 bytes per block: within gemm_panel_bytes().
struct Panel {
  uint8_t* codes;
  float* scale;
  float* minv;
};

Panel panel_at(uint8_t* buf, KernelKind kind, int64_t nb) {
  Panel p;
  p.codes = buf;
  p.scale = reinterpret_cast<float*>(buf + 256 * nb);
  p.minv = p.scale + (kind == KernelKind::kQ6_K ? 2 : 1) * 8 * nb;
  return p;
}

// v[c] = column c of the 8 x 8 matrix of dwords whose row r is m[r] (lane r of v[c] = dword c of m[r]).
void transpose8(const __m256i (&m)[8], __m256i (&v)[8]) {
  __m256i t[8], u[8];
  for (int p = 0; p < 4; ++p) {  // t[2p]: dwords 0,1 | 4,5 of rows 2p, 2p+1 interleaved; t[2p+1]: 2,3 | 6,7
    t[2 * p] = _mm256_unpacklo_epi32(m[2 * p], m[2 * p + 1]);
    t[2 * p + 1] = _mm256_unpackhi_epi32(m[2 * p], m[2 * p + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // u[4h + c]: dword c | c + 4 of rows 4h..4h+3
    u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
    u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
    u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
    u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    v[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    v[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

void transpose8(const __m256 (&m)[8], __m256 (&v)[8]) {
  __m256i mi[8], vi[8];
  for (int r = 0; r < 8; ++r) mi[r] = _mm256_castps_si256(m[r]);
  transpose8(mi, vi);
  for (int c = 0; c < 8; ++c) v[c] = _mm256_castsi256_ps(vi[c]);
}

// The panel's rows in the packed tensor; rows past its end read as zero bytes.
struct PanelRows {
  const uint8_t* base;
  int64_t row_bytes;
  int nrows;

  // Dword `offset + 4 c` of each row for c = 0..7 as eight vectors v[c], lane r = row r.
  void dwords8(int64_t offset, __m256i (&v)[8]) const {
    __m256i m[8];
    for (int r = 0; r < 8; ++r)
      m[r] = r < nrows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + r * row_bytes + offset))
                       : _mm256_setzero_si256();
    transpose8(m, v);
  }
  // Eight fp16 values at `offset` of each row, widened: v[c] lane r = row r's value c.
  void halves8(int64_t offset, __m256 (&v)[8]) const {
    __m256 m[8];
    for (int r = 0; r < 8; ++r)
      m[r] = r < nrows ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base + r * row_bytes + offset)))
                       : _mm256_setzero_ps();
    transpose8(m, v);
  }
};

// The low (or, with high, the top) 16 bits of each 32-bit lane of v, as 8 packed 16-bit values.
inline __m128i halves_of_lanes(__m256i v, bool high) {
  const __m256i x = high ? _mm256_srli_epi32(v, 16) : _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF));
  return _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
}

inline __m256 bytes_to_floats(int64_t eight_bytes, bool is_signed) {
  const __m128i v = _mm_cvtsi64_si128(eight_bytes);
  return _mm256_cvtepi32_ps(is_signed ? _mm256_cvtepi8_epi32(v) : _mm256_cvtepu8_epi32(v));
}

// Interleaved Q4_0 / Q4_K units (144 bytes: 16 bytes of scales, then four 32-byte chunks; chunk j,
// dword b = block b's elements 4j..4j+3 in the low nibbles, 16+4j.. in the high ones).
void unpack_interleaved_codes(const PanelRows& g, int64_t unit_offset, uint8_t* codes) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int j = 0; j < 4; ++j) {
    __m256i v[8];
    g.dwords8(unit_offset + 16 + 32 * j, v);
    for (int b = 0; b < 8; ++b) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 256 * b + 32 * j), _mm256_and_si256(v[b], m4));
      _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 256 * b + 32 * (4 + j)),
                         _mm256_and_si256(_mm256_srli_epi32(v[b], 4), m4));
    }
  }
}

void repack_q4_0(const PanelRows& g, int64_t units, Panel p) {
  constexpr int64_t kUnit = 8 * sizeof(BlockQ4_0);
  for (int64_t u = 0; u < units; ++u) {
    unpack_interleaved_codes(g, u * kUnit, p.codes + 2048 * u);
    __m256 d[8];  // the unit's 8 fp16 block scales
    g.halves8(u * kUnit, d);
    for (int b = 0; b < 8; ++b) _mm256_store_ps(p.scale + 8 * (8 * u + b), d[b]);
  }
}

inline __m256 byte_to_float(__m256i v, int byte) {
  return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, 8 * byte), _mm256_set1_epi32(0xFF)));
}

void repack_q4_k(const PanelRows& g, int64_t units, Panel p) {
  constexpr int64_t kUnit = sizeof(BlockQ4_K);
  for (int64_t u = 0; u < units; ++u) {
    const int64_t o = u * kUnit;
    unpack_interleaved_codes(g, o, p.codes + 2048 * u);
    // The 16-byte header of each row (d, dmin, scales[12]) as dwords 0..3 of the 8 lanes.
    __m256i h[8];
    g.dwords8(o, h);
    const __m256 d = _mm256_cvtph_ps(halves_of_lanes(h[0], false));
    const __m256 dmin = _mm256_cvtph_ps(halves_of_lanes(h[0], true));
    // get_scale_min_k4 on 32-bit lanes, as unpack_q4_K_scales (kernels_avx2.cpp) does per row
    const __m256i a = h[1], b = h[2], c = h[3];
    const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f), m4 = _mm256_set1_epi32(0x0f0f0f0f),
                  top = _mm256_set1_epi32(0x30303030);
    const __m256i sc_lo = _mm256_and_si256(a, m6), mn_lo = _mm256_and_si256(b, m6);
    const __m256i sc_hi = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_srli_epi32(a, 2), top));
    const __m256i mn_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(c, 4), m4),
                                          _mm256_and_si256(_mm256_srli_epi32(b, 2), top));
    for (int j = 0; j < 4; ++j) {
      _mm256_store_ps(p.scale + 8 * (8 * u + j), _mm256_mul_ps(d, byte_to_float(sc_lo, j)));
      _mm256_store_ps(p.scale + 8 * (8 * u + 4 + j), _mm256_mul_ps(d, byte_to_float(sc_hi, j)));
      _mm256_store_ps(p.minv + 8 * (8 * u + j), _mm256_mul_ps(dmin, byte_to_float(mn_lo, j)));
      _mm256_store_ps(p.minv + 8 * (8 * u + 4 + j), _mm256_mul_ps(dmin, byte_to_float(mn_hi, j)));
    }
  }
}

// Q6_K super-blocks in storage order: 32-block 4h+k, element l: low 4 bits from ql[64h + 32(k&1) + l]
// (high nibble when k & 2), top 2 bits from qh[32h + l] >> 2k; int8 scale sc[2(4h+k) + l/16].
void repack_q6_k(const PanelRows& g, int64_t units, Panel p) {
  constexpr int64_t kUnit = sizeof(BlockQ6_K);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
  for (int64_t u = 0; u < units; ++u) {
    const int64_t o = u * kUnit;
    for (int h = 0; h < 2; ++h) {
      __m256i qh[8], ql[2][8];
      g.dwords8(o + offsetof(BlockQ6_K, qh) + 32 * h, qh);
      g.dwords8(o + 64 * h, ql[0]);
      g.dwords8(o + 64 * h + 32, ql[1]);
      for (int v = 0; v < 8; ++v)
        for (int k = 0; k < 4; ++k) {
          const __m256i low = _mm256_and_si256(k & 2 ? _mm256_srli_epi32(ql[k & 1][v], 4) : ql[k & 1][v], m4);
          const __m256i high = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(qh[v], 2 * k), m2), 4);
          _mm256_store_si256(reinterpret_cast<__m256i*>(p.codes + 256 * (8 * u + 4 * h + k) + 32 * v),
                             _mm256_or_si256(low, high));
        }
    }
    __m256 half_scale[2][8];  // [scales 0..7 / 8..15][row]: d sc_i
    for (int r = 0; r < 8; ++r) {
      if (r >= g.nrows) {
        half_scale[0][r] = half_scale[1][r] = _mm256_setzero_ps();
        continue;
      }
      const uint8_t* s = g.base + r * g.row_bytes + o;
      uint16_t dh;
      std::memcpy(&dh, s + offsetof(BlockQ6_K, d), 2);
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
      for (int q = 0; q < 2; ++q) {
        int64_t sc8;
        std::memcpy(&sc8, s + offsetof(BlockQ6_K, scales) + 8 * q, 8);
        half_scale[q][r] = _mm256_mul_ps(d, bytes_to_floats(sc8, true));
      }
    }
    for (int q = 0; q < 2; ++q) {
      __m256 v[8];
      transpose8(half_scale[q], v);
      for (int i = 0; i < 8; ++i) _mm256_store_ps(p.scale + 8 * (16 * u + 8 * q + i), v[i]);
    }
  }
}

inline __m256i bcast_dword(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
inline __m256 bcast_float(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_ps(v);
}
inline __m256i code_vector(const uint8_t* codes, int k) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(codes + 32 * k));
}

// Offsets of the parts of an activation record (kernel_impl.h).
constexpr int kRecD = 32 * kGemmActs, kRecS = kRecD + 4 * kGemmActs, kRecOff = kRecS + 4 * kGemmActs;

// One tile: the panel's 8 rows x NA activation rows (record slots slot0..slot0+NA-1 of a group),
// over all nb blocks. For each code vector, the NA rows' products are summed in int16.
template <KernelKind kKind, int NA>
void tile(const Panel& p, const uint8_t* rec, int slot0, int64_t nb, float* y, int64_t ldy, int nrows) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NA];
  for (int a = 0; a < NA; ++a) acc[a] = _mm256_setzero_ps();
  const uint8_t* codes = p.codes;
  for (int64_t b = 0; b < nb; ++b, rec += kGemmActRecord, codes += 256) {
    const uint8_t* q = rec + 32 * slot0;
    if constexpr (kKind == KernelKind::kQ6_K) {
      __m256i dot[2][NA];  // per 16-element half
      for (int h = 0; h < 2; ++h) {
        for (int a = 0; a < NA; ++a) dot[h][a] = bcast_dword(rec + kRecOff + 8 * (slot0 + a) + 4 * h);
        for (int k = 4 * h; k < 4 * h + 4; k += 2) {
          const __m256i c0 = code_vector(codes, k), c1 = code_vector(codes, k + 1);
          for (int a = 0; a < NA; ++a) {
            const uint8_t* qa = q + 32 * a + 4 * k;
            const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(c0, bcast_dword(qa)),
                                                 _mm256_maddubs_epi16(c1, bcast_dword(qa + 4)));
            dot[h][a] = _mm256_add_epi32(dot[h][a], _mm256_madd_epi16(s16, ones));
          }
        }
      }
      const __m256 s0 = _mm256_load_ps(p.scale + 16 * b), s1 = _mm256_load_ps(p.scale + 16 * b + 8);
      for (int a = 0; a < NA; ++a) {
        const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[0][a]), s0,
                                         _mm256_mul_ps(_mm256_cvtepi32_ps(dot[1][a]), s1));
        acc[a] = _mm256_fmadd_ps(t, bcast_float(rec + kRecD + 4 * (slot0 + a)), acc[a]);
      }
    } else {
      __m256i s16[NA];
      const __m256i c0 = code_vector(codes, 0);
      for (int a = 0; a < NA; ++a) s16[a] = _mm256_maddubs_epi16(c0, bcast_dword(q + 32 * a));
      for (int k = 1; k < 8; ++k) {
        const __m256i c = code_vector(codes, k);
        for (int a = 0; a < NA; ++a)
          s16[a] = _mm256_add_epi16(s16[a], _mm256_maddubs_epi16(c, bcast_dword(q + 32 * a + 4 * k)));
      }
      const __m256 sw = _mm256_load_ps(p.scale + 8 * b);
      for (int a = 0; a < NA; ++a) {
        __m256i dot = _mm256_madd_epi16(s16[a], ones);
        if constexpr (kKind == KernelKind::kQ4_0)
          dot = _mm256_add_epi32(dot, bcast_dword(rec + kRecOff + 4 * (slot0 + a)));
        acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(sw, bcast_float(rec + kRecD + 4 * (slot0 + a))),
                                 acc[a]);
        if constexpr (kKind == KernelKind::kQ4_K)
          acc[a] = _mm256_fnmadd_ps(_mm256_load_ps(p.minv + 8 * b), bcast_float(rec + kRecS + 4 * (slot0 + a)), acc[a]);
      }
    }
  }
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), lanes);
  for (int a = 0; a < NA; ++a) {
    if (nrows == kPanelRows)
      _mm256_storeu_ps(y + a * ldy, acc[a]);
    else
      _mm256_maskstore_ps(y + a * ldy, keep, acc[a]);
  }
}

template <KernelKind kKind>
void panel_times_acts(const Panel& p, const GemmActs& x, float* y, int64_t ldy, int nrows) {
  const int64_t group_bytes = x.nb * kGemmActRecord;
  for (int64_t a0 = 0; a0 < x.n; a0 += kTileActs) {
    const uint8_t* rec = x.records + (a0 / kGemmActs) * group_bytes;
    const int slot0 = static_cast<int>(a0 % kGemmActs);
    float* ya = y + a0 * ldy;
    switch (x.n - a0 < kTileActs ? x.n - a0 : kTileActs) {
      case 1: tile<kKind, 1>(p, rec, slot0, x.nb, ya, ldy, nrows); break;
      case 2: tile<kKind, 2>(p, rec, slot0, x.nb, ya, ldy, nrows); break;
      case 3: tile<kKind, 3>(p, rec, slot0, x.nb, ya, ldy, nrows); break;
      default: tile<kKind, 4>(p, rec, slot0, x.nb, ya, ldy, nrows); break;
    }
  }
}

}  // namespace

void gemm_pack_acts(KernelKind kind, const int8_t* q, const float* d, const float* s, int64_t a0, int64_t a1,
                    int64_t cols, uint8_t* out) {
  static_assert(kGemmActRecord == 384, "record: 8 x 32 codes, 8 d, 8 s, 16 offsets");
  const int64_t nb = cols / 32;
  // VPSADBW of the codes + 128 (as unsigned bytes) against zero: four sums of 8 codes + 1024.
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t a = a0; a < a1; ++a) {
    const int slot = static_cast<int>(a - a0);
    const int8_t* qa = q + a * cols;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* rec = out + b * kGemmActRecord;
      std::memcpy(rec + 32 * slot, qa + 32 * b, 32);
      std::memcpy(rec + kRecD + 4 * slot, d + a * nb + b, 4);
      std::memcpy(rec + kRecS + 4 * slot, s + a * nb + b, 4);
      if (kind == KernelKind::kQ4_K) continue;
      const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32 * b));
      alignas(32) int64_t s8[4];  // four sums of 8 codes
      _mm256_store_si256(reinterpret_cast<__m256i*>(s8),
                         _mm256_sub_epi64(_mm256_sad_epu8(_mm256_xor_si256(codes, flip), _mm256_setzero_si256()),
                                          _mm256_set1_epi64x(1024)));
      int32_t* off = reinterpret_cast<int32_t*>(rec + kRecOff);
      if (kind == KernelKind::kQ6_K) {
        off[2 * slot] = static_cast<int32_t>(-32 * (s8[0] + s8[1]));
        off[2 * slot + 1] = static_cast<int32_t>(-32 * (s8[2] + s8[3]));
      } else {
        off[slot] = static_cast<int32_t>(-8 * (s8[0] + s8[1] + s8[2] + s8[3]));
      }
    }
  }
}

void gemm_rows_avx2(const WeightView& w, int64_t r0, int64_t r1, const GemmActs& acts, uint8_t* buf, float* y,
                    int64_t ldy) {
  const int64_t units = w.cols / 256;
  const Panel p = panel_at(buf, w.kind, acts.nb);
  for (int64_t p0 = r0; p0 < r1; p0 += kPanelRows) {
    PanelRows g;
    g.base = w.data + p0 * w.row_bytes;
    g.row_bytes = w.row_bytes;
    g.nrows = static_cast<int>(r1 - p0 < kPanelRows ? r1 - p0 : kPanelRows);
    switch (w.kind) {
      case KernelKind::kQ4_0:
        repack_q4_0(g, units, p);
        panel_times_acts<KernelKind::kQ4_0>(p, acts, y + p0, ldy, g.nrows);
        break;
      case KernelKind::kQ4_K:
        repack_q4_k(g, units, p);
        panel_times_acts<KernelKind::kQ4_K>(p, acts, y + p0, ldy, g.nrows);
        break;
      default:
        repack_q6_k(g, units, p);
        panel_times_acts<KernelKind::kQ6_K>(p, acts, y + p0, ldy, g.nrows);
        break;
    }
  }
}

}  // namespace g4u::quant::detail
