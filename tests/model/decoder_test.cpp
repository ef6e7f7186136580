// Decoder numerics against hand-computed values and an independent float64 reference written
// straight from the formulas of the architecture doc §2 (loops over heads and positions; it shares
// no code with model/text/decoder.cpp beyond reading the parameter tensors).
#include "model/text/decoder.h"
#include "model/text/generate.h"
#include "model/model.h"
#include "model/text/sampling.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace g4u::model;

namespace {

std::shared_ptr<Gemma4Model> tiny_model(uint64_t seed = 7, torch::ScalarType dtype = torch::kFloat32) {
  ModelConfig c = *model_preset("tiny");
  auto m = std::make_shared<Gemma4Model>(c);
  init_random(*m, m->tensor_specs(), seed);
  // Non-trivial norm weights and layer scalars so a wrong formula cannot hide behind ones.
  torch::NoGradGuard ng;
  for (auto& p : m->named_parameters()) {
    const std::string& n = p.key();
    if (n.find("norm") != std::string::npos)
      p.value().copy_(1.0 + 0.3 * torch::sin(torch::arange(p.value().numel(), torch::kFloat32) * 0.7 + static_cast<double>(seed)));
    if (n.find("layer_scalar") != std::string::npos) p.value().fill_(0.9);
  }
  m->to(dtype);
  return m;
}

torch::Tensor P(Gemma4Model& m, const std::string& name) {
  return m.named_parameters()["model.language_model." + name].detach().to(torch::kFloat64);
}

torch::Tensor ref_rms(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  torch::Tensor y = x / torch::sqrt((x * x).mean(-1, true) + eps);
  return w.defined() ? y * w : y;
}

torch::Tensor ref_gelu_tanh(const torch::Tensor& z) {
  return 0.5 * z * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z)));
}

// Rotates x [T, heads, d] at positions 0..T-1 pairing dim i with i + d/2.
torch::Tensor ref_rope(const torch::Tensor& x, const RopeParams& r, int64_t d) {
  torch::Tensor y = x.clone();
  int64_t angles = r.type == "proportional" ? static_cast<int64_t>(r.partial_rotary_factor * d / 2) : d / 2;
  for (int64_t t = 0; t < x.size(0); ++t)
    for (int64_t i = 0; i < angles; ++i) {
      double denom = r.type == "proportional" ? static_cast<double>(d) : d * r.partial_rotary_factor;
      double inv = std::pow(r.theta, -2.0 * i / denom);
      double a = t * static_cast<double>(static_cast<float>(inv));
      double c = std::cos(a), s = std::sin(a);
      torch::Tensor x1 = x.select(0, t).select(-1, i), x2 = x.select(0, t).select(-1, i + d / 2);
      y.select(0, t).select(-1, i).copy_(x1 * c - x2 * s);
      y.select(0, t).select(-1, i + d / 2).copy_(x2 * c + x1 * s);
    }
  return y;
}

torch::Tensor reference_logits(Gemma4Model& m, const std::vector<int64_t>& ids) {
  const TextConfig& c = m.config().text;
  const int64_t T = ids.size(), H = c.hidden_size;
  const double eps = c.rms_norm_eps;
  torch::Tensor E = P(m, "embed_tokens.weight");
  torch::Tensor x = E.index_select(0, torch::tensor(ids)) * static_cast<double>(static_cast<float>(std::sqrt(H)));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    LayerType t = c.layer_types[l];
    const auto& g = c.geometry(t);
    const int64_t d = g.head_dim, group = g.num_heads / g.num_kv_heads;
    torch::Tensor hn = ref_rms(x, P(m, p + "input_layernorm.weight"), eps);
    torch::Tensor q = torch::matmul(hn, P(m, p + "self_attn.q_proj.weight").t()).view({T, g.num_heads, d});
    torch::Tensor kraw = torch::matmul(hn, P(m, p + "self_attn.k_proj.weight").t()).view({T, g.num_kv_heads, d});
    torch::Tensor vraw = c.has_v_proj(t)
                             ? torch::matmul(hn, P(m, p + "self_attn.v_proj.weight").t()).view({T, g.num_kv_heads, d})
                             : kraw;
    q = ref_rope(ref_rms(q, P(m, p + "self_attn.q_norm.weight"), eps), c.rope(t), d);
    torch::Tensor k = ref_rope(ref_rms(kraw, P(m, p + "self_attn.k_norm.weight"), eps), c.rope(t), d);
    torch::Tensor v = ref_rms(vraw, torch::Tensor(), eps);
    torch::Tensor o = torch::zeros({T, g.num_heads, d}, torch::kFloat64);
    for (int64_t h = 0; h < g.num_heads; ++h) {
      int64_t j = h / group;  // KV head serving query head h
      for (int64_t qi = 0; qi < T; ++qi) {
        int64_t lo = t == LayerType::kSliding ? std::max<int64_t>(0, qi - c.sliding_window + 1) : 0;
        torch::Tensor keys = k.narrow(0, lo, qi - lo + 1).select(1, j);  // [n, d]
        torch::Tensor w = torch::softmax(torch::matmul(keys, q[qi][h]), 0);  // scale 1.0
        o[qi][h] = torch::matmul(w, v.narrow(0, lo, qi - lo + 1).select(1, j));
      }
    }
    torch::Tensor a = torch::matmul(o.reshape({T, g.num_heads * d}), P(m, p + "self_attn.o_proj.weight").t());
    torch::Tensor h1 = x + ref_rms(a, P(m, p + "post_attention_layernorm.weight"), eps);
    torch::Tensor hf = ref_rms(h1, P(m, p + "pre_feedforward_layernorm.weight"), eps);
    torch::Tensor mm = torch::matmul(ref_gelu_tanh(torch::matmul(hf, P(m, p + "mlp.gate_proj.weight").t())) *
                                         torch::matmul(hf, P(m, p + "mlp.up_proj.weight").t()),
                                     P(m, p + "mlp.down_proj.weight").t());
    torch::Tensor h2 = h1 + ref_rms(mm, P(m, p + "post_feedforward_layernorm.weight"), eps);
    x = h2 * P(m, p + "layer_scalar");
  }
  x = ref_rms(x, P(m, "norm.weight"), eps);
  torch::Tensor logits = torch::matmul(x, E.t());
  return 30.0 * torch::tanh(logits / 30.0);
}

torch::Tensor full_forward_logits(Gemma4Model& m, const std::vector<int64_t>& ids) {
  torch::NoGradGuard ng;
  torch::Tensor x = torch::tensor(ids).view({1, -1});
  KVCache cache(m.config().text, 1, m.dtype());
  auto r = m.text().forward(m.text().embed(x), torch::ones({1, (int64_t)ids.size()}, torch::kBool), cache);
  return m.text().logits(r.hidden)[0].to(torch::kFloat64);
}

std::vector<int64_t> some_ids(int64_t n, int64_t vocab, int64_t salt = 0) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back((37 * i + 11 + salt * 101) % vocab);
  return ids;
}

}  // namespace

TEST_CASE("RMSNorm by hand: plain w, fp32 inside, weightless variant", "[unit][decoder]") {
  torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f});
  torch::Tensor w = torch::tensor({1.0f, 1.0f, 2.0f, 0.5f});
  double inv = 1.0 / std::sqrt(7.5 + 1e-6);  // mean of squares = 30 / 4
  torch::Tensor y = rms_norm(x, w, 1e-6);
  CHECK(y[0].item<float>() == Approx(1 * inv));
  CHECK(y[2].item<float>() == Approx(3 * inv * 2));
  CHECK(y[3].item<float>() == Approx(4 * inv * 0.5));
  CHECK(rms_norm(x, torch::Tensor(), 1e-6)[1].item<float>() == Approx(2 * inv));
  // bf16 input: computed in fp32, returned in bf16.
  torch::Tensor yb = rms_norm(x.to(torch::kBFloat16), w.to(torch::kBFloat16), 1e-6);
  CHECK(yb.scalar_type() == torch::kBFloat16);
  CHECK(yb[2].item<float>() == Approx(3 * inv * 2).epsilon(0.01));
}

TEST_CASE("default RoPE rotates first half with second half", "[unit][decoder]") {
  RopeParams r{"default", 10000.0, 1.0};
  torch::Tensor inv = rope_inv_freq(r, 4);  // [1, 10000^-0.5]
  REQUIRE(inv.size(0) == 2);
  CHECK(inv[0].item<float>() == Approx(1.0));
  CHECK(inv[1].item<float>() == Approx(0.01));
  auto [cos, sin] = rope_cos_sin(inv, torch::tensor({{3}}, torch::kInt64), torch::kFloat32);
  torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 1, 1, 4});
  torch::Tensor y = apply_rope(x, cos, sin).view({4});
  // pair (0, 2) rotated by 3 rad, pair (1, 3) by 0.03 rad
  CHECK(y[0].item<float>() == Approx(1 * std::cos(3.0) - 3 * std::sin(3.0)));
  CHECK(y[2].item<float>() == Approx(3 * std::cos(3.0) + 1 * std::sin(3.0)));
  CHECK(y[1].item<float>() == Approx(2 * std::cos(0.03) - 4 * std::sin(0.03)));
  CHECK(y[3].item<float>() == Approx(4 * std::cos(0.03) + 2 * std::sin(0.03)));
}

TEST_CASE("proportional RoPE of the 12B full layers: 64 angles over 512 dims", "[unit][decoder]") {
  RopeParams r{"proportional", 1e6, 0.25};
  torch::Tensor inv = rope_inv_freq(r, 512);
  REQUIRE(inv.size(0) == 256);
  CHECK(inv[0].item<float>() == 1.0f);
  CHECK(inv[1].item<float>() == Approx(std::pow(1e6, -2.0 / 512)));  // denominator 512, not 128
  CHECK(inv[63].item<float>() == Approx(std::pow(1e6, -126.0 / 512)));
  CHECK(inv.narrow(0, 64, 192).abs().max().item<float>() == 0.0f);
  // dims 64..255 and 320..511 pass through; dim 0 pairs with 256.
  auto [cos, sin] = rope_cos_sin(inv, torch::tensor({{5}}, torch::kInt64), torch::kFloat32);
  torch::Tensor x = torch::randn({1, 1, 1, 512});
  torch::Tensor y = apply_rope(x, cos, sin);
  CHECK(torch::equal(y.narrow(-1, 64, 192), x.narrow(-1, 64, 192)));
  CHECK(torch::equal(y.narrow(-1, 320, 192), x.narrow(-1, 320, 192)));
  float x0 = x.view({512})[0].item<float>(), x256 = x.view({512})[256].item<float>();
  CHECK(y.view({512})[0].item<float>() == Approx(x0 * std::cos(5.0) - x256 * std::sin(5.0)).margin(1e-5));
}

TEST_CASE("soft-cap and embedding scale", "[unit][decoder]") {
  CHECK(soft_cap(torch::tensor({60.0f}), 30.0).item<float>() == Approx(30 * std::tanh(2.0)));
  CHECK(soft_cap(torch::tensor({60.0f}), 0.0).item<float>() == 60.0f);
  TextConfig t = model_preset("gemma4-12b")->text;
  t.num_layers = 0;
  t.layer_types.clear();
  t.vocab_size = 4;
  TextModel m(t);
  CHECK(m.embed_scale() == Approx(61.96773).epsilon(1e-6));
  CHECK(m.embed_scale() != 62.0);
  m.to(torch::kBFloat16);
  CHECK(m.embed_scale() == 62.0);
}

TEST_CASE("sliding-window mask at the boundary, padding keys, full layers causal", "[unit][decoder]") {
  torch::Tensor valid = torch::ones({1, 12}, torch::kBool);
  torch::Tensor s = attention_allowed(LayerType::kSliding, 0, 12, 0, 8, valid)[0];
  CHECK(s[10][3].item<bool>());    // 10 - 3 = 7 < 8: inside the window
  CHECK_FALSE(s[10][2].item<bool>());  // 10 - 2 = 8: outside
  CHECK(s[10][10].item<bool>());
  CHECK_FALSE(s[10][11].item<bool>());  // causal
  CHECK(s.sum().item<int64_t>() == 8 * 12 - 28);  // rows 0..7 see 1..8 keys, rows 8..11 see 8
  torch::Tensor f = attention_allowed(LayerType::kFull, 0, 12, 0, 8, valid)[0];
  CHECK(f[11][0].item<bool>());
  CHECK(f.sum().item<int64_t>() == 78);
  // A decode step at slot 12 with keys from slot 4: slot 4 is out of the window (12 - 4 = 8).
  torch::Tensor d = attention_allowed(LayerType::kSliding, 12, 1, 4, 8, torch::ones({1, 9}, torch::kBool))[0];
  CHECK_FALSE(d[0][0].item<bool>());
  CHECK(d[0][1].item<bool>());
  CHECK(d.sum().item<int64_t>() == 8);
  // Left padding: invalid keys are never visible.
  torch::Tensor pv = torch::tensor({{false, false, true, true}});
  torch::Tensor pm = attention_allowed(LayerType::kFull, 0, 4, 0, 8, pv)[0];
  CHECK_FALSE(pm[3][1].item<bool>());
  CHECK(pm[3][2].item<bool>());
}

TEST_CASE("tiny forward equals an independent float64 reference of the doc's formulas", "[unit][decoder]") {
  auto m = tiny_model();
  const int64_t V = m->config().text.vocab_size;
  std::vector<int64_t> ids = some_ids(20, V);  // crosses the sliding window of 8
  torch::Tensor ref = reference_logits(*m, ids);
  torch::Tensor got = full_forward_logits(*m, ids);
  CHECK((ref - got).abs().max().item<double>() < 1e-4);
  CHECK(ref.abs().max().item<double>() > 1e-2);  // not a trivially zero output
}

TEST_CASE("decode with the KV cache equals the full forward at every position", "[unit][decoder]") {
  auto m = tiny_model(3);
  torch::NoGradGuard ng;
  const TextConfig& c = m->config().text;
  std::vector<int64_t> ids = some_ids(25, c.vocab_size, 1);  // three times the sliding window
  torch::Tensor full = full_forward_logits(*m, ids);
  for (std::vector<int64_t> chunks : {std::vector<int64_t>(25, 1), std::vector<int64_t>{7, 1, 1, 16}, std::vector<int64_t>{5, 9, 11}}) {
    KVCache cache(c, 1, torch::kFloat32);
    int64_t pos = 0;
    for (int64_t n : chunks) {
      std::vector<int64_t> part(ids.begin() + pos, ids.begin() + pos + n);
      auto r = m->text().forward(m->text().embed(torch::tensor(part).view({1, n})), torch::ones({1, n}, torch::kBool), cache);
      torch::Tensor logits = m->text().logits(r.hidden)[0].to(torch::kFloat64);
      CHECK((logits - full.narrow(0, pos, n)).abs().max().item<double>() < 1e-5);
      pos += n;
    }
    // Sliding layers hold the last W-1 slots, full layers every slot.
    int64_t expect = 0;
    for (LayerType t : c.layer_types) {
      const auto& g = c.geometry(t);
      int64_t slots = t == LayerType::kSliding ? c.sliding_window - 1 : 25;
      expect += 2 * slots * g.num_kv_heads * g.head_dim * 4;
    }
    CHECK(cache.bytes() == expect);
  }
}

TEST_CASE("attention taken in query blocks (long steps) equals the float64 reference, cached and batched",
          "[unit][decoder]") {
  auto m = tiny_model(4);
  torch::NoGradGuard ng;
  const TextConfig& c = m->config().text;
  std::vector<int64_t> ids = some_ids(22, c.vocab_size, 6);
  const torch::Tensor ref = reference_logits(*m, ids);
  const int64_t saved = attention_score_bytes();
  // tiny's widest layer: 4 query heads over <= 22 keys, fp32 scores and probabilities: 12 bytes each.
  const int64_t row = 4 * 22 * 12;
  for (int64_t rows : {1, 3, 7}) {
    INFO(rows << " query rows per block");
    set_attention_score_bytes(rows * row);
    CHECK((full_forward_logits(*m, ids) - ref).abs().max().item<double>() < 1e-4);
    KVCache cache(c, 1, torch::kFloat32);
    int64_t pos = 0;
    for (int64_t n : {13, 1, 8}) {
      std::vector<int64_t> part(ids.begin() + pos, ids.begin() + pos + n);
      auto r = m->text().forward(m->text().embed(torch::tensor(part).view({1, n})), torch::ones({1, n}, torch::kBool), cache);
      CHECK((m->text().logits(r.hidden)[0].to(torch::kFloat64) - ref.narrow(0, pos, n)).abs().max().item<double>() < 1e-4);
      pos += n;
    }
    // A left-padded batch: each row's mask still applies to its own queries only.
    GenerateOptions opt;
    opt.max_new_tokens = 3;
    opt.use_config_stop_ids = false;
    std::vector<std::vector<int64_t>> prompts = {some_ids(12, c.vocab_size, 7), ids};
    auto batch = generate(*m, prompts, opt);
    CHECK(batch.tokens[1][0] == ref[-1].argmax().item<int64_t>());
    CHECK(batch.tokens[0][0] == reference_logits(*m, prompts[0])[-1].argmax().item<int64_t>());
  }
  set_attention_score_bytes(saved);
}

TEST_CASE("left-padded batch equals each prompt alone (positions from the mask)", "[unit][decoder]") {
  auto m = tiny_model(5);
  const int64_t V = m->config().text.vocab_size;
  std::vector<std::vector<int64_t>> prompts = {some_ids(12, V, 2), some_ids(5, V, 3), some_ids(9, V, 4)};
  GenerateOptions opt;
  opt.max_new_tokens = 14;  // decode crosses the window
  opt.use_config_stop_ids = false;
  auto batch = generate(*m, prompts, opt);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto single = generate(*m, {prompts[i]}, opt);
    CHECK(single.tokens[0] == batch.tokens[i]);
    // and the first new token is the argmax of the reference forward
    torch::Tensor ref = reference_logits(*m, prompts[i]);
    CHECK(batch.tokens[i][0] == ref[-1].argmax().item<int64_t>());
  }
}

TEST_CASE("module parameters of tiny (text, vision, audio) equal its tensor spec", "[unit][decoder]") {
  ModelConfig c = *model_preset("tiny");
  Gemma4Model m(c);
  auto specs = model_tensor_specs(c);
  CHECK_NOTHROW(check_parameters_match(m, specs));
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  CHECK(n == count_params(specs)["total"]);
  CHECK(n == 291334);  // g4u info --model tiny
}

TEST_CASE("bf16 execution stays close to fp32", "[unit][decoder]") {
  auto m32 = tiny_model(9);
  auto m16 = tiny_model(9, torch::kBFloat16);
  std::vector<int64_t> ids = some_ids(16, m32->config().text.vocab_size, 5);
  torch::Tensor a = full_forward_logits(*m32, ids), b = full_forward_logits(*m16, ids);
  CHECK(m16->dtype() == torch::kBFloat16);
  // Each layer's sandwich norms rescale small random-init branch outputs to unit RMS, which
  // amplifies bf16 rounding (measured: 0.16% after the embedding, 1.6% after layer 0, ~13% after
  // six layers of this random model); the band only guards against a broken bf16 path.
  double rel = ((a - b).norm() / a.norm()).item<double>();
  CHECK(rel < 0.3);
  CHECK(rel > 0.0);  // really ran in bf16
}

TEST_CASE("sampling: greedy, top-k, top-p by hand, seeded reproducibility", "[unit][sampling]") {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Sampler greedy({0.0, 0, 1.0, 1});
  CHECK(greedy.sample(logits.data(), 4) == 0);
  Sampler suppressed({0.0, 0, 1.0, 1}, {0});
  CHECK(suppressed.sample(logits.data(), 4) == 1);
  // top-p 0.8: ascending cumulative mass 0.05, 0.20, 0.50, 1.0; drop <= 0.2 -> keep {0.5, 0.3}.
  auto p = Sampler({1.0, 0, 0.8, 1}).distribution(logits.data(), 4);
  CHECK(p[0] == Approx(0.625));
  CHECK(p[1] == Approx(0.375));
  CHECK(p[2] == 0.0f);
  auto k = Sampler({1.0, 2, 1.0, 1}).distribution(logits.data(), 4);
  CHECK(k[0] == Approx(0.625));
  CHECK(k[3] == 0.0f);
  auto t2 = Sampler({2.0, 0, 1.0, 1}).distribution(logits.data(), 4);  // p^(1/2), renormalised
  double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.15) + std::sqrt(0.05);
  CHECK(t2[3] == Approx(std::sqrt(0.05) / z));
  Sampler a({1.0, 0, 1.0, 42}), b({1.0, 0, 1.0, 42}), c({1.0, 0, 1.0, 43});
  std::vector<int64_t> sa, sb, sc;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.sample(logits.data(), 4));
    sb.push_back(b.sample(logits.data(), 4));
    sc.push_back(c.sample(logits.data(), 4));
  }
  CHECK(sa == sb);
  CHECK(sa != sc);
  double freq0 = std::count(sa.begin(), sa.end(), 0) / 200.0;
  CHECK(freq0 > 0.38);
  CHECK(freq0 < 0.62);
}

TEST_CASE("seeded generation is reproducible", "[unit][sampling]") {
  auto m = tiny_model(11);
  GenerateOptions opt;
  opt.max_new_tokens = 12;
  opt.use_config_stop_ids = false;
  opt.sampling = {1.0, 20, 0.9, 1234};
  std::vector<int64_t> prompt = some_ids(6, m->config().text.vocab_size);
  auto a = generate(*m, {prompt}, opt), b = generate(*m, {prompt}, opt);
  CHECK(a.tokens == b.tokens);
  opt.sampling.seed = 99;
  auto c = generate(*m, {prompt}, opt);
  CHECK(a.tokens != c.tokens);
}

TEST_CASE("KV-cache crop leaves the state of a run that never saw the dropped tokens", "[unit][decoder]") {
  auto m = tiny_model(13);
  torch::NoGradGuard ng;
  const TextConfig& c = m->config().text;
  std::vector<int64_t> ids = some_ids(30, c.vocab_size, 6);
  auto run = [&](KVCache& cache, int64_t from, int64_t n) {
    std::vector<int64_t> part(ids.begin() + from, ids.begin() + from + n);
    auto r = m->text().forward(m->text().embed(torch::tensor(part).view({1, n})), torch::ones({1, n}, torch::kBool), cache);
    return m->text().logits(r.hidden)[0];
  };
  KVCache clean(c, 1, torch::kFloat32);
  run(clean, 0, 20);
  torch::Tensor want = run(clean, 20, 3);
  KVCache rolled(c, 1, torch::kFloat32, /*rollback_margin=*/5);
  run(rolled, 0, 20);
  run(rolled, 20, 5);  // five tokens later rejected
  rolled.crop(20);
  torch::Tensor got = run(rolled, 20, 3);
  CHECK((got - want).abs().max().item<float>() < 1e-5);
  KVCache no_margin(c, 1, torch::kFloat32);
  run(no_margin, 0, 20);
  run(no_margin, 20, 5);
  CHECK_THROWS(no_margin.crop(20));  // the window's old keys are gone
}


TEST_CASE("a forward without a cache (training path) equals the cached one, padding included", "[unit][decoder]") {
  auto m = tiny_model(17);
  const int64_t V = m->config().text.vocab_size;
  auto [ids, valid] = left_pad({some_ids(14, V, 7), some_ids(9, V, 8)}, m->config().text.pad_token_id);
  torch::NoGradGuard ng;
  KVCache cache(m->config().text, 2, torch::kFloat32);
  auto a = m->text().forward(m->text().embed(ids), valid, cache);
  auto b = m->text().forward(m->text().embed(ids), valid, nullptr);
  torch::Tensor va = a.hidden.masked_select(valid.unsqueeze(-1)), vb = b.hidden.masked_select(valid.unsqueeze(-1));
  CHECK((va - vb).abs().max().item<float>() < 1e-6);
}
