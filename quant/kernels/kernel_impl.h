// Internal interface between the kernel dispatcher (kernels.cpp) and the per-ISA row-dot
// implementations (kernels_scalar.cpp, kernels_avx2.cpp). Kept free of intrinsics so both sides
// can include it.
#pragma once

#include "quant/formats/scheme.h"

#include <cstdint>
#include <vector>

namespace g4u::quant::detail {

constexpr int kActBlock = 32;  // activation quantization block
constexpr int kMaxActs = 4;    // activation rows handled per weight-row pass

// A resizable array whose data() is 64-byte aligned: a 64-byte vector load from it never spans two
// cache lines (std::vector's storage is only 16-byte aligned).
template <class T>
class CacheAlignedArray {
 public:
  void resize(size_t n) {
    buf_.resize(n + 64 / sizeof(T));
    const auto addr = reinterpret_cast<uintptr_t>(buf_.data());
    data_ = buf_.data() + ((64 - addr % 64) % 64) / sizeof(T);
  }
  T* data() { return data_; }
  const T* data() const { return data_; }

 private:
  std::vector<T> buf_;
  T* data_ = nullptr;
};

// Activations quantized to 8-bit blocks of 32: q [n][cols], d and s [n][cols/32] with
// s = d * sum(q of the block); on request (the AVX2 and AVX-512 Q6_K row dots) also s16 [n][cols/16] with
// s16 = d * sum(q of each 16-element half block), the half-block sums Q6_K's offset of 32 needs.
struct ActQ8 {
  int64_t n = 0, cols = 0, nb = 0;
  CacheAlignedArray<int8_t> q;
  CacheAlignedArray<float> d, s, s16;
  bool has_s16 = false;
};
// One activation row: per 32-block amax, d = amax / 127, q = round-half-even(x * (1 / d)),
// s = d * sum(q). The scalar and AVX2 versions give identical bytes.
using QuantizeActRowFn = void (*)(const float* x, int64_t cols, int8_t* q, float* d, float* s);
void quantize_act_row_scalar(const float* x, int64_t cols, int8_t* q, float* d, float* s);

struct ActRef {
  const int8_t* q;
  const float* d;
  const float* s;
  const float* s16;  // nullptr unless ActQ8::has_s16
};

// Raw pointers into a QuantizedTensor for the kernels.
struct WeightView {
  KernelKind kind;
  int64_t cols;
  const uint8_t* data;
  int64_t row_bytes;      // bytes of `data` per row
  const uint8_t* scales;  // planar: fp16 [rows][groups]
  const uint8_t* zeros;   // planar asym: 4-bit packed; hqq: fp16 [rows][groups]
  int64_t groups;         // planar: groups per row
  int64_t group;          // planar: weights per group (multiple of 32)
  bool interleaved;       // q4_0 / q4_k rows in the interleaved order (quant/formats/interleave.h)
};

// out[a] = dot(row r of W, activation row a) for a in [0, na), 1 <= na <= kMaxActs. The AVX2 and
// AVX-512 Q6_K ones read ActRef::s16 (matmul quantizes Q6_K activations with half-block sums).
using RowDotFn = void (*)(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out);

// dot(w, x) of one bf16 weight row with fp32 activations: each weight widened to fp32 (exact),
// products accumulated in fp32.
using Bf16DotFn = float (*)(const uint16_t* w, const float* x, int64_t cols);

struct KernelTable {
  RowDotFn dot[static_cast<int>(KernelKind::kCount)] = {};
  Bf16DotFn bf16_dot = nullptr;
  QuantizeActRowFn quantize_act_row = nullptr;
  // The dot functions read interleaved q4_0 / q4_k rows directly, with activations whose
  // 256-groups are interleaved to match; otherwise the dispatcher restores storage order per row.
  bool reads_interleaved = false;
};
// The order of each quantized activation row's 8-bit values (d and s stay per 32-block in
// storage order):
//  kStorage: as x;
//  kInterleaved: every full 256-group permuted to match interleaved q4_0 / q4_k rows
//                (interleave_act_groups, quant/formats/interleave.h);
//  kPlanarHalves: every 128-group (four 32-blocks k = 0..3) rearranged to the first halves
//                 (elements 0..15) of blocks 0..3, then their second halves (16..31): the order in
//                 which a 64-byte load of planar codes yields its low and high nibbles (the AVX-512
//                 planar kernel). cols must be a multiple of 128.
enum class ActOrder { kStorage, kInterleaved, kPlanarHalves };
void quantize_act_q8(const KernelTable& table, const float* x, int64_t n, int64_t cols, ActQ8& out, int threads,
                     ActOrder order = ActOrder::kStorage, bool half_block_sums = false);
// One row of 8-bit activations, storage order -> kPlanarHalves, in place.
void planar_halves_act_groups(int8_t* q, int64_t cols);

const KernelTable& scalar_kernel_table();
// Compiled with -mavx2 -mfma -mf16c; call only when cpu_has_avx2().
const KernelTable& avx2_kernel_table();
// The AVX2 table with AVX-512 row dots for interleaved Q4_0 / Q4_K rows (avx512_reads); compiled
// with the AVX-512 flags, call only when cpu_has_avx512().
const KernelTable& avx512_kernel_table();
// Rows the AVX-512 kernels read themselves (the other rows go to the AVX2 ones): interleaved Q4_K,
// interleaved Q4_0 whose rows are whole groups of 8 blocks, Q6_K (storage order; its activations
// carry s16), and planar rows (rtn4_*, hqq) of whole 256-weight units whose groups are 32, 64 or
// 128 weights or a multiple of 256 (per channel). The planar ones take kPlanarHalves activations.
// Defined in kernels.cpp, not inline here: an inline function compiled into the AVX-512 file could
// be the copy the linker keeps for every caller.
bool avx512_reads(const WeightView& w);

// ---- register-blocked GEMM (prefill; gemm_avx512.cpp, gemm_avx2.cpp) ----
// For n >= kGemmMinActs activation rows, the weight rows that gemm_reads() accepts (interleaved
// Q4_0 of whole 256-weight units, interleaved Q4_K, Q6_K) are multiplied panel by panel: on AVX-512
// CPUs kGemmRows rows at a time are unpacked into a thread's panel buffer (one row per 32-bit
// lane: per 32-block eight 64-byte vectors of 8-bit codes, then the blocks' fp32 scales), and each
// panel meets the activations kGemmActs rows at a time in a tile of 16 x kGemmActs fp32
// accumulators (VPDPBUSD with each activation dword broadcast to the 16 rows). The AVX2 GEMM does
// the same with panels of 8 rows (32-byte vectors) and tiles of 8 x 4 (VPMADDUBSW + VPMADDWD).
// Tasks are whole kGemmRows panels in both.
constexpr int kGemmRows = 16;
constexpr int kGemmActs = 8;
constexpr int64_t kGemmMinActs = 8;
// The activations as the GEMM reads them: groups of kGemmActs rows (the last one partial), per
// group and 32-block one record of kGemmActRecord bytes: the 8 rows' 32 codes (storage order),
// their scales d, their s = d * sum(codes), and the integer offsets each block's dot starts from
// (Q4_0: -8 * sum of the block's codes, one per row; Q6_K: -32 * sum of each 16-element half, two
// per row; Q4_K: none).
constexpr int64_t kGemmActRecord = 32 * kGemmActs + 4 * kGemmActs * 4;
struct GemmActs {
  const uint8_t* records;  // [ceil(n / kGemmActs)][nb][kGemmActRecord]
  int64_t n, nb;
};
bool gemm_reads(const WeightView& w);          // kernels.cpp
int64_t gemm_panel_bytes(const WeightView& w);  // kernels.cpp (enough for either ISA's panel)
// Activation rows [a0, a1) of one group (a0 a multiple of kGemmActs) of an ActQ8-like storage-order
// buffer (q [n][cols], d and s [n][nb]) into its records (out: the group's first record). AVX2
// (gemm_avx2.cpp): call only when cpu_has_avx2().
void gemm_pack_acts(KernelKind kind, const int8_t* q, const float* d, const float* s, int64_t a0, int64_t a1,
                    int64_t cols, uint8_t* out);
// Y[a][r] (row stride ldy) for rows [r0, r1) (r0 a multiple of kGemmRows) and all acts.n
// activation rows; panel: a 64-byte aligned buffer of gemm_panel_bytes(w). The AVX-512 version
// only when cpu_has_avx512(), the AVX2 one when cpu_has_avx2().
void gemm_rows_avx512(const WeightView& w, int64_t r0, int64_t r1, const GemmActs& acts, uint8_t* panel, float* y,
                      int64_t ldy);
void gemm_rows_avx2(const WeightView& w, int64_t r0, int64_t r1, const GemmActs& acts, uint8_t* panel, float* y,
                    int64_t ldy);

bool is_planar_kernel(KernelKind k);  // rtn4_* and hqq (quant/formats/planar.cpp)

}  // namespace g4u::quant::detail
