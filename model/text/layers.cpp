#include "model/text/layers.h"

#include "base/error.h"

namespace g4u::model {

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  torch::Tensor xf = x.to(torch::kFloat32);
  torch::Tensor y = xf * torch::pow(xf.pow(2).mean(-1, /*keepdim=*/true) + eps, -0.5);
  if (weight.defined()) y = y * weight.to(torch::kFloat32);
  return y.to(x.scalar_type());
}

torch::Tensor gelu_tanh(const torch::Tensor& x) { return torch::gelu(x, "tanh"); }

torch::Tensor soft_cap(const torch::Tensor& x, double cap) {
  if (cap <= 0) return x;
  return torch::tanh(x / cap) * cap;
}

torch::Tensor rope_inv_freq(const RopeParams& rope, int64_t head_dim) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  if (rope.type == "proportional") {
    // int(partial * head_dim // 2) angles rotate; the exponent's denominator is the full head_dim.
    int64_t angles = static_cast<int64_t>(rope.partial_rotary_factor * head_dim / 2);
    torch::Tensor rotated =
        1.0 / torch::pow(rope.theta, torch::arange(0, 2 * angles, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) / head_dim);
    int64_t nope = head_dim / 2 - angles;
    if (nope > 0) rotated = torch::cat({rotated, torch::zeros({nope}, f32)});
    return rotated;
  }
  G4U_CHECK(rope.type == "default", "unknown rope type {}", rope.type);
  int64_t dim = static_cast<int64_t>(head_dim * rope.partial_rotary_factor);
  return 1.0 / torch::pow(rope.theta, torch::arange(0, dim, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) / dim);
}

std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                     torch::ScalarType dtype) {
  // freqs[b, t, i] = pos[b, t] * inv_freq[i]: one fp32 product per entry, as HF's outer product.
  torch::Tensor freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq.view({1, 1, -1});
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  torch::Tensor rotated = torch::cat({-x2, x1}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

namespace {
thread_local bool weights_deferred = false;
}  // namespace

DeferredWeights::DeferredWeights() : previous_(weights_deferred) { weights_deferred = true; }
DeferredWeights::~DeferredWeights() { weights_deferred = previous_; }

torch::Tensor new_weight(at::IntArrayRef shape) {
  if (!weights_deferred) return torch::empty(shape);
  return torch::empty({1}).expand(shape);
}

bool is_placeholder(const torch::Tensor& t) {
  return t.defined() && t.numel() > 1 &&
         t.storage().nbytes() < static_cast<size_t>(t.numel()) * static_cast<size_t>(t.element_size());
}

DenseLinear::DenseLinear(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", new_weight({out_features, in_features}));
}

torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& weight) {
  if (x.dim() == 0 || x.numel() != x.size(-1) || !x.device().is_cpu()) return torch::linear(x, weight);
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  return torch::mv(weight, x.reshape({x.size(-1)})).view(sizes);
}

torch::Tensor DenseLinear::forward(const torch::Tensor& x) { return linear_rows(x, weight); }

torch::Tensor Linear::weight_rows(const torch::Tensor&, torch::ScalarType) const {
  G4U_CHECK(false, "a {} projection gives no access to its weight's rows", scheme());
  return {};
}

torch::Tensor DenseLinear::weight_rows(const torch::Tensor& ids, torch::ScalarType dtype) const {
  return torch::embedding(weight, ids).to(dtype);
}

torch::Tensor Embedding::lookup(const torch::Tensor& ids, torch::ScalarType packed_dtype) const {
  return packed_ ? packed_->weight_rows(ids, packed_dtype) : torch::embedding(weight, ids);
}

torch::Tensor Embedding::table(torch::ScalarType dtype) const {
  if (!packed_) return weight.to(dtype);
  return packed_->weight_rows(torch::arange(num_, torch::kInt64), dtype);
}

void Embedding::use_packed(std::shared_ptr<Linear> packed) {
  G4U_CHECK(packed && packed->out_features() == num_ && packed->in_features() == dim_,
            "a packed token table must be [{}, {}]", num_, dim_);
  packed_ = std::move(packed);
  // The registered entry is the parameter: an undefined one is skipped by named_parameters(),
  // Module::to() and the optimizers, and the dense storage is released with the last reference.
  parameters_["weight"] = torch::Tensor();
  weight = torch::Tensor();
}

RMSNorm::RMSNorm(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

}  // namespace g4u::model
