// QuantLinear: a model::Linear whose weight stays packed (QuantizedTensor) and whose products run
// on the packed kernels of quant/kernels/kernels.h, so a whole decoder runs quantized.
//
// forward(x [..., in]) flattens x to n rows of fp32 and computes y = x W^T:
//   n == 1  -> matvec (decode), n > 1 -> matmul (prefill);
// the result is returned in x's dtype. Schemes with a fast kernel (SchemeTraits::kernel != kNone)
// quantize the activations to 8-bit blocks of 32 like ggml, so y differs from the fp32 product with
// the dequantized weight by at most the bound stated in quant/kernels/kernels.h (activation rounding,
// ~ sum_j |What_ij| d_b(j)/2, plus fp32 accumulation). Reference-only schemes (nf4, nf4_dq,
// iq4_nl) dequantize each row and multiply in fp32: equal to the dequantized product up to fp32
// summation order, and slow by design (their latency is reference-only; see `path()`).
//
// The packed arrays live outside torch (no parameters, no buffers): Module::to(dtype) only records
// the dtype the module accepts and returns; named_parameters() of a quantized model therefore
// omits the quantized weights (use storage_bytes()).
//
// On another device (Module::to(cuda)) the layer builds a device form once: schemes with 4-bit
// affine groups (q4_0, q4_1, q4_k, rtn4, hqq; quant/layer/int4_groups.h) become LibTorch's packed
// int4 tensor-core product, read packed at every call; the others (q6_k, q8_0, iq4_nl, nf4), and
// every scheme where that product is unavailable, are dequantized once into a dense weight in the
// activation dtype on the device (their bytes then are the dense weight's). path() says which.
#pragma once

#include "model/text/layers.h"
#include "quant/kernels/kernels.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/layer/int4_groups.h"

#include <torch/torch.h>

#include <memory>
#include <string>

namespace g4u::quant {

class QuantLinear : public model::Linear {
 public:
  explicit QuantLinear(QuantizedTensor weight, torch::ScalarType dtype = torch::kFloat32);

  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t in_features() const override { return weight_.cols; }
  int64_t out_features() const override { return weight_.rows; }
  std::string scheme() const override { return std::string(weight_.scheme->name); }
  int64_t storage_bytes() const override { return weight_.bytes().total(); }
  torch::ScalarType input_dtype() const override { return dtype_; }
  // Rows `ids` of the weight, each dequantized on its own (fp32, then `dtype`): exactly the rows of
  // dequantized() converted to `dtype`. A packed token table's lookups (model::Embedding::use_packed).
  torch::Tensor weight_rows(const torch::Tensor& ids, torch::ScalarType dtype) const override;

  // Records the activation dtype (and converts a dense device form); the packed weight is unchanged.
  // A device other than the CPU builds the device form (see above).
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  // The packed weight; q4_0 / q4_k are kept in the kernels' interleaved order (quant/formats/interleave.h).
  const QuantizedTensor& weight() const { return weight_; }
  // On the CPU "avx2", "scalar" or "reference" (see quant/kernels/kernels.h kernel_path); on another
  // device "int4pack" or "dense" (see above).
  std::string path() const;
  // Why a layer off the CPU runs dense ("" when it runs the packed int4 product or on the CPU).
  const std::string& dense_reason() const { return dense_reason_; }
  torch::Device device() const { return device_; }
  // Dequantized weight, fp32 [out, in] (for tests and for the reference comparison).
  torch::Tensor dequantized() const;

  // Kernel options used by forward(); threads 0 = torch::get_num_threads() at call time.
  KernelOptions kernel_options;

 private:
  KernelOptions options() const;
  QuantizedTensor weight_;
  torch::ScalarType dtype_;
  torch::Device device_ = torch::kCPU;
  std::optional<Int4Packed> int4_;  // device form: the packed int4 product
  torch::Tensor dense_;             // device form: the weight dequantized once, in dtype_
  std::string dense_reason_;
};

}  // namespace g4u::quant
