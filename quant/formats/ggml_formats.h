// ggml block formats (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K, IQ4_NL): byte layouts and the reference
// encoders/decoders, written from the layouts and algorithms in shared/docs/quant-and-mtp.md
// §2.2-2.7 (checked against ggml's ggml-quants.c for the details noted in the .cpp).
//
// All scales are IEEE fp16 stored little-endian as uint16_t. Element order inside a block:
//  * Q4_0 / Q4_1 / IQ4_NL: qs[j] low nibble = element j, high nibble = element j + 16.
//  * Q4_K: chunk c (64 weights) uses qs[32c .. 32c+31]; low nibble -> 64c + l, high -> 64c + 32 + l.
//  * Q6_K: per 128-half h: ql[64h + l] low/high nibble -> 128h + l / 128h + l + 64,
//          ql[64h + l + 32] -> 128h + l + 32 / 128h + l + 96, qh[32h + l] bit pairs 0-1, 2-3, 4-5,
//          6-7 -> high 2 bits of 128h + l, + 32, + 64, + 96.
#pragma once

#include <cstdint>

namespace g4u::quant {

// ggml_type ids (ggml.h enum ggml_type): the GGUF tensor types of the float dtypes and of the
// schemes stored as ggml blocks (SchemeTraits::ggml says which is which).
namespace ggml_type {
constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14, kIQ4_NL = 20,
                   kBF16 = 30;
}

constexpr int kQK4_0 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK4_NL = 32;
constexpr int kQK_K = 256;

struct BlockQ4_0 {
  uint16_t d;       // fp16 scale (may be negative)
  uint8_t qs[16];   // nibbles, w = d * (q - 8)
};
struct BlockQ4_1 {
  uint16_t d;       // fp16 scale
  uint16_t m;       // fp16 minimum, w = d * q + m
  uint8_t qs[16];
};
struct BlockQ8_0 {
  uint16_t d;       // fp16 scale, w = d * q
  int8_t qs[32];
};
struct BlockQ4_K {
  uint16_t d;           // fp16 super-scale of the 8 sub-block scales
  uint16_t dmin;        // fp16 super-scale of the 8 sub-block mins
  uint8_t scales[12];   // 8 x 6-bit scale + 8 x 6-bit min, packed (get_scale_min_k4)
  uint8_t qs[128];      // w = d * sc_j * q - dmin * m_j
};
struct BlockQ6_K {
  uint8_t ql[128];      // low 4 bits
  uint8_t qh[64];       // high 2 bits
  int8_t scales[16];    // one int8 scale per 16 weights
  uint16_t d;           // fp16 super-scale, w = d * scales[j] * (q - 32)
};
struct BlockIQ4_NL {
  uint16_t d;           // fp16 scale, w = d * kIq4nlValues[q]
  uint8_t qs[16];
};

static_assert(sizeof(BlockQ4_0) == 18, "block_q4_0 is 18 bytes");
static_assert(sizeof(BlockQ4_1) == 20, "block_q4_1 is 20 bytes");
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 is 34 bytes");
static_assert(sizeof(BlockQ4_K) == 144, "block_q4_K is 144 bytes");
static_assert(sizeof(BlockQ6_K) == 210, "block_q6_K is 210 bytes");
static_assert(sizeof(BlockIQ4_NL) == 18, "block_iq4_nl is 18 bytes");

// The fixed IQ4_NL non-linear table.
extern const int8_t kIq4nlValues[16];

// ggml's nearest_int: round half to even (for |v| < 2^22).
int nearest_int(float v);
// Index of the IQ4_NL table entry nearest to x (x in table units); on an exact midpoint the
// upper index wins (ggml best_index_int8).
int iq4nl_best_index(float x);
// ggml's make_qkx2_quants / make_qkx3_quants: n values x with weights quantized to unsigned codes
// L in 0..nmax with an offset min <= 0, best weighted squared error over the scales
// iscale = (rmin + rdelta t + nmax) / (max - min), t = 0..nstep. Returns the scale; *the_min = -min.
// Laux: n bytes of scratch.
float make_qkx_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                      uint8_t* Laux, float rmin, float rdelta, int nstep);
// The same for eight sub-blocks of 32 at once (x, weights and L: [8][32]; scales, the_mins: [8]),
// one per AVX2 lane, bit for bit what make_qkx_quants gives each. Only when cpu_has_avx2().
void make_qkx_quants_x8_avx2(int nmax, const float* x, const float* weights, uint8_t* L, float* scales,
                             float* the_mins, float rmin, float rdelta, int nstep);
// ggml's make_qx_quants with rmse_type 1: n values x to signed codes in [-nmax, nmax - 1], stored
// in L as code + nmax, with weights qw (x^2 when null); the best of the scales
// iscale = -(nmax + 0.1 t) / max, t = -9..9. Returns the least-squares scale (0, codes 0, when all
// |x| < 1e-15).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* qw);
// The same for eight sub-blocks of 16 at once (x, qw, L: [8][16]; scales: [8]), one per AVX2
// lane, bit for bit. Only when cpu_has_avx2().
void make_qx_quants_x8_avx2(int nmax, const float* x, const float* qw, int8_t* L, float* scales);
// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
void get_scale_min_k4(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m);

// Reference encoders. `k` / `n_per_row` must be a multiple of the block size. The *_imatrix
// variants are ggml's importance-weighted paths (quant_weights = `cols` imatrix values for a row
// of n_per_row = cols weights); they are what llama-quantize uses when given an imatrix.
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k);
void quantize_row_q4_0_imatrix(const float* x, BlockQ4_0* y, int64_t n_per_row, const float* qw);
void quantize_row_q4_1_ref(const float* x, BlockQ4_1* y, int64_t k);
void quantize_row_q4_1_imatrix(const float* x, BlockQ4_1* y, int64_t n_per_row, const float* qw);
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k);
void quantize_row_q4_K_ref(const float* x, BlockQ4_K* y, int64_t k);
void quantize_row_q4_K_imatrix(const float* x, BlockQ4_K* y, int64_t n_per_row, const float* qw);
void quantize_row_q6_K_ref(const float* x, BlockQ6_K* y, int64_t k);
void quantize_row_q6_K_imatrix(const float* x, BlockQ6_K* y, int64_t n_per_row, const float* qw);
// IQ4_NL: ntry = 7 is the llama-quantize path (quantize_iq4_nl, with or without imatrix);
// ntry = -1 is ggml's quantize_row_iq4_nl_ref (no search). qw may be null.
void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n_per_row, const float* qw, int ntry);

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t k);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t k);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t k);
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t k);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t k);
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t k);

}  // namespace g4u::quant
