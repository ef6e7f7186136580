#include "model/mtp/speculative.h"
#include "model/io/sysinfo.h"

#include "base/error.h"
#include "base/rng.h"

#include <algorithm>
#include <chrono>

namespace g4u::model {
namespace {

// The drafter draws from its own stream so that the target's stream (acceptance uniforms,
// residual and bonus draws) does not depend on how many draws a drafter made.
uint64_t draft_seed(uint64_t seed) { return splitmix64(seed); }

// Rows of the per-slot hidden states, grown by doubling.
class HiddenRows {
 public:
  void append(const torch::Tensor& rows) {  // [n, H]
    const int64_t n = rows.size(0);
    if (!buf_.defined() || len_ + n > buf_.size(0)) {
      torch::Tensor grown = torch::empty({std::max<int64_t>(2 * (buf_.defined() ? buf_.size(0) : 0), len_ + n), rows.size(1)},
                                         rows.options());
      if (len_) grown.narrow(0, 0, len_).copy_(buf_.narrow(0, 0, len_));
      buf_ = grown;
    }
    buf_.narrow(0, len_, n).copy_(rows);
    len_ += n;
  }
  torch::Tensor view() const { return buf_.narrow(0, 0, len_); }

 private:
  torch::Tensor buf_;
  int64_t len_ = 0;
};

}  // namespace

KSchedule parse_k_schedule(const std::string& name) {
  if (name == "fixed") return KSchedule::kFixed;
  if (name == "heuristic") return KSchedule::kHeuristic;
  throw_input("--k-schedule {}: unknown schedule (fixed, heuristic)", name);
}

const char* k_schedule_name(KSchedule s) { return s == KSchedule::kFixed ? "fixed" : "heuristic"; }

std::vector<double> SpeculativeStats::per_position_acceptance() const {
  std::vector<double> out;
  for (size_t j = 0; j < position_drafted.size(); ++j)
    out.push_back(rounds ? static_cast<double>(position_accepted[j]) / static_cast<double>(rounds) : 0.0);
  return out;
}

void SpeculativeStats::add(const SpeculativeStats& other) {
  rounds += other.rounds;
  drafted += other.drafted;
  accepted += other.accepted;
  plain_steps += other.plain_steps;
  k_used.insert(k_used.end(), other.k_used.begin(), other.k_used.end());
  if (position_drafted.size() < other.position_drafted.size()) {
    position_drafted.resize(other.position_drafted.size(), 0);
    position_accepted.resize(other.position_drafted.size(), 0);
  }
  for (size_t i = 0; i < other.position_drafted.size(); ++i) {
    position_drafted[i] += other.position_drafted[i];
    position_accepted[i] += other.position_accepted[i];
  }
}

nlohmann::json acceptance_json(const SpeculativeStats& s) {
  double mean_k = 0;
  for (int64_t k : s.k_used) mean_k += static_cast<double>(k);
  if (!s.k_used.empty()) mean_k /= static_cast<double>(s.k_used.size());
  return {{"acceptance_rate", s.acceptance_rate()},
          {"tau", s.tau()},
          {"tau_includes_bonus_token", true},
          {"per_position_acceptance", s.per_position_acceptance()},
          {"position_drafted", s.position_drafted},
          {"position_accepted", s.position_accepted},
          {"rounds", s.rounds},
          {"drafted", s.drafted},
          {"accepted", s.accepted},
          {"mean_k", mean_k}};
}

std::optional<double> break_even_acceptance(int64_t k, double round_cost_in_steps) {
  G4U_CHECK(k >= 1, "break_even_acceptance: k = {}", k);
  if (!(round_cost_in_steps > 1.0)) return 0.0;
  if (round_cost_in_steps > static_cast<double>(k + 1)) return std::nullopt;
  // Tokens a round yields, 1 + a + ... + a^k, increase with a on [0, 1]: bisect.
  auto yield = [k](double a) {
    double sum = 0, power = 1;
    for (int64_t i = 0; i <= k; ++i, power *= a) sum += power;
    return sum;
  };
  double lo = 0, hi = 1;
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    (yield(mid) < round_cost_in_steps ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Verdict accept_greedy(const std::vector<int64_t>& draft, const std::vector<int64_t>& target_choice) {
  G4U_CHECK(target_choice.size() == draft.size() + 1, "{} choices for {} drafts", target_choice.size(), draft.size());
  Verdict v;
  while (v.accepted < static_cast<int64_t>(draft.size()) && draft[v.accepted] == target_choice[v.accepted]) ++v.accepted;
  v.next = target_choice[v.accepted];
  return v;
}

Verdict accept_speculative(const std::vector<int64_t>& draft, const std::vector<std::vector<float>>& q,
                           const std::vector<std::vector<float>>& p, Sampler& rng) {
  const size_t k = draft.size();
  G4U_CHECK(q.size() == k && p.size() == k + 1, "{} q rows and {} p rows for {} drafts", q.size(), p.size(), k);
  Verdict v;
  for (size_t i = 0; i < k; ++i) {
    const int64_t d = draft[i];
    const double pd = p[i].at(d), qd = q[i].at(d);
    G4U_CHECK(qd > 0, "draft token {} has q = 0: it was not drawn from q", d);
    // Accept with probability min(1, p/q): u < p/q with u uniform in [0, 1).
    if (rng.uniform() * qd < pd) {
      ++v.accepted;
      continue;
    }
    // Rejected: draw from normalise(max(0, p - q)). It has mass whenever p(d) < q(d); if rounding
    // left none, p itself is the exact fallback (the residual is then p up to rounding).
    std::vector<double> r(p[i].size());
    double sum = 0;
    for (size_t x = 0; x < r.size(); ++x) sum += (r[x] = std::max(0.0, static_cast<double>(p[i][x]) - q[i][x]));
    if (!(sum > 0)) {
      v.next = rng.draw(p[i]);
      return v;
    }
    std::vector<float> rf(r.size());
    for (size_t x = 0; x < r.size(); ++x) rf[x] = static_cast<float>(r[x] / sum);
    v.next = rng.draw(rf);
    return v;
  }
  v.next = rng.draw(p[k]);  // all accepted: the bonus token
  return v;
}

SpeculativeResult speculative_generate(Gemma4Model& target, Drafter& drafter, const std::vector<int64_t>& prompt,
                                       const SpeculativeOptions& opt, const PrefillFn& prefill) {
  if (opt.k < 1) throw_input("--k {}: the draft length must be >= 1", opt.k);
  if (opt.k_max < opt.k) throw_input("--k-max {}: must be >= --k {}", opt.k_max, opt.k);
  if (prompt.empty()) throw_input("the prompt is empty");
  torch::NoGradGuard no_grad;
  const ModelConfig& cfg = target.config();
  TextModel& text = target.text();
  const int64_t V = cfg.text.vocab_size;
  for (int64_t id : prompt)
    if (id < 0 || id >= V) throw_input("prompt token {} outside the vocabulary [0, {})", id, V);
  std::vector<int64_t> stops = opt.stop_ids;
  if (opt.use_config_stop_ids) stops.insert(stops.end(), cfg.text.eos_token_ids.begin(), cfg.text.eos_token_ids.end());
  auto is_stop = [&](int64_t t) { return std::find(stops.begin(), stops.end(), t) != stops.end(); };

  SpeculativeResult r;
  r.timing.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (opt.max_new_tokens <= 0) return r;

  Sampler target_sampler(opt.sampling, cfg.suppress_tokens);
  SamplingParams dp = opt.sampling;
  dp.seed = draft_seed(opt.sampling.seed);
  Sampler draft_sampler(dp, cfg.suppress_tokens);
  // k_max + 1 extra sliding slots: a crop of up to k_max slots stays exact, and after it the
  // drafter still finds the W newest positions < p.
  KVCache cache(cfg.text, 1, target.dtype(), opt.k_max + 1);
  drafter.reset();
  std::vector<int64_t> seq = prompt;
  HiddenRows hidden;
  bool done = false;
  auto emit = [&](int64_t t) {
    r.tokens.push_back(t);
    seq.push_back(t);
    if (is_stop(t)) {
      r.stopped = true;
      done = true;
    } else if (static_cast<int64_t>(r.tokens.size()) >= opt.max_new_tokens) {
      done = true;
    }
  };
  // On the host for the samplers, as in plain generation (model/text/generate.cpp).
  auto logits_rows = [&](const torch::Tensor& h) { return text.logits(h).to(torch::kCPU, torch::kFloat32).contiguous(); };

  // Prefill and the first token, exactly as plain generation.
  double t0 = now_seconds();
  const int64_t P = static_cast<int64_t>(prompt.size());
  torch::Tensor ids = torch::tensor(prompt, torch::kInt64).view({1, P});
  torch::Tensor valid = torch::ones({1, P}, torch::kBool);
  PrefillInputs in = prefill ? prefill(ids) : PrefillInputs{text.embed(ids), {}};
  ForwardResult out = text.forward(in.embeds, valid, cache, in.options);
  hidden.append(out.hidden[0]);
  torch::Tensor first = logits_rows(out.hidden[0][P - 1]);
  emit(target_sampler.sample(first.data_ptr<float>(), V));
  r.timing.prefill_seconds = now_seconds() - t0;

  double t_decode = now_seconds();
  int64_t k_cur = opt.k;
  SpeculativeStats& st = r.stats;
  while (!done) {
    const double t_round = now_seconds();
    const int64_t p = cache.length();
    G4U_CHECK(static_cast<int64_t>(seq.size()) == p + 1, "sequence {} vs cache {}", seq.size(), p);
    const int64_t remaining = opt.max_new_tokens - static_cast<int64_t>(r.tokens.size());
    // A round emits up to k + 1 tokens; never draft past max_new_tokens.
    const int64_t kk = std::min({k_cur, remaining - 1, drafter.max_draft()});
    Draft d;
    if (kk > 0) {
      double td = now_seconds();
      TargetState state{&target, &cache, &seq, hidden.view(), p};
      d = drafter.draft(state, DraftRequest{kk, &stops, &draft_sampler});
      r.draft_seconds += now_seconds() - td;
      G4U_CHECK(!d.tokens.empty() && static_cast<int64_t>(d.tokens.size()) <= kk, "drafter returned {} of {} tokens",
                d.tokens.size(), kk);
      G4U_CHECK(target_sampler.greedy() || d.q.size() == d.tokens.size(), "drafter returned {} q rows for {} tokens",
                d.q.size(), d.tokens.size());
    }
    const int64_t nd = static_cast<int64_t>(d.tokens.size());

    // Verify: one target pass over [x, d_1..d_nd] at slots p..p+nd.
    double tv = now_seconds();
    std::vector<int64_t> vids{seq.back()};
    vids.insert(vids.end(), d.tokens.begin(), d.tokens.end());
    torch::Tensor vt = torch::tensor(vids, torch::kInt64).view({1, nd + 1});
    ForwardResult vo = text.forward(text.embed(vt), torch::ones({1, nd + 1}, torch::kBool), cache);
    torch::Tensor logits = logits_rows(vo.hidden[0]);  // [nd + 1, V]
    Verdict v;
    if (target_sampler.greedy()) {
      std::vector<int64_t> choice;
      for (int64_t i = 0; i <= nd; ++i) choice.push_back(target_sampler.sample(logits[i].data_ptr<float>(), V));
      v = accept_greedy(d.tokens, choice);
    } else {
      std::vector<std::vector<float>> pd;
      for (int64_t i = 0; i <= nd; ++i) pd.push_back(target_sampler.distribution(logits[i].data_ptr<float>(), V));
      v = accept_speculative(d.tokens, d.q, pd, target_sampler);
    }
    // Roll back the rejected candidates; keep the hidden states of x, d_1..d_n.
    cache.crop(p + 1 + v.accepted);
    hidden.append(vo.hidden[0].narrow(0, 0, v.accepted + 1));
    r.verify_seconds += now_seconds() - tv;

    if (nd > 0) {
      ++st.rounds;
      st.drafted += nd;
      st.accepted += v.accepted;
      st.k_used.push_back(nd);
      if (static_cast<int64_t>(st.position_drafted.size()) < nd) {
        st.position_drafted.resize(nd, 0);
        st.position_accepted.resize(nd, 0);
      }
      for (int64_t j = 0; j < nd; ++j) {
        ++st.position_drafted[j];
        if (j < v.accepted) ++st.position_accepted[j];
      }
      if (opt.schedule == KSchedule::kHeuristic)
        k_cur = v.accepted == nd ? std::min(opt.k_max, k_cur + 2) : std::max<int64_t>(1, k_cur - 1);
    } else {
      ++st.plain_steps;
    }
    for (int64_t i = 0; i < v.accepted && !done; ++i) emit(d.tokens[i]);
    if (!done) emit(v.next);
    if (opt.on_round) opt.on_round(cache, seq);
    r.timing.token_seconds.push_back(now_seconds() - t_round);
  }
  r.timing.decode_seconds = now_seconds() - t_decode;
  r.timing.generated_tokens = static_cast<int64_t>(r.tokens.size());
  r.kv_cache_bytes = cache.bytes();
  return r;
}

}  // namespace g4u::model
