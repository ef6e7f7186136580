// llama.cpp perplexity protocol and the KL statistics, against hand-computed values.
#include "model/io/loader.h"
#include "eval/perplexity/perplexity.h"
#include "quant/quant_test_util.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace g4u;
using namespace g4u::quant;

TEST_CASE("ppl_chunks: non-overlapping n_ctx windows, first token replaced by BOS", "[unit]") {
  std::vector<int64_t> toks;
  for (int i = 10; i < 31; ++i) toks.push_back(i);  // 21 tokens, n_ctx 8 -> 2 chunks (tail dropped)
  auto c = ppl_chunks(toks, 8, 2);
  REQUIRE(c.size() == 2);
  CHECK(c[0] == std::vector<int64_t>{2, 11, 12, 13, 14, 15, 16, 17});
  CHECK(c[1] == std::vector<int64_t>{2, 19, 20, 21, 22, 23, 24, 25});
  CHECK(ppl_chunks(toks, 8, 2, 1).size() == 1);
  test::expect_input_error([&] { ppl_chunks(toks, 32, 2); }, "fewer than one chunk");
}

TEST_CASE("Perplexity of hand-made logits", "[unit]") {
  // Uniform logits over V = 4: every NLL is ln 4, PPL exactly 4, zero uncertainty.
  PerplexityStats s;
  std::vector<int64_t> chunk = {2, 0, 1, 2, 3, 0, 1, 2};
  s.add_chunk(torch::zeros({8, 4}), chunk);
  CHECK(s.count() == 3);  // positions 4, 5, 6 (n_ctx/2 .. n_ctx-2)
  CHECK(s.ppl() == Approx(4.0).epsilon(1e-12));
  // Position i's logits favour token t with logit ln 3 (p = 3/6 = 0.5 over V = 4): NLL ln 2 when
  // the next token is t, ln 6 otherwise.
  PerplexityStats h;
  torch::Tensor l = torch::zeros({8, 4});
  l[4][0] = std::log(3.0);  // next token (pos 5) is 0 -> p = 0.5
  l[5][3] = std::log(3.0);  // next token (pos 6) is 1 -> p = 1/6
  l[6][2] = std::log(3.0);  // next token (pos 7) is 2 -> p = 0.5
  h.add_chunk(l, chunk);
  const double m = (2 * std::log(2.0) + std::log(6.0)) / 3;
  CHECK(h.ppl() == Approx(std::exp(m)).epsilon(1e-6));  // logits are fp32
  const double m2 = (2 * std::pow(std::log(2.0), 2) + std::pow(std::log(6.0), 2)) / 3;
  auto j = h.summary();
  CHECK(j["ppl"]["uncertainty"].get<double>() == Approx(std::exp(m) * std::sqrt((m2 - m * m) / 2)).epsilon(1e-6));
  CHECK(j["scored_tokens"] == 3);
  CHECK_FALSE(j["enough_tokens"].get<bool>());
}

TEST_CASE("KL statistics: hand-computed two-token case, and a model against itself is 0", "[unit]") {
  // Base p = softmax(0, ln 3) = (1/4, 3/4) ; Q uniform (1/2, 1/2) over V = 2.
  // KL = 1/4 ln(1/2) + 3/4 ln(3/2); same top: base argmax 1, Q argmax 0 (tie -> first) -> no.
  std::vector<int64_t> chunk = {2, 0, 1, 1};  // scored: position 2 predicting token 1 (n_ctx 4)
  torch::Tensor base = torch::zeros({4, 2}), q = torch::zeros({4, 2});
  base[2][1] = std::log(3.0);
  PerplexityStats s;
  s.add_chunk(q, chunk, base);
  REQUIRE(s.count() == 1);
  // (fp32 logits: ln 3 is rounded to float, so agreement is to ~1e-7)
  CHECK(s.kl()[0] == Approx(0.25 * std::log(0.5) + 0.75 * std::log(1.5)).epsilon(1e-6));
  CHECK(s.dp()[0] == Approx(0.5 - 0.75).epsilon(1e-6));
  auto j = s.summary();
  CHECK(j["same_top"]["fraction"].get<double>() == 0.0);
  CHECK(j["ppl_ratio"]["value"].get<double>() == Approx(std::exp(-std::log(0.5) + std::log(0.75))).epsilon(1e-6));

  model::LoadedModel m = model::load_model("tiny");
  std::vector<int64_t> toks;
  for (int i = 0; i < 96; ++i) toks.push_back(40 + (i * 7) % 90);
  auto chunks = ppl_chunks(toks, 32, m.model->config().text.bos_token_id);
  PerplexityStats self = run_perplexity(*m.model, m.model.get(), chunks);
  CHECK(self.count() == 3 * 15);
  for (double k : self.kl()) CHECK(k == 0.0);
  for (double d : self.dp()) CHECK(d == 0.0);
  auto js = self.summary();
  CHECK(js["same_top"]["fraction"].get<double>() == 1.0);
  CHECK(js["ppl_ratio"]["value"].get<double>() == 1.0);
  CHECK(js["kld"]["percentiles"]["max"].get<double>() == 0.0);
  CHECK(js["ppl"]["value"].get<double>() == Approx(self.ppl()));
}

TEST_CASE("percentile interpolates linearly at p (n - 1)", "[unit]") {
  std::vector<double> v = {4, 1, 3, 2};  // sorted 1 2 3 4
  CHECK(percentile(v, 0.0) == 1.0);
  CHECK(percentile(v, 1.0) == 4.0);
  CHECK(percentile(v, 0.5) == Approx(2.5));
  CHECK(percentile(v, 0.9) == Approx(3.7));
}
