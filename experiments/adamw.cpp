#include "experiments/adamw.h"

#include "base/error.h"

#include <cmath>

namespace g4u::experiments {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options,
             const std::function<bool(const std::string&)>& decay)
    : opt_(options) {
  for (auto& [name, p] : params) {
    Slot s;
    s.name = name;
    s.param = p;
    s.exp_avg = torch::zeros_like(p);
    s.exp_avg_sq = torch::zeros_like(p);
    s.decay = decay(name);
    slots_.push_back(std::move(s));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  ++t_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(t_));
  for (auto& s : slots_) {
    torch::Tensor g = s.param.grad();
    if (!g.defined()) g = torch::zeros_like(s.param);
    if (s.decay && opt_.weight_decay != 0) s.param.mul_(1.0 - lr * opt_.weight_decay);
    s.exp_avg.mul_(opt_.beta1).add_(g, 1.0 - opt_.beta1);
    s.exp_avg_sq.mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
    torch::Tensor denom = (s.exp_avg_sq / bc2).sqrt_().add_(opt_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / bc1);
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    torch::Tensor g = s.param.mutable_grad();
    if (g.defined()) g.zero_();
  }
}

std::map<std::string, torch::Tensor> AdamW::state() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& s : slots_) {
    out[s.name + ".exp_avg"] = s.exp_avg;
    out[s.name + ".exp_avg_sq"] = s.exp_avg_sq;
  }
  out["step"] = torch::tensor(t_, torch::kInt64);
  return out;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where) {
  torch::NoGradGuard ng;
  auto get = [&](const std::string& key, const torch::Tensor& like) -> torch::Tensor {
    auto it = state.find(key);
    if (it == state.end()) throw_input("{}: optimizer state '{}' is missing", where, key);
    if (it->second.sizes() != like.sizes())
      throw_input("{}: optimizer state '{}' has {} elements in shape of rank {}, expected {}", where, key,
                  it->second.numel(), it->second.dim(), like.numel());
    return it->second;
  };
  for (auto& s : slots_) {
    s.exp_avg.copy_(get(s.name + ".exp_avg", s.exp_avg));
    s.exp_avg_sq.copy_(get(s.name + ".exp_avg_sq", s.exp_avg_sq));
  }
  auto it = state.find("step");
  if (it == state.end() || it->second.numel() != 1) throw_input("{}: optimizer state 'step' is missing", where);
  t_ = it->second.to(torch::kInt64).item<int64_t>();
}

bool decays_by_default(const std::string& name) {
  return name.find("norm") == std::string::npos && name.find("bias") == std::string::npos &&
         name.find("layer_scalar") == std::string::npos;
}

double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double peak, double min_ratio) {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t span = std::max<int64_t>(1, total - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(span));
  const double min_lr = peak * min_ratio;
  return min_lr + 0.5 * (peak - min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace g4u::experiments
