// GPTQ (IST-DASLab reference, quant-and-mtp.md §2.10) for one linear layer, and the Hessian
// accumulator fed by calibration activations. The result is stored in the planar RTN layout
// (rtn4_{sym,asym}_{g32,g64,g128,pc}): GPTQ changes which codes are chosen, not how they decode.
//
//   H = (2/n) sum x x^T (running mean, fp32); dead inputs (H_ii = 0) -> H_ii = 1, W[:, i] = 0;
//   act_order: columns permuted by decreasing diag(H); H += 0.01 mean(diag H) I;
//   U = upper Cholesky factor of H^-1; columns processed in blocks of 128, each column quantized
//   with its group's quantizer, its error (w - q)/U_ii propagated to the remaining columns of the
//   block, the block's errors to the later columns afterwards.
// Quantizer per (row, group): asym lo = min(min w, 0), hi = max(max w, 0), s = fp16((hi-lo)/15),
// z = clamp(round(-lo/s), 0, 15) (rtn4_asym); sym s = fp16(2 max|w| / 15), z = 8 (rtn4_sym);
// codes with the fp16 scale, so the stored tensor decodes to exactly GPTQ's quantized weights.
// Dynamic groups take their parameters from the error-updated columns when the group starts;
// static_groups compute all of them up front from the original W. Our layout has no g_idx, so
// act_order with groups always uses static groups (GPTQ's own option for this case; recorded).
#pragma once

#include "quant/formats/quantized_tensor.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace g4u::quant {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols);
  // x [..., cols]: every row is one calibration token.
  void add(const torch::Tensor& x);
  const torch::Tensor& hessian() const { return h_; }  // [cols, cols] fp32
  int64_t samples() const { return n_; }

 private:
  torch::Tensor h_;
  int64_t n_ = 0;
};

struct GptqOptions {
  int64_t group_size = 128;  // 32, 64, 128 or -1 (per channel)
  bool sym = false;
  bool act_order = true;
  bool static_groups = false;  // forced on with act_order and groups (see above)
  double percdamp = 0.01;
  int64_t block = 128;
};

// The planar scheme GPTQ's result is stored in ("rtn4_asym_g128", ...).
std::string gptq_storage_scheme(const GptqOptions& o);

struct GptqResult {
  QuantizedTensor q;
  double loss = 0;  // sum (w - q)^2 / U_ii^2 / 2 (the reference's bookkeeping)
  bool static_groups = false;
};

// w [rows, cols] (any float dtype), h [cols, cols] from HessianAccumulator.
GptqResult gptq_quantize(const torch::Tensor& w, const torch::Tensor& h, const GptqOptions& o);

// Builds a planar rtn4 tensor from explicit codes [rows, cols] (0..15), fp16 scale bits and
// integer zeros [rows, groups] (zeros ignored for sym schemes, which must be all 8).
QuantizedTensor pack_rtn4(const SchemeTraits& s, int64_t rows, int64_t cols, const uint8_t* codes,
                          const uint16_t* scale_bits, const uint8_t* zeros);

}  // namespace g4u::quant
