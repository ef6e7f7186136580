// Products with packed quantized weights, kept packed: y = W x (decode GEMV) and Y = X W^T
// (prefill GEMM, X [n, cols] row-major, Y [n, rows] row-major).
//
// Fast path (schemes with SchemeTraits::kernel != kNone: q4_0, q4_1, q8_0, q4_k, q6_k, rtn4_*,
// hqq*): like ggml's CPU backend, the activations are first quantized to 8-bit blocks of 32
// (per block d = max|x| / 127, q = round-half-even(x / d), d kept in fp32), then every block's
// integer dot product with the packed codes is computed exactly and scaled in fp32. AVX2+FMA+F16C
// kernels are used when the CPU has them (runtime check), else a portable scalar version of the
// same algorithm; on CPUs with AVX-512 (F/BW/VL/VNNI) the interleaved q4_0 / q4_k rows and the
// planar rtn4_* / hqq rows of whole 256-weight units run 512-bit VPDPBUSD kernels
// (kernels_avx512.cpp), the same integer dots. matmul with n >= 8 rows runs interleaved q4_0 /
// q4_k and q6_k through register-blocked GEMM tiles (gemm_avx512.cpp on AVX-512 CPUs,
// gemm_avx2.cpp on AVX2 ones; uses_gemm_tiles), the same integer dots again. Rows are split over OpenMP's threads (quant/kernels/parallel.h).
// q4_0 / q4_k tensors in the interleaved order (quant/formats/interleave.h; QuantLinear keeps them
// so) run a kernel that finishes eight blocks per conversion + FMA; the result is the same up to
// fp32 summation order.
//
// Tolerance (fast path), per output element i, against the fp32 product with the dequantized
// weights What = dequantize(W):
//     |y_i - sum_j What_ij x_j| <= sum_j |What_ij| * (d_b(j) / 2 + 1e-6 |x_j|) + 1e-5 * sum_j |What_ij x_j|
// where d_b(j) is the activation scale of the 32-block holding column j: the first term bounds the
// activation rounding, the last one the fp32 accumulation. AVX2 and scalar results differ only by
// fp32 summation order (<= 1e-5 * sum_j |What_ij x_j| in practice).
//
// Reference path (kernel == kNone: nf4, nf4_dq, iq4_nl): each row is dequantized to fp32 and
// multiplied in fp32 (no activation quantization). It is slow by design; report its latency as
// reference-only.
#pragma once

#include "quant/formats/quantized_tensor.h"

#include <cstdint>
#include <string>

namespace g4u::quant {

enum class KernelIsa { kAuto, kScalar, kAvx2, kAvx512 };

struct KernelOptions {
  int threads = 0;                   // <= 0: default_threads()
  KernelIsa isa = KernelIsa::kAuto;  // an ISA this CPU lacks -> InternalError
  // matmul with n >= 8 rows on the AVX-512 or AVX2 kernels: the register-blocked GEMM for
  // interleaved q4_0 (whole 256-weight units) / q4_k and q6_k (false: the row dots, for comparisons)
  bool gemm_tiles = true;
};

// AVX2 + FMA + F16C available on this CPU (__builtin_cpu_supports; F16C from CPUID).
bool cpu_has_avx2();
// AVX2 + AVX-512 F/BW/VL/VNNI available on this CPU (and the kernels were compiled in).
bool cpu_has_avx512();

// The instruction set kAuto runs the packed kernels with on this CPU: "avx512" (interleaved q4_0 /
// q4_k; the rest AVX2), "avx2" or "scalar".
std::string kernel_isa();

// "avx512", "avx2", "scalar" or "reference" (reference-only scheme): what matvec/matmul will run
// on this tensor. kAuto picks the widest ISA the CPU has; "avx512" only for the rows that have an
// AVX-512 kernel (interleaved q4_0 / q4_k), the rest of that table being the AVX2 kernels.
std::string kernel_path(const QuantizedTensor& w, const KernelOptions& opt = {});

// True when matmul with n activation rows runs the register-blocked GEMM tiles (the AVX-512 or
// AVX2 kernels, n >= 8, interleaved q4_0 of whole 256-weight units, interleaved q4_k, q6_k;
// opt.gemm_tiles).
// The environment variable G4U_GEMM_TILES=0 turns them off process-wide (timings of the row dots
// with the same binary).
bool uses_gemm_tiles(const QuantizedTensor& w, int64_t n, const KernelOptions& opt = {});

// y[rows] = W x[cols].
void matvec(const QuantizedTensor& w, const float* x, float* y, const KernelOptions& opt = {});
// Y[n, rows] = X[n, cols] W^T.
void matmul(const QuantizedTensor& w, const float* x, int64_t n, float* y, const KernelOptions& opt = {});

// y[rows] = W x[cols] for a bf16 matrix W (row-major, raw bfloat16 bits) and fp32 x. Nothing is
// quantized: each weight is widened to fp32 exactly and the products are summed in fp32 (at least
// eight partial sums), so y is the fp32 product with the widened weights up to summation order:
// |y_i - sum_j W_ij x_j| <= (cols/8 + 10) * 2^-24 * sum_j |W_ij x_j|. Used for a tied
// embedding/head kept in its stored bf16 while the model runs in fp32 (quant/layer/tied_head.h): half the
// bytes of the fp32 table per token.
void bf16_matvec(const uint16_t* w, int64_t rows, int64_t cols, const float* x, float* y,
                 const KernelOptions& opt = {});
// "avx512", "avx2" or "scalar": the kernel bf16_matvec runs with these options.
std::string bf16_kernel_path(const KernelOptions& opt = {});

}  // namespace g4u::quant
