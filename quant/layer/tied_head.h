// TiedBf16Head: the tied LM head of a model that runs in fp32 while its token table stays in the
// checkpoint's bf16. load_quantized_model sets it up (quant/io/checkpoint.h): the tensor policy keeps
// the table in its source dtype (quant/layer/policy.h), and widening bf16 to fp32 is exact, so the
// logits equal those of the fp32 table up to fp32 summation order. A decoded token then reads half
// the head's bytes (for the medium preset at q4 the fp32 table was 268 MB of the ~700 MB a token
// reads), and the table takes half the memory.
//
// forward(x [..., H]) with the table E [V, H], read from the Embedding module at every call (so it
// follows Module::to):
//   E's dtype == x's dtype            -> model::linear_rows(x, E), as without this head;
//   CPU, fp32 x, bf16 E, one row      -> bf16_matvec (quant/kernels/kernels.h), multi-threaded;
//   CPU, fp32 x, bf16 E, several rows -> E widened to fp32 kSliceRows rows at a time, each slice
//                                        multiplied with LibTorch's GEMM (no full fp32 copy);
//   anything else (another device)     -> torch::linear(x, E converted to x's dtype).
#pragma once

#include "model/text/decoder.h"
#include "model/text/layers.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/kernels/kernels.h"

#include <torch/torch.h>

#include <memory>
#include <string>

namespace g4u::quant {

class TiedBf16Head : public model::Linear {
 public:
  static constexpr int64_t kSliceRows = 4096;

  explicit TiedBf16Head(std::shared_ptr<model::Embedding> table);

  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t in_features() const override { return table_->weight.size(1); }
  int64_t out_features() const override { return table_->weight.size(0); }
  std::string scheme() const override { return "tied-" + std::string(c10::toString(table_->weight.scalar_type())); }
  // The table's bytes; they belong to embed_tokens.weight (count them once).
  int64_t storage_bytes() const override { return table_->weight.numel() * table_->weight.element_size(); }
  torch::ScalarType input_dtype() const override { return torch::kFloat32; }
  // What a single CPU row runs: "bf16-avx512", "bf16-avx2", "bf16-scalar", or "dense" when the
  // table is in the activations' dtype.
  std::string path() const;

  KernelOptions kernel_options;  // threads 0 = torch::get_num_threads() at call time

 private:
  KernelOptions options() const;
  std::shared_ptr<model::Embedding> table_;
};

// Gives `text` its quantized token table `q` (the loaders of quantized checkpoints and GGUF files,
// quantize_in_memory). With `packed_head` and a scheme with a kernel, the table stays packed in one
// QuantLinear that is both the tied head (products on the packed kernels) and the source of the
// lookups, which dequantize only the rows they gather (model::Embedding::use_packed): no dense
// [V, H] copy, the same values as one. Otherwise the table is dequantized into embed_tokens in
// `dtype` and the head is the dense product over it.
void set_quantized_table(model::TextModel& text, QuantizedTensor q, torch::ScalarType dtype, bool packed_head);

}  // namespace g4u::quant
