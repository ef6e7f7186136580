#include "eval/perplexity/perplexity.h"

#include "model/text/generate.h"

#include "base/error.h"
#include "base/json_util.h"
#include "quant/io/checkpoint.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <cmath>

namespace g4u::quant {

std::vector<std::vector<int64_t>> ppl_chunks(const std::vector<int64_t>& tokens, int64_t n_ctx, int64_t bos,
                                             int64_t max_chunks) {
  if (n_ctx < 4) throw_input("--ctx {}: must be at least 4", n_ctx);
  const int64_t n = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (n == 0) throw_input("--data: {} tokens, fewer than one chunk of --ctx {}", tokens.size(), n_ctx);
  const int64_t use = max_chunks > 0 ? std::min(n, max_chunks) : n;
  std::vector<std::vector<int64_t>> out;
  for (int64_t c = 0; c < use; ++c) {
    std::vector<int64_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
    if (bos >= 0) chunk[0] = bos;
    out.push_back(std::move(chunk));
  }
  return out;
}

void PerplexityStats::add_chunk(const torch::Tensor& logits, const std::vector<int64_t>& chunk,
                                const torch::Tensor& base_logits) {
  const int64_t T = static_cast<int64_t>(chunk.size());
  G4U_CHECK(logits.dim() == 2 && logits.size(0) == T, "logits {} for a chunk of {}", logits.sizes(), T);
  G4U_CHECK(!base_logits.defined() || base_logits.sizes() == logits.sizes(), "base logits {} vs {}",
            base_logits.sizes(), logits.sizes());
  G4U_CHECK(count() == 0 || has_base() == base_logits.defined(), "mixing chunks with and without base");
  const int64_t first = T / 2, last = T - 2;  // inclusive
  if (last < first) return;
  const int64_t n = last - first + 1;
  torch::Tensor targets = torch::tensor(std::vector<int64_t>(chunk.begin() + first + 1, chunk.begin() + last + 2));
  auto scored = [&](const torch::Tensor& l) {
    return torch::log_softmax(l.narrow(0, first, n).to(torch::kFloat64), -1);  // [n, V]
  };
  torch::Tensor lp = scored(logits);
  torch::Tensor lp_t = lp.gather(1, targets.view({n, 1})).view({n});
  auto lpa = lp_t.accessor<double, 1>();
  torch::Tensor kl, lpb_t, same;
  if (base_logits.defined()) {
    torch::Tensor lpb = scored(base_logits);
    kl = (lpb.exp() * (lpb - lp)).sum(-1);
    lpb_t = lpb.gather(1, targets.view({n, 1})).view({n});
    same = logits.narrow(0, first, n).argmax(-1) == base_logits.narrow(0, first, n).argmax(-1);
  }
  for (int64_t i = 0; i < n; ++i) nll_.push_back(-lpa[i]);
  if (base_logits.defined()) {
    torch::Tensor same_u8 = same.to(torch::kUInt8);
    auto lba = lpb_t.accessor<double, 1>();
    auto kla = kl.accessor<double, 1>();
    auto sa = same_u8.accessor<uint8_t, 1>();
    for (int64_t i = 0; i < n; ++i) {
      nll_base_.push_back(-lba[i]);
      kl_.push_back(kla[i]);
      dp_.push_back(std::exp(lpa[i]) - std::exp(lba[i]));
      same_top_.push_back(sa[i]);
    }
  }
}

double percentile(std::vector<double> v, double p) {
  G4U_CHECK(!v.empty(), "percentile of nothing");
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// Uncertainty of the mean: sqrt((E[x^2] - E[x]^2) / (n - 1)).
double u_mean(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double m = mean(v), m2 = 0;
  for (double x : v) m2 += x * x;
  m2 /= static_cast<double>(v.size());
  return std::sqrt(std::max(0.0, m2 - m * m) / static_cast<double>(v.size() - 1));
}

nlohmann::json percentiles(const std::vector<double>& v, const std::vector<std::pair<const char*, double>>& which) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, p] : which) j[name] = percentile(v, p);
  return j;
}

}  // namespace

double PerplexityStats::ppl() const { return std::exp(mean(nll_)); }

nlohmann::json PerplexityStats::summary() const {
  const double n = static_cast<double>(count());
  nlohmann::json j = {{"scored_tokens", count()}};
  if (count() == 0) return j;
  const double mq = mean(nll_), uq = u_mean(nll_);
  const double pq = std::exp(mq);
  j["ppl"] = {{"value", pq}, {"uncertainty", pq * uq}};
  j["mean_nll"] = mq;
  // llama.cpp prints the statistics only from 100 scored tokens on; we always compute them and flag it.
  j["enough_tokens"] = count() >= 100;
  if (!has_base()) return j;
  const double mb = mean(nll_base_), ub = u_mean(nll_base_);
  const double pb = std::exp(mb);
  double e_qb = 0;
  for (size_t i = 0; i < nll_.size(); ++i) e_qb += nll_[i] * nll_base_[i];
  e_qb /= n;
  const double cov = n > 1 ? (e_qb - mq * mb) / (n - 1) : 0;
  const double u_ln = std::sqrt(std::max(0.0, uq * uq + ub * ub - 2 * cov));
  const double ratio = std::exp(mq - mb);
  j["ppl_base"] = {{"value", pb}, {"uncertainty", pb * ub}};
  j["cor_ln_ppl"] = uq > 0 && ub > 0 ? cov / (uq * ub) : 1.0;
  j["mean_ln_ppl_ratio"] = {{"value", mq - mb}, {"uncertainty", u_ln}};
  j["ppl_ratio"] = {{"value", ratio}, {"uncertainty", ratio * u_ln}};
  j["ppl_diff"] = {{"value", pq - pb},
                   {"uncertainty", std::sqrt(std::max(0.0, pq * uq * pq * uq + pb * ub * pb * ub - 2 * pq * pb * cov))}};
  j["kld"] = {{"mean", mean(kl_)}, {"uncertainty", u_mean(kl_)}};
  j["kld"]["percentiles"] = percentiles(kl_, {{"max", 1.0}, {"99.9", 0.999}, {"99.0", 0.99}, {"95.0", 0.95},
                                              {"90.0", 0.90}, {"median", 0.5}, {"10.0", 0.10}, {"5.0", 0.05},
                                              {"1.0", 0.01}, {"0.1", 0.001}, {"min", 0.0}});
  j["delta_p"] = {{"mean", mean(dp_)}, {"uncertainty", u_mean(dp_)}};
  j["delta_p"]["percentiles"] =
      percentiles(dp_, {{"max", 1.0}, {"99.9", 0.999}, {"99.0", 0.99}, {"95.0", 0.95}, {"90.0", 0.90}, {"75.0", 0.75},
                        {"median", 0.5}, {"25.0", 0.25}, {"10.0", 0.10}, {"5.0", 0.05}, {"1.0", 0.01},
                        {"0.1", 0.001}, {"min", 0.0}});
  std::vector<double> dp2(dp_.size());
  for (size_t i = 0; i < dp_.size(); ++i) dp2[i] = dp_[i] * dp_[i];
  const double rms = std::sqrt(mean(dp2));
  j["delta_p"]["rms"] = {{"value", rms}, {"uncertainty", rms > 0 ? 0.5 / rms * u_mean(dp2) : 0.0}};
  double same = 0;
  for (uint8_t s : same_top_) same += s;
  const double f = same / n;
  j["same_top"] = {{"fraction", f}, {"uncertainty", n > 1 ? std::sqrt(f * (1 - f) / (n - 1)) : 0.0}};
  return j;
}

PerplexityStats run_perplexity(model::Gemma4Model& m, model::Gemma4Model* base,
                               const std::vector<std::vector<int64_t>>& chunks,
                               const std::function<void(int64_t, double)>& progress) {
  torch::NoGradGuard ng;
  PerplexityStats st;
  auto logits_of = [](model::Gemma4Model& mm, const std::vector<int64_t>& chunk) {
    torch::Tensor ids = torch::tensor(chunk).view({1, -1});
    auto r = mm.text().forward(mm.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr);
    return mm.text().logits(r.hidden)[0].to(torch::kCPU, torch::kFloat32);  // scored on the host
  };
  for (size_t c = 0; c < chunks.size(); ++c) {
    torch::Tensor l = logits_of(m, chunks[c]);
    torch::Tensor b = base ? logits_of(*base, chunks[c]) : torch::Tensor();
    st.add_chunk(l, chunks[c], b);
    if (progress) progress(static_cast<int64_t>(c), st.ppl());
  }
  return st;
}

nlohmann::json measure_perplexity(const PerplexityRun& run, const ModelSourceLoader& load,
                                  const std::function<void(int64_t, double)>& progress, const ModelSourceLoader& load_base) {
  if (run.chunks < 0) throw_input("chunks {}: must be >= 0", run.chunks);
  const std::string text = read_text_file(run.data);
  model::LoadedModel lm = load(run.model);
  if (!run.quant.empty()) quantize_in_memory(*lm.model, run.quant, 0, run.packed_head);
  std::unique_ptr<model::LoadedModel> base;
  if (!run.kl_base.empty()) {
    base = std::make_unique<model::LoadedModel>(load_base ? load_base(run.kl_base) : load(run.kl_base));
    if (base->model->config().text.vocab_size != lm.model->config().text.vocab_size)
      throw_input("KL base {}: vocabulary {} differs from the model's {}", run.kl_base,
                  base->model->config().text.vocab_size, lm.model->config().text.vocab_size);
  }
  std::vector<int64_t> tokens = lm.tokenizer->encode(text);
  auto chunks = ppl_chunks(tokens, run.ctx, lm.model->config().text.bos_token_id, run.chunks);
  // One chunk's forward pass must fit, with fp32 logits and their log-softmax for every position
  // (the KL base's as well).
  model::check_fits_memory(lm.model->config().text, 1, run.ctx, 0, run.ctx * (base ? 4 : 2),
                           c10::elementSize(lm.model->dtype()), fmt::format("--ctx {}", run.ctx));
  auto t0 = std::chrono::steady_clock::now();
  PerplexityStats st = run_perplexity(*lm.model, base ? base->model.get() : nullptr, chunks, progress);
  nlohmann::json j = st.summary();
  j["model"] = lm.source;
  j["quant"] = run.quant.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.quant);
  j["kl_base"] = run.kl_base.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.kl_base);
  if (base) j["kl_base_dtype"] = base->model->dtype() == torch::kBFloat16 ? "bf16" : "fp32";
  j["data"] = run.data;
  j["ctx"] = run.ctx;
  j["chunks"] = chunks.size();
  j["text_tokens"] = tokens.size();
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return j;
}

}  // namespace g4u::quant
