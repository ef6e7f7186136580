// Building blocks of the Gemma 4 decoder (architecture doc §2.3-§2.10): RMSNorm, RoPE, GELU-tanh,
// soft-capping and the Linear interface that quantized layers implement.
#pragma once

#include "model/io/config.h"

#include <torch/torch.h>

#include <string>

namespace g4u::model {

// y = x * (mean(x^2) + eps)^-0.5 [* w], in fp32 whatever the input dtype (HF uses pow(.., -0.5)),
// then cast back to x's dtype. `weight` undefined = scale-free norm (V-norm, multimodal RMS0).
// Gemma 4 multiplies by the plain weight `w`, not `1 + w` as Gemma 1-3 did.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// GELU with the tanh approximation ("gelu_pytorch_tanh").
torch::Tensor gelu_tanh(const torch::Tensor& x);

// cap * tanh(x / cap), in x's dtype; cap <= 0 returns x.
torch::Tensor soft_cap(const torch::Tensor& x, double cap);

// Inverse RoPE frequencies (fp32, head_dim/2 entries) for one layer type, as HF computes them:
// default: 1 / theta^(2i / (head_dim * partial)), i < head_dim*partial/2;
// proportional: 1 / theta^(2i / head_dim) for i < int(partial * head_dim / 2), then zeros (those
// dimension pairs pass through unrotated).
torch::Tensor rope_inv_freq(const RopeParams& rope, int64_t head_dim);

// cos/sin tables [B, T, head_dim] for integer positions [B, T], computed in fp32 and cast to `dtype`.
std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                     torch::ScalarType dtype);

// NeoX rotate-half RoPE on x [B, heads, T, d] with cos/sin [B, T, d]:
// y = x*cos + rotate_half(x)*sin, rotate_half([x1, x2]) = [-x2, x1] (halves, not interleaved pairs).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// The storage of a large weight (DenseLinear, Embedding) of a module built on this thread: an
// uninitialised fp32 tensor, or, while a DeferredWeights is alive, a one-element placeholder
// broadcast to `shape`. Loaders build under DeferredWeights and then give every weight its
// checkpoint tensor with set_data() (model/io/loader.h), so building the 12B model reserves no
// memory for values that would be overwritten.
torch::Tensor new_weight(at::IntArrayRef shape);

class DeferredWeights {
 public:
  DeferredWeights();
  ~DeferredWeights();
  DeferredWeights(const DeferredWeights&) = delete;
  DeferredWeights& operator=(const DeferredWeights&) = delete;

 private:
  bool previous_;
};

// A placeholder of new_weight (its storage holds fewer elements than its shape).
bool is_placeholder(const torch::Tensor& t);

// A projection y = x W^T (no bias). Dense weights are the reference; g4u::quant provides packed
// 4-bit implementations that replace these modules in place.
class Linear : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  virtual std::string scheme() const = 0;    // "dense" or a quant scheme name
  virtual int64_t storage_bytes() const = 0;  // bytes the weights occupy in memory
  virtual torch::ScalarType input_dtype() const = 0;  // dtype forward() expects
  // Rows `ids` (int64, any shape) of the weight W [out, in], as [ids..., in] in `dtype`. A tied
  // head's weight is the token table, so the lookups can read a packed table through it
  // (Embedding::use_packed). The default throws: not every projection gives access to its rows.
  virtual torch::Tensor weight_rows(const torch::Tensor& ids, torch::ScalarType dtype) const;
};

// x W^T, as torch::linear. A single row (decode) goes through a matrix-vector product instead: on
// the CPU, LibTorch's gemm (OpenBLAS) copies the whole weight into its packed panels even for one
// row, which about doubles the bytes a decode step moves.
torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& weight);

class DenseLinear : public Linear {
 public:
  DenseLinear(int64_t in_features, int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t in_features() const override { return weight.size(1); }
  int64_t out_features() const override { return weight.size(0); }
  std::string scheme() const override { return "dense"; }
  int64_t storage_bytes() const override { return weight.numel() * weight.element_size(); }
  torch::ScalarType input_dtype() const override { return weight.scalar_type(); }
  torch::Tensor weight_rows(const torch::Tensor& ids, torch::ScalarType dtype) const override;

  torch::Tensor weight;  // [out, in]
};

// Token embedding table [V, H] (named like torch.nn.Embedding so the parameter is "<name>.weight").
// A quantized checkpoint's table can instead stay packed behind the tied head (use_packed): each
// lookup then dequantizes only the rows it gathers, and no dense [V, H] copy exists.
class Embedding : public torch::nn::Module {
 public:
  Embedding(int64_t num, int64_t dim) : num_(num), dim_(dim) { weight = register_parameter("weight", new_weight({num, dim})); }

  // E[ids] ([ids..., H]): rows of `weight` in its dtype, or of the packed table in `packed_dtype`.
  torch::Tensor lookup(const torch::Tensor& ids, torch::ScalarType packed_dtype) const;
  // The whole table [V, H] in `dtype` (a new tensor for a packed table): for code that needs the
  // matrix itself, not rows of it (initialising a drafter's head from the table).
  torch::Tensor table(torch::ScalarType dtype) const;
  // Reads the rows from `packed` (a tied head over the quantized table, quant::QuantLinear, whose
  // weight is [V, H]) from now on; `weight` becomes undefined and stops being a parameter, so its
  // memory is freed and Module::to leaves the packed table alone.
  void use_packed(std::shared_ptr<Linear> packed);
  // The packed table, or null while the table is the dense `weight`.
  const std::shared_ptr<Linear>& packed() const { return packed_; }
  int64_t num_embeddings() const { return num_; }
  int64_t embedding_dim() const { return dim_; }

  torch::Tensor weight;  // [V, H]; undefined once packed

 private:
  int64_t num_, dim_;
  std::shared_ptr<Linear> packed_;
};

// RMSNorm with a learned plain scale (ones at init).
class RMSNorm : public torch::nn::Module {
 public:
  RMSNorm(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x) const { return rms_norm(x, weight, eps_); }

  torch::Tensor weight;

 private:
  double eps_;
};

}  // namespace g4u::model
