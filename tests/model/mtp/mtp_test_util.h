// Shared helpers of the MTP / speculative-decoding tests: a tiny target with non-trivial norms, the
// target state a drafter sees at a given position, and a chi-square statistic.
#pragma once

#include "model/mtp/drafter.h"
#include "model/text/kv_cache.h"
#include "model/model.h"

#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace g4u::test {

// Norm weights 1 + 0.3 sin(...) and layer scalars 0.9, so a wrong formula cannot hide behind ones.
inline void perturb_norms(torch::nn::Module& m, double salt) {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters()) {
    const std::string& n = p.key();
    if (n.find("norm") != std::string::npos)
      p.value().copy_(1.0 + 0.3 * torch::sin(torch::arange(p.value().numel(), torch::kFloat32) * 0.7 + salt)
                                      .view(p.value().sizes()));
    if (n.find("layer_scalar") != std::string::npos) p.value().fill_(0.9);
  }
}

inline std::shared_ptr<model::Gemma4Model> tiny_target(uint64_t seed = 7, const std::string& preset = "tiny") {
  auto m = std::make_shared<model::Gemma4Model>(*model::model_preset(preset));
  model::init_random(*m, m->tensor_specs(), seed);
  perturb_norms(*m, static_cast<double>(seed));
  m->eval();
  return m;
}

inline std::vector<int64_t> some_ids(int64_t n, int64_t vocab, int64_t salt = 0) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(32 + (37 * i + 11 + salt * 101) % (vocab - 32));
  return ids;
}

// The target after processing tokens[0, p): its cache (with a rollback margin), the post-norm
// hidden rows, and tokens[0, p] (tokens[p] is the round's x).
struct PreparedState {
  std::unique_ptr<model::KVCache> cache;
  std::vector<int64_t> tokens;
  torch::Tensor hidden;
  model::TargetState state(model::Gemma4Model& target) {
    return model::TargetState{&target, cache.get(), &tokens, hidden, static_cast<int64_t>(tokens.size()) - 1};
  }
};

inline PreparedState prepare(model::Gemma4Model& target, const std::vector<int64_t>& seq, int64_t p) {
  torch::NoGradGuard ng;
  PreparedState s;
  s.cache = std::make_unique<model::KVCache>(target.config().text, 1, target.dtype(), 16);
  s.tokens.assign(seq.begin(), seq.begin() + p + 1);
  torch::Tensor ids = torch::tensor(std::vector<int64_t>(seq.begin(), seq.begin() + p)).view({1, p});
  auto out = target.text().forward(target.text().embed(ids), torch::ones({1, p}, torch::kBool), *s.cache);
  s.hidden = out.hidden[0];
  return s;
}

// Pearson chi-square of observed counts against expected probabilities, cells with expected count
// < 5 pooled into one; returns {statistic, degrees of freedom}.
inline std::pair<double, int> chi_square(const std::vector<int64_t>& observed, const std::vector<double>& expected_p) {
  int64_t n = 0;
  for (auto o : observed) n += o;
  double stat = 0, pool_o = 0, pool_e = 0;
  int cells = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    double e = expected_p[i] * static_cast<double>(n);
    if (e < 5) {
      pool_o += static_cast<double>(observed[i]);
      pool_e += e;
      continue;
    }
    stat += (observed[i] - e) * (observed[i] - e) / e;
    ++cells;
  }
  if (pool_e > 0) {
    stat += (pool_o - pool_e) * (pool_o - pool_e) / std::max(pool_e, 1e-9);
    ++cells;
  }
  return {stat, std::max(1, cells - 1)};
}

// Upper 0.1 % point of chi-square with `df` degrees of freedom (Wilson-Hilferty).
inline double chi_square_999(int df) {
  const double z = 3.0902, k = df;
  double t = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * t * t * t;
}

}  // namespace g4u::test
