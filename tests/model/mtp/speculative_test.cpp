// Speculative decoding: the acceptance rules by hand, greedy speculative == plain greedy (every
// drafter, many prompts and k, rejections at every position, the sliding window crossed), the
// metrics' bookkeeping, the statistical exactness of speculative sampling, and KV rollback.
#include "model/mtp/drafter.h"
#include "base/error.h"
#include "model/text/generate.h"
#include "model/mtp/speculative.h"
#include "model/mtp/mtp_test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <random>

using namespace g4u::model;
using g4u::test::some_ids;
using g4u::test::tiny_target;

namespace {

// Proposes the plain-greedy continuation `reference` (prompt + plain tokens) but corrupts draft
// position `corrupt[r % size]` in round r (a position >= the round's length corrupts nothing), so
// exactly that many drafts are accepted. Records what it did.
class ScriptedDrafter : public Drafter {
 public:
  ScriptedDrafter(std::vector<int64_t> reference, std::vector<int64_t> corrupt, int64_t vocab)
      : ref_(std::move(reference)), corrupt_(std::move(corrupt)), vocab_(vocab) {}
  std::string kind() const override { return "scripted"; }
  Draft draft(const TargetState& s, const DraftRequest& r) override {
    Draft d;
    const int64_t c = corrupt_[rounds_.size() % corrupt_.size()];
    for (int64_t i = 1; i <= r.k; ++i) {
      int64_t t = ref_.at(s.position + i);
      if (i - 1 == c) t = (t + 1) % vocab_;
      d.tokens.push_back(t);
    }
    // Everything before p must be the reference (the target never saw a rejected token).
    REQUIRE(std::equal(s.tokens->begin(), s.tokens->end(), ref_.begin()));
    rounds_.push_back({r.k, std::min(c, r.k)});
    return d;
  }
  std::vector<torch::Tensor> unrolled_logits(const TargetPass&, int64_t) override { return {}; }
  torch::nn::Module& module() override { return module_; }
  std::vector<TensorSpec> tensor_specs() const override { return {}; }
  nlohmann::json config_json() const override { return {}; }
  std::string name() const override { return "scripted"; }

  struct Round {
    int64_t drafted, accepted;
  };
  std::vector<Round> rounds_;

 private:
  std::vector<int64_t> ref_, corrupt_;
  int64_t vocab_;
  torch::nn::Module module_;
};

std::vector<int64_t> plain_greedy(Gemma4Model& m, const std::vector<int64_t>& prompt, int64_t n) {
  GenerateOptions go;
  go.max_new_tokens = n;
  go.use_config_stop_ids = false;
  return generate(m, {prompt}, go).tokens[0];
}

SpeculativeOptions greedy_options(int64_t n, int64_t k, KSchedule schedule = KSchedule::kFixed) {
  SpeculativeOptions o;
  o.max_new_tokens = n;
  o.k = k;
  o.k_max = std::max<int64_t>(k, 8);
  o.schedule = schedule;
  o.use_config_stop_ids = false;
  return o;
}

}  // namespace

TEST_CASE("greedy acceptance by hand", "[unit][mtp]") {
  CHECK(accept_greedy({5, 6, 7}, {5, 6, 7, 8}).accepted == 3);
  CHECK(accept_greedy({5, 6, 7}, {5, 6, 7, 8}).next == 8);  // bonus
  CHECK(accept_greedy({5, 6, 7}, {5, 9, 7, 8}).accepted == 1);
  CHECK(accept_greedy({5, 6, 7}, {5, 9, 7, 8}).next == 9);  // correction
  CHECK(accept_greedy({5}, {4, 2}).accepted == 0);
  CHECK(accept_greedy({5}, {4, 2}).next == 4);
}

TEST_CASE("break-even acceptance by hand: a round of k drafts yields 1 + a + ... + a^k tokens", "[unit][mtp]") {
  // k = 1: 1 + a = 1.5 -> a = 0.5; k = 2: 1 + a + a^2 = 1.75 -> a = 0.5; k = 3: 1 + a + a^2 + a^3 = 15/8 -> 0.5.
  CHECK(*break_even_acceptance(1, 1.5) == Approx(0.5).margin(1e-12));
  CHECK(*break_even_acceptance(2, 1.75) == Approx(0.5).margin(1e-12));
  CHECK(*break_even_acceptance(3, 15.0 / 8.0) == Approx(0.5).margin(1e-12));
  // k = 2, cost 1 + 0.9 + 0.81 = 2.71 -> 0.9.
  CHECK(*break_even_acceptance(2, 2.71) == Approx(0.9).margin(1e-12));
  // A round no dearer than a plain step pays at any rate; one dearer than k + 1 steps never does.
  CHECK(*break_even_acceptance(4, 1.0) == 0.0);
  CHECK(*break_even_acceptance(4, 0.7) == 0.0);
  CHECK(*break_even_acceptance(4, 5.0) == Approx(1.0).margin(1e-12));
  CHECK(!break_even_acceptance(4, 5.01).has_value());
}

TEST_CASE("speculative acceptance by hand: p >= q always accepts, q-only mass always rejects", "[unit][mtp]") {
  Sampler rng(SamplingParams{1.0, 0, 1.0, 3});
  // d_1 = 0 with p(0) = 0.6 >= q(0) = 0.5: accepted for any uniform; d_2 = 1 with p(1) = 0: rejected,
  // and the residual max(0, p_1 - q_2) = max(0, (0 - 0.2, 0 - 0.8, 1 - 0)) = (0, 0, 1) -> token 2.
  std::vector<std::vector<float>> q = {{0.5f, 0.5f, 0.0f}, {0.2f, 0.8f, 0.0f}};
  std::vector<std::vector<float>> p = {{0.6f, 0.1f, 0.3f}, {0.0f, 0.0f, 1.0f}, {1.0f, 0.0f, 0.0f}};
  for (int i = 0; i < 50; ++i) {
    Verdict v = accept_speculative({0, 1}, q, p, rng);
    CHECK(v.accepted == 1);
    CHECK(v.next == 2);
  }
  // All accepted: the bonus comes from p_k (a point mass here).
  std::vector<std::vector<float>> p2 = {{0.6f, 0.1f, 0.3f}, {0.2f, 0.8f, 0.0f}, {0.0f, 1.0f, 0.0f}};
  Verdict v = accept_speculative({0, 1}, q, p2, rng);
  CHECK(v.accepted == 2);
  CHECK(v.next == 1);
}

TEST_CASE("speculative sampling rule: every emitted position follows p (chi-square, fixed seed)", "[unit][mtp]") {
  // Context-free p_0..p_3 and q_1..q_3 over 6 tokens, far apart (so drafting from q alone would fail).
  const std::vector<std::vector<float>> p = {{0.30f, 0.25f, 0.20f, 0.15f, 0.07f, 0.03f},
                                             {0.05f, 0.05f, 0.10f, 0.20f, 0.30f, 0.30f},
                                             {0.50f, 0.00f, 0.10f, 0.10f, 0.10f, 0.20f},
                                             {0.10f, 0.40f, 0.10f, 0.10f, 0.20f, 0.10f}};
  const std::vector<std::vector<float>> q = {{0.05f, 0.05f, 0.10f, 0.20f, 0.30f, 0.30f},
                                             {0.30f, 0.25f, 0.20f, 0.15f, 0.07f, 0.03f},
                                             {0.10f, 0.30f, 0.10f, 0.20f, 0.20f, 0.10f}};
  Sampler rng(SamplingParams{1.0, 0, 1.0, 12345});
  Sampler draft_rng(SamplingParams{1.0, 0, 1.0, 999});
  const int N = 60000;
  std::vector<std::vector<int64_t>> counts(4, std::vector<int64_t>(6, 0));  // emitted position -> token counts
  for (int n = 0; n < N; ++n) {
    std::vector<int64_t> d;
    for (int i = 0; i < 3; ++i) d.push_back(draft_rng.draw(q[i]));
    Verdict v = accept_speculative(d, q, p, rng);
    for (int64_t i = 0; i < v.accepted; ++i) ++counts[i][d[i]];
    ++counts[v.accepted][v.next];
  }
  // Position i is reached when d_1..d_i were accepted; given that, its token must follow p_i.
  for (int i = 0; i < 4; ++i) {
    INFO("emitted position " << i);
    std::vector<double> pi(p[i].begin(), p[i].end());
    auto [stat, df] = g4u::test::chi_square(counts[i], pi);
    CHECK(stat < g4u::test::chi_square_999(df));
  }
  // Power: the same counts against q (a wrong rule that always accepts would produce q).
  std::vector<double> q0(q[0].begin(), q[0].end());
  CHECK(g4u::test::chi_square(counts[0], q0).first > 10 * g4u::test::chi_square_999(5));
}

TEST_CASE("greedy speculative decoding equals plain greedy: every drafter, prompts, k, schedules", "[integration][mtp]") {
  auto target = tiny_target(19);
  const int64_t V = target->config().text.vocab_size;
  const int64_t N = 20;  // with prompts up to 11 tokens the sequence crosses the window of 8
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t len : {1, 2, 5, 8, 11}) prompts.push_back(some_ids(len, V, len));
  std::vector<std::vector<int64_t>> want;
  for (const auto& pr : prompts) want.push_back(plain_greedy(*target, pr, N));
  for (const std::string name : {"tiny-assistant", "tiny-mtp", "tiny-medusa"}) {
    auto d = load_drafter(name, *target, {torch::kFloat32, 3});
    for (int64_t k : {1, 2, 3, 4, 8}) {
      for (size_t i = 0; i < prompts.size(); ++i) {
        INFO(name << " k=" << k << " prompt " << i);
        auto r = speculative_generate(*target, *d, prompts[i], greedy_options(N, k));
        CHECK(r.tokens == want[i]);
      }
    }
    for (size_t i = 0; i < prompts.size(); i += 2) {
      auto r = speculative_generate(*target, *d, prompts[i], greedy_options(N, 2, KSchedule::kHeuristic));
      CHECK(r.tokens == want[i]);
    }
  }
}

TEST_CASE("rejections at every draft position: output, KV rollback and metrics", "[integration][mtp]") {
  auto target = tiny_target(23);
  const TextConfig& tc = target->config().text;
  const int64_t N = 30;
  for (int64_t k : {1, 2, 3, 4, 8}) {
    for (int64_t plen : {1, 6}) {
      INFO("k=" << k << " prompt " << plen);
      std::vector<int64_t> prompt = some_ids(plen, tc.vocab_size, k + plen);
      std::vector<int64_t> plain = plain_greedy(*target, prompt, N);
      std::vector<int64_t> ref = prompt;
      ref.insert(ref.end(), plain.begin(), plain.end());
      // Round r corrupts position r mod (k + 1): 0..k-1 rejects there, k accepts all (bonus).
      std::vector<int64_t> corrupt;
      for (int64_t j = 0; j <= k; ++j) corrupt.push_back(j);
      ScriptedDrafter d(ref, corrupt, tc.vocab_size);
      SpeculativeOptions o = greedy_options(N, k);
      int64_t checked = 0;
      o.on_round = [&](const KVCache& cache, const std::vector<int64_t>& seq) {
        // The cache equals a fresh cache that processed exactly seq[0, len) (never the rejected
        // candidates): compare every layer on the slots both hold.
        const int64_t len = cache.length();
        REQUIRE(static_cast<int64_t>(seq.size()) == len + 1);
        torch::NoGradGuard ng;
        KVCache fresh(tc, 1, torch::kFloat32);
        torch::Tensor ids = torch::tensor(std::vector<int64_t>(seq.begin(), seq.begin() + len)).view({1, len});
        target->text().forward(target->text().embed(ids), torch::ones({1, len}, torch::kBool), fresh);
        for (int64_t l = 0; l < tc.num_layers; ++l) {
          const int64_t from = std::max(cache.layer_first_slot(l), fresh.layer_first_slot(l));
          if (tc.layer_types[l] == LayerType::kSliding)  // the window's W - 1 newest slots at least
            CHECK(cache.layer_first_slot(l) <= std::max<int64_t>(0, len - (tc.sliding_window - 1)));
          else
            CHECK(cache.layer_first_slot(l) == 0);
          auto [K, V] = cache.layer_kv(l);
          auto [Kf, Vf] = fresh.layer_kv(l);
          const int64_t n = len - from;
          INFO("layer " << l << " len " << len << " from " << from << " first " << cache.layer_first_slot(l) << "/"
                        << fresh.layer_first_slot(l) << " max diff "
                        << (K.narrow(2, from - cache.layer_first_slot(l), n) - Kf.narrow(2, from - fresh.layer_first_slot(l), n))
                               .abs().max().item<float>());
          CHECK(torch::allclose(K.narrow(2, from - cache.layer_first_slot(l), n),
                                Kf.narrow(2, from - fresh.layer_first_slot(l), n), 1e-4, 1e-4));
          CHECK(torch::allclose(V.narrow(2, from - cache.layer_first_slot(l), n),
                                Vf.narrow(2, from - fresh.layer_first_slot(l), n), 1e-4, 1e-4));
        }
        ++checked;
      };
      auto r = speculative_generate(*target, d, prompt, o);
      CHECK(r.tokens == plain);
      CHECK(checked > 0);
      // Metrics against the drafter's own record of what it proposed.
      int64_t drafted = 0, accepted = 0;
      std::vector<int64_t> pos_drafted(k, 0), pos_accepted(k, 0);
      for (const auto& rd : d.rounds_) {
        drafted += rd.drafted;
        accepted += rd.accepted;
        for (int64_t j = 0; j < rd.drafted; ++j) {
          ++pos_drafted[j];
          if (j < rd.accepted) ++pos_accepted[j];
        }
      }
      CHECK(r.stats.rounds == static_cast<int64_t>(d.rounds_.size()));
      CHECK(r.stats.drafted == drafted);
      CHECK(r.stats.accepted == accepted);
      CHECK(r.stats.tau() == Approx(1.0 + static_cast<double>(accepted) / d.rounds_.size()));
      CHECK(r.stats.acceptance_rate() == Approx(static_cast<double>(accepted) / drafted));
      auto ppa = r.stats.per_position_acceptance();
      double sum = 0;
      for (int64_t j = 0; j < k && pos_drafted[j]; ++j) {
        CHECK(ppa[j] == Approx(static_cast<double>(pos_accepted[j]) / d.rounds_.size()));
        CHECK(r.stats.position_drafted[j] == pos_drafted[j]);
        sum += ppa[j];
      }
      CHECK(r.stats.tau() == Approx(1.0 + sum));  // doc 7.6: tau = 1 + sum_k p_k
      // Emitted tokens: each round emits accepted + 1 (the plain step adds 1), plus the prefill token.
      CHECK(static_cast<int64_t>(r.tokens.size()) == 1 + accepted + r.stats.rounds + r.stats.plain_steps);
    }
  }
}

TEST_CASE("heuristic k schedule: +2 after a fully accepted round, -1 otherwise, min 1, cap k_max", "[unit][mtp]") {
  auto target = tiny_target(29);
  const int64_t V = target->config().text.vocab_size;
  std::vector<int64_t> prompt = some_ids(3, V, 1);
  std::vector<int64_t> plain = plain_greedy(*target, prompt, 40);
  std::vector<int64_t> ref = prompt;
  ref.insert(ref.end(), plain.begin(), plain.end());
  // Rounds: accept all (k 1 -> 3), accept all (3 -> 5), accept all (5 -> cap 6), reject at 0 (6 -> 5),
  // reject at 0 (5 -> 4), ...
  ScriptedDrafter d(ref, {100, 100, 100, 0, 0}, V);
  SpeculativeOptions o = greedy_options(40, 1, KSchedule::kHeuristic);
  o.k_max = 6;
  auto r = speculative_generate(*target, d, prompt, o);
  CHECK(r.tokens == plain);
  REQUIRE(r.stats.k_used.size() >= 6);
  CHECK(std::vector<int64_t>(r.stats.k_used.begin(), r.stats.k_used.begin() + 6) ==
        std::vector<int64_t>{1, 3, 5, 6, 5, 4});
}

TEST_CASE("speculative sampling on tiny follows the target's distribution of the first two tokens", "[integration][mtp]") {
  auto target = tiny_target(31);
  const ModelConfig& cfg = target->config();
  const int64_t V = cfg.text.vocab_size;
  auto drafter = load_drafter("tiny-assistant", *target, {torch::kFloat32, 6});
  std::vector<int64_t> prompt = some_ids(5, V, 2);
  SamplingParams sp{1.0, 4, 1.0, 0};  // top-k 4 keeps the support small

  // Exact joint p(t1) p(t2 | t1) from the target.
  torch::NoGradGuard ng;
  Sampler proc(sp, cfg.suppress_tokens);
  auto dist_after = [&](const std::vector<int64_t>& ids) {
    const int64_t n = static_cast<int64_t>(ids.size());
    auto out = target->text().forward(target->text().embed(torch::tensor(ids).view({1, n})),
                                      torch::ones({1, n}, torch::kBool), nullptr);
    torch::Tensor l = target->text().logits(out.hidden[0][n - 1]).to(torch::kFloat32).contiguous();
    return proc.distribution(l.data_ptr<float>(), V);
  };
  std::map<std::pair<int64_t, int64_t>, double> exact;
  std::vector<float> p1 = dist_after(prompt);
  for (int64_t a = 0; a < V; ++a) {
    if (p1[a] <= 0) continue;
    std::vector<int64_t> ids = prompt;
    ids.push_back(a);
    std::vector<float> p2 = dist_after(ids);
    for (int64_t b = 0; b < V; ++b)
      if (p2[b] > 0) exact[{a, b}] = static_cast<double>(p1[a]) * p2[b];
  }
  // Speculative runs: t1 from the prefill, t2 from the first verify round (k = 2 drafts).
  const int N = 800;
  std::map<std::pair<int64_t, int64_t>, int64_t> seen;
  int64_t rejected_first = 0;
  for (int s = 0; s < N; ++s) {
    SpeculativeOptions o;
    o.max_new_tokens = 3;
    o.k = 2;
    o.use_config_stop_ids = false;
    o.sampling = sp;
    o.sampling.seed = 1000 + s;
    auto r = speculative_generate(*target, *drafter, prompt, o);
    REQUIRE(r.tokens.size() == 3);
    ++seen[{r.tokens[0], r.tokens[1]}];
    if (r.stats.rounds && r.stats.position_accepted[0] == 0) ++rejected_first;
  }
  std::vector<int64_t> obs;
  std::vector<double> ex;
  for (const auto& [cell, pr] : exact) {
    ex.push_back(pr);
    obs.push_back(seen.count(cell) ? seen[cell] : 0);
  }
  int64_t outside = 0;
  for (const auto& [cell, c] : seen)
    if (!exact.count(cell)) outside += c;
  CHECK(outside == 0);  // never a token outside the target's (top-k) support
  auto [stat, df] = g4u::test::chi_square(obs, ex);
  INFO("chi2 " << stat << " df " << df);
  CHECK(stat < g4u::test::chi_square_999(df));
  CHECK(rejected_first > N / 10);  // the residual path was exercised
}

TEST_CASE("bad speculative options are input errors", "[unit][mtp]") {
  auto target = tiny_target();
  auto d = load_drafter("tiny-assistant", *target);
  SpeculativeOptions o;
  o.k = 0;
  CHECK_THROWS_AS(speculative_generate(*target, *d, {40, 41}, o), g4u::InputError);
  o.k = -3;
  CHECK_THROWS_AS(speculative_generate(*target, *d, {40, 41}, o), g4u::InputError);
  o.k = 4;
  o.k_max = 2;
  CHECK_THROWS_AS(speculative_generate(*target, *d, {40, 41}, o), g4u::InputError);
  CHECK_THROWS_AS(parse_k_schedule("linear"), g4u::InputError);
}
