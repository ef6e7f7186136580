#include "experiments/adamw.h"

#include "base/error.h"
#include "model/io/safetensors.h"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <sstream>
#include <type_traits>

namespace g4u::experiments {
namespace {

using torch::optim::AdamWParamState;
using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

// LibTorch keys a parameter's state by its TensorImpl: the address printed to a string in 1.x
// (c10::guts::to_string), the pointer itself in 2.x.
template <typename Key>
Key state_key_of(const torch::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream printed;
    printed << param.unsafeGetTensorImpl();
    return printed.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

StateMap::key_type state_key(const torch::Tensor& param) { return state_key_of<StateMap::key_type>(param); }

std::vector<torch::optim::OptimizerParamGroup> param_groups(const NamedParameters& params, const AdamWOptions& o,
                                                            const std::function<bool(const std::string&)>& decay) {
  std::vector<torch::Tensor> decayed, not_decayed;
  std::set<const void*> seen;
  for (const auto& [name, p] : params) {
    // Tied weights listed twice would be stepped twice per step.
    G4U_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, "parameter '{}' is listed twice", name);
    (decay(name) ? decayed : not_decayed).push_back(p);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (auto* group : {&decayed, &not_decayed}) {
    if (group->empty()) continue;
    auto options = std::make_unique<torch::optim::AdamWOptions>();
    options->betas(std::make_tuple(o.beta1, o.beta2)).eps(o.eps).weight_decay(group == &decayed ? o.weight_decay : 0.0);
    groups.emplace_back(*group, std::move(options));
  }
  return groups;
}

torch::optim::AdamWOptions default_options(const AdamWOptions& o) {
  torch::optim::AdamWOptions d;
  d.betas(std::make_tuple(o.beta1, o.beta2)).eps(o.eps).weight_decay(o.weight_decay);
  return d;
}

}  // namespace

NamedAdamW::NamedAdamW(NamedParameters params, const AdamWOptions& options,
                       const std::function<bool(const std::string&)>& decay)
    : params_(std::move(params)), optimizer_(param_groups(params_, options, decay), default_options(options)) {}

void NamedAdamW::step(double lr) {
  for (auto& group : optimizer_.param_groups()) group.options().set_lr(lr);
  optimizer_.step();
  ++steps_;
}

void NamedAdamW::clear_grads() {
  for (auto& [name, p] : params_) p.mutable_grad() = torch::Tensor();
}

std::vector<torch::Tensor> NamedAdamW::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, p] : params_) out.push_back(p);
  return out;
}

std::map<std::string, torch::Tensor> NamedAdamW::state() const {
  std::map<std::string, torch::Tensor> out;
  const auto& all = optimizer_.state();
  for (const auto& [name, p] : params_) {
    auto it = all.find(state_key(p));
    if (it == all.end()) continue;
    const auto& s = static_cast<const AdamWParamState&>(*it->second);
    out[name + ".exp_avg"] = s.exp_avg();
    out[name + ".exp_avg_sq"] = s.exp_avg_sq();
    out[name + ".step"] = torch::tensor(s.step(), torch::kInt64);
  }
  out["step"] = torch::tensor(steps_, torch::kInt64);
  return out;
}

void NamedAdamW::load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used = {"step"};
  auto entry = [&](const std::string& key, const torch::Tensor& like) -> torch::Tensor {
    auto it = state.find(key);
    if (it == state.end())
      throw_input("{}: optimizer state '{}' is missing (a checkpoint of an older g4u cannot be resumed)", where, key);
    if (it->second.sizes() != like.sizes())
      throw_input("{}: optimizer state '{}' has shape [{}], the parameter [{}]", where, key,
                  fmt::join(it->second.sizes(), ", "), fmt::join(like.sizes(), ", "));
    used.insert(key);
    return it->second;
  };
  auto& all = optimizer_.state();
  for (const auto& [name, p] : params_) {
    all.erase(state_key(p));
    if (!state.count(name + ".exp_avg")) continue;
    auto s = std::make_unique<AdamWParamState>();
    s->exp_avg(entry(name + ".exp_avg", p).to(p.options()).clone());
    s->exp_avg_sq(entry(name + ".exp_avg_sq", p).to(p.options()).clone());
    s->step(entry(name + ".step", torch::empty({})).to(torch::kInt64).item<int64_t>());
    all[state_key(p)] = std::move(s);
  }
  auto step = state.find("step");
  if (step == state.end() || step->second.numel() != 1) throw_input("{}: optimizer state 'step' is missing", where);
  steps_ = step->second.to(torch::kInt64).item<int64_t>();
  for (const auto& [key, t] : state)
    if (!used.count(key)) throw_input("{}: optimizer state '{}' belongs to no parameter", where, key);
}

void NamedAdamW::save(const std::string& path) const {
  auto s = state();
  model::save_safetensors(path, {s.begin(), s.end()}, {{"format", "g4u-adamw"}});
}

void NamedAdamW::load(const std::string& path) {
  auto file = model::SafetensorsFile::open(path);
  std::map<std::string, torch::Tensor> s;
  for (const auto& t : file->tensors()) s[t.name] = file->load(t);
  load_state(s, path);
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
