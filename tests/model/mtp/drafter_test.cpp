// Drafters: parameter counts against the doc and hand sums, one Gemma 4 assistant step against an
// independent float64 reference written from architecture doc §7.3, the training path
// (unrolled_logits) against the inference path, and the fit checks.
#include "model/mtp/assistant.h"
#include "model/mtp/drafter.h"
#include "base/error.h"
#include "model/mtp/mtp_heads.h"
#include "model/text/sampling.h"
#include "model/io/tensor_specs.h"
#include "model/mtp/mtp_test_util.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

using namespace g4u::model;
using namespace g4u::test;

namespace {

int64_t spec_total(const std::vector<TensorSpec>& specs) {
  int64_t n = 0;
  for (const auto& s : specs) n += s.numel();
  return n;
}

int64_t module_total(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// ---- float64 reference of one assistant step (doc §7.3) ----------------------------------------

using Params = torch::OrderedDict<std::string, torch::Tensor>;

torch::Tensor P(const Params& ps, const std::string& n) { return ps[n].detach().to(torch::kFloat64); }

torch::Tensor rms(const torch::Tensor& x, const torch::Tensor& w, double eps = 1e-6) {
  return x / torch::sqrt((x * x).mean(-1, true) + eps) * w;
}

torch::Tensor gelu_tanh(const torch::Tensor& z) {
  return 0.5 * z * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z)));
}

// Rotates the last axis of x [heads, d] at position p, pairing dim i with i + d/2.
torch::Tensor rope_at(const torch::Tensor& x, const RopeParams& r, int64_t p) {
  const int64_t d = x.size(-1);
  torch::Tensor y = x.clone();
  const int64_t angles = r.type == "proportional" ? static_cast<int64_t>(r.partial_rotary_factor * d / 2) : d / 2;
  const double denom = r.type == "proportional" ? static_cast<double>(d) : d * r.partial_rotary_factor;
  for (int64_t i = 0; i < angles; ++i) {
    const double inv = static_cast<float>(std::pow(r.theta, -2.0 * i / denom));
    const double a = p * inv, c = std::cos(a), s = std::sin(a);
    torch::Tensor x1 = x.select(-1, i), x2 = x.select(-1, i + d / 2);
    y.select(-1, i).copy_(x1 * c - x2 * s);
    y.select(-1, i + d / 2).copy_(x2 * c + x1 * s);
  }
  return y;
}

struct RefOut {
  torch::Tensor logits, context;
};

// kv[type] = {K, V} as [kv_heads, S, d] (the keys this query may see).
RefOut ref_step(AssistantModel& a, Gemma4Model& target, int64_t tok, const torch::Tensor& c, int64_t p,
                const std::vector<std::pair<torch::Tensor, torch::Tensor>>& kv) {
  const Params ps = a.named_parameters();
  const AssistantConfig& cfg = a.config();
  const double scale = static_cast<float>(std::sqrt(static_cast<double>(target.config().text.hidden_size)));
  torch::Tensor e = target.text().embed_tokens->weight[tok].detach().to(torch::kFloat64) * scale;
  torch::Tensor u = torch::matmul(P(ps, "pre_projection.weight"), torch::cat({e, c.to(torch::kFloat64)}));
  for (int64_t l = 0; l < cfg.text.num_layers; ++l) {
    const std::string L = "model.layers." + std::to_string(l) + ".";
    const LayerType t = cfg.text.layer_types[l];
    const auto& g = cfg.text.geometry(t);
    torch::Tensor x = rms(u, P(ps, L + "input_layernorm.weight"));
    torch::Tensor q = torch::matmul(P(ps, L + "self_attn.q_proj.weight"), x).view({g.num_heads, g.head_dim});
    q = rope_at(rms(q, P(ps, L + "self_attn.q_norm.weight")), cfg.text.rope(t), p);
    const auto& [K, V] = kv[t == LayerType::kFull];
    std::vector<torch::Tensor> heads;
    for (int64_t h = 0; h < g.num_heads; ++h) {
      const int64_t j = h / (g.num_heads / g.num_kv_heads);
      torch::Tensor scores = torch::matmul(K[j], q[h]);  // scale 1.0
      torch::Tensor w = torch::softmax(scores, 0);
      heads.push_back(torch::matmul(w, V[j]));
    }
    torch::Tensor attn = torch::matmul(P(ps, L + "self_attn.o_proj.weight"), torch::cat(heads));
    torch::Tensor h1 = u + rms(attn, P(ps, L + "post_attention_layernorm.weight"));
    torch::Tensor y = rms(h1, P(ps, L + "pre_feedforward_layernorm.weight"));
    torch::Tensor m = torch::matmul(P(ps, L + "mlp.down_proj.weight"),
                                    gelu_tanh(torch::matmul(P(ps, L + "mlp.gate_proj.weight"), y)) *
                                        torch::matmul(P(ps, L + "mlp.up_proj.weight"), y));
    u = (h1 + rms(m, P(ps, L + "post_feedforward_layernorm.weight"))) * P(ps, L + "layer_scalar");
  }
  torch::Tensor z = rms(u, P(ps, "model.norm.weight"));
  return {torch::matmul(P(ps, "model.embed_tokens.weight"), z), torch::matmul(P(ps, "post_projection.weight"), z)};
}

// The target K/V the reference lets a draft at position p see: the full layer every slot < p, the
// sliding layer the newest `window` slots < p. Taken from a cache that processed exactly [0, p).
std::vector<std::pair<torch::Tensor, torch::Tensor>> visible_kv(const KVCache& cache, const TextConfig& tc,
                                                                int64_t p, int64_t window) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out(2);
  for (LayerType t : {LayerType::kSliding, LayerType::kFull}) {
    const int64_t layer = tc.last_layer_of(t);
    auto [K, V] = cache.layer_kv(layer);
    const int64_t first = cache.layer_first_slot(layer);
    const int64_t from = t == LayerType::kFull ? 0 : std::max<int64_t>(0, p - window);
    REQUIRE(first <= from);
    out[t == LayerType::kFull] = {K[0].narrow(1, from - first, p - from).to(torch::kFloat64),
                                  V[0].narrow(1, from - first, p - from).to(torch::kFloat64)};
  }
  return out;
}

std::shared_ptr<AssistantDrafter> tiny_assistant(Gemma4Model& target, uint64_t seed) {
  auto d = std::dynamic_pointer_cast<AssistantDrafter>(load_drafter("tiny-assistant", target, {torch::kFloat32, seed}));
  REQUIRE(d);
  g4u::test::perturb_norms(d->model(), 3.0 + static_cast<double>(seed));
  return d;
}

}  // namespace

TEST_CASE("drafter parameter counts: the 12B assistant's doc total and hand sums of the tiny presets", "[unit][mtp]") {
  // Architecture doc §7.2: 48 tensors, 422,856,964 parameters.
  auto a12 = *drafter_preset_specs("gemma4-12b-assistant");
  CHECK(a12.size() == 48);
  CHECK(spec_total(a12) == 422856964);

  // tiny-assistant (hidden 32, MLP 64, layers [S, F], q heads 4 x 16 / 4 x 32, backbone 64, vocab 320):
  // embed 320*32 + norm 32 + pre 32*128 + post 64*32
  // + S layer: q 64*32 + o 32*64 + q_norm 16 + 4 norms * 32 + MLP 3*32*64 + scalar 1
  // + F layer: q 128*32 + o 32*128 + q_norm 32 + 4*32 + 3*32*64 + 1
  const int64_t tiny_a = 320 * 32 + 32 + 32 * 128 + 64 * 32 + (64 * 32 * 2 + 16 + 128 + 3 * 32 * 64 + 1) +
                         (128 * 32 * 2 + 32 + 128 + 3 * 32 * 64 + 1);
  CHECK(spec_total(*drafter_preset_specs("tiny-assistant")) == tiny_a);
  // tiny-mtp: enorm, hnorm 64 each, eh_proj 64*128; block q 64*64, k, v 32*64 each, o 64*64, q/k norm 16 each,
  // 4 norms * 64, MLP 3*64*128, scalar; final norm 64.
  const int64_t tiny_mtp = 64 + 64 + 64 * 128 + (64 * 64 + 2 * 32 * 64 + 64 * 64 + 32 + 4 * 64 + 3 * 64 * 128 + 1) + 64;
  CHECK(spec_total(*drafter_preset_specs("tiny-mtp")) == tiny_mtp);
  // tiny-medusa: 4 heads x (ResBlock 64*64 + 64 bias, vocabulary projection 320*64).
  CHECK(spec_total(*drafter_preset_specs("tiny-medusa")) == 4 * (64 * 64 + 64 + 320 * 64));

  auto target = tiny_target();
  for (const std::string name : {"tiny-assistant", "tiny-mtp", "tiny-medusa"}) {
    auto d = load_drafter(name, *target);
    CHECK(module_total(d->module()) == spec_total(*drafter_preset_specs(name)));
    CHECK_NOTHROW(check_parameters_match(d->module(), d->tensor_specs()));
  }
}

TEST_CASE("assistant names follow the HF checkpoint and read the target's last sliding and full layer", "[unit][mtp]") {
  auto target = tiny_target();
  auto d = tiny_assistant(*target, 1);
  auto names = d->module().named_parameters();
  for (const char* n : {"model.embed_tokens.weight", "model.norm.weight", "pre_projection.weight", "post_projection.weight",
                        "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_norm.weight",
                        "model.layers.1.layer_scalar", "model.layers.0.mlp.down_proj.weight"})
    CHECK(names.contains(n));
  CHECK_FALSE(names.contains("model.layers.0.self_attn.k_proj.weight"));
  CHECK(names["pre_projection.weight"].sizes() == torch::IntArrayRef({32, 128}));  // [Hd, 2 Hb]
  CHECK(names["post_projection.weight"].sizes() == torch::IntArrayRef({64, 32}));  // [Hb, Hd]
  // tiny layers S S F S S F: last sliding 4, last full 5.
  CHECK(d->source_layer(LayerType::kSliding) == 4);
  CHECK(d->source_layer(LayerType::kFull) == 5);
  CHECK(d->config_json()["model_type"] == "gemma4_unified_assistant");
}

TEST_CASE("one assistant draft chain equals the float64 reference of doc 7.3 (window crossed)", "[unit][mtp]") {
  auto target = tiny_target(11);
  auto d = tiny_assistant(*target, 5);
  const TextConfig& tc = target->config().text;
  torch::NoGradGuard ng;
  for (int64_t p : {3, 8, 13}) {  // before, at and past the sliding window of 8
    std::vector<int64_t> seq = some_ids(p + 1, tc.vocab_size, p);
    auto st = prepare(*target, seq, p);
    auto kv = visible_kv(*st.cache, tc, p, 8);

    // Step by step: (x, hidden[p-1]) then (d_1, c'), (d_2, c''), all at the same position p.
    int64_t tok = seq[p];
    torch::Tensor c = st.hidden[p - 1].to(torch::kFloat64);
    std::vector<int64_t> want;
    for (int j = 0; j < 3; ++j) {
      RefOut r = ref_step(d->model(), *target, tok, c, p, kv);
      // The module's own step on the same inputs.
      SharedKV skv[2];
      for (int i = 0; i < 2; ++i) {
        skv[i].keys = kv[i].first.unsqueeze(0).to(torch::kFloat32);
        skv[i].values = kv[i].second.unsqueeze(0).to(torch::kFloat32);
      }
      torch::Tensor e = target->text().embed(torch::full({1, 1}, tok, torch::kInt64));
      auto out = d->model().step(e, c.to(torch::kFloat32).view({1, 1, -1}), torch::full({1, 1}, p, torch::kInt64), skv);
      CHECK(torch::allclose(out.logits[0][0].to(torch::kFloat64), r.logits, 1e-4, 1e-4));
      CHECK(torch::allclose(out.context[0][0].to(torch::kFloat64), r.context, 1e-4, 1e-4));
      tok = r.logits.argmax().item<int64_t>();
      want.push_back(tok);
      c = r.context;
    }
    // draft() slices the target cache itself and feeds back argmax and post_projection.
    Sampler greedy(SamplingParams{}, {});
    Draft dr = d->draft(st.state(*target), DraftRequest{3, nullptr, &greedy});
    CHECK(dr.tokens == want);
  }
}

TEST_CASE("the sliding drafter layer sees exactly the newest W target keys before p", "[unit][mtp]") {
  // At temperature 1 without filters, q of the first draft is softmax(drafter logits): compare it
  // with the reference on W = 8 keys (the documented range) and on W = 9 (one key too many).
  auto target = tiny_target(3);
  auto d = tiny_assistant(*target, 2);
  const TextConfig& tc = target->config().text;
  torch::NoGradGuard ng;
  const int64_t p = 14;
  std::vector<int64_t> seq = some_ids(p + 1, tc.vocab_size, 4);
  auto st = prepare(*target, seq, p);
  torch::Tensor c = st.hidden[p - 1].to(torch::kFloat64);
  torch::Tensor q8 = torch::softmax(ref_step(d->model(), *target, seq[p], c, p, visible_kv(*st.cache, tc, p, 8)).logits, 0);
  torch::Tensor q9 = torch::softmax(ref_step(d->model(), *target, seq[p], c, p, visible_kv(*st.cache, tc, p, 9)).logits, 0);
  Sampler sampler(SamplingParams{1.0, 0, 1.0, 5}, {});
  Draft dr = d->draft(st.state(*target), DraftRequest{1, nullptr, &sampler});
  REQUIRE(dr.q.size() == 1);
  torch::Tensor got = torch::tensor(dr.q[0]).to(torch::kFloat64);
  CHECK((got - q8).abs().max().item<double>() < 1e-5);
  CHECK((got - q9).abs().max().item<double>() > 1e-4);
}

TEST_CASE("training logits (unrolled, teacher-forced) equal the inference drafts for every drafter", "[unit][mtp]") {
  auto target = tiny_target(21);
  const TextConfig& tc = target->config().text;
  torch::NoGradGuard ng;
  const int64_t T = 14;
  std::vector<int64_t> seq = some_ids(T, tc.vocab_size, 9);
  KVCache cache(tc, 1, torch::kFloat32, T + 1);
  torch::Tensor ids = torch::tensor(seq).view({1, T});
  torch::Tensor valid = torch::ones({1, T}, torch::kBool);
  torch::Tensor hidden = target->text().forward(target->text().embed(ids), valid, cache).hidden;
  TargetPass pass{target.get(), ids, valid, hidden, &cache};
  for (const std::string name : {"tiny-assistant", "tiny-mtp", "tiny-medusa"}) {
    INFO(name);
    auto d = load_drafter(name, *target, {torch::kFloat32, 4});
    g4u::test::perturb_norms(d->module(), 1.5);
    auto un = d->unrolled_logits(pass, 2);
    REQUIRE(un.size() == 2);
    CHECK(un[0].sizes() == torch::IntArrayRef({1, T, tc.vocab_size}));
    Sampler greedy(SamplingParams{}, {});
    for (int64_t p = 1; p + 1 < T; ++p) {
      d->reset();
      auto st = prepare(*target, seq, p);
      Draft dr = d->draft(st.state(*target), DraftRequest{1, nullptr, &greedy});
      CHECK(dr.tokens[0] == un[0][0][p].argmax().item<int64_t>());
    }
  }
  // The assistant's second step: teacher forcing feeds seq[p + 1] with the first step's context.
  auto a = tiny_assistant(*target, 8);
  auto un = a->unrolled_logits(pass, 2);
  for (int64_t p : {1, 5, 9, 12}) {
    auto st = prepare(*target, seq, p);
    auto kv = visible_kv(*st.cache, tc, p, 8);
    RefOut r0 = ref_step(a->model(), *target, seq[p], st.hidden[p - 1].to(torch::kFloat64), p, kv);
    RefOut r1 = ref_step(a->model(), *target, seq[p + 1], r0.context, p, kv);
    CHECK(torch::allclose(un[0][0][p].to(torch::kFloat64), r0.logits, 1e-4, 1e-4));
    CHECK(torch::allclose(un[1][0][p].to(torch::kFloat64), r1.logits, 1e-4, 1e-4));
  }
}

TEST_CASE("drafters that do not fit the target are input errors naming the mismatch", "[unit][mtp]") {
  auto tiny = tiny_target();
  auto small = tiny_target(1, "small");
  auto msg = [](auto f) {
    try {
      f();
    } catch (const g4u::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(msg([&] { load_drafter("small-assistant", *tiny); }), Catch::Contains("backbone_hidden_size 256"));
  CHECK_THAT(msg([&] { load_drafter("tiny-assistant", *small); }), Catch::Contains("hidden_size"));
  CHECK_THAT(msg([&] { load_drafter("small-mtp", *tiny); }), Catch::Contains("hidden_size 256"));
  CHECK_THAT(msg([&] { load_drafter("tiny-medusa", *small); }), Catch::Contains("hidden_size 64"));
  CHECK_THAT(msg([&] { load_drafter("no-such-drafter", *tiny); }), Catch::Contains("tiny-assistant"));
  // Same hidden size, different vocabulary.
  AssistantConfig c = *assistant_preset("tiny-assistant");
  c.text.vocab_size = 300;
  CHECK_THAT(msg([&] { AssistantDrafter(std::make_shared<AssistantModel>(c), *tiny, "x"); }),
             Catch::Contains("vocab_size 300"));
  // K/V geometry that does not match the target's last full layer.
  c = *assistant_preset("tiny-assistant");
  c.text.full.head_dim = 16;
  CHECK_THAT(msg([&] { AssistantDrafter(std::make_shared<AssistantModel>(c), *tiny, "x"); }), Catch::Contains("full"));
}

TEST_CASE("every drafter kind: its tiny presets load, match their tensor lists and round-trip through a checkpoint",
          "[unit][mtp]") {
  auto target = tiny_target();
  g4u::test::ScratchDir dir("drafter_kinds");
  std::set<std::string> kinds;
  for (const DrafterKind& k : drafter_kinds().all()) {
    INFO(k.name);
    kinds.insert(k.name);
    int tiny = 0;
    for (const std::string& preset : k.presets()) {
      if (preset.rfind("tiny", 0) != 0) continue;  // the 12B presets are too big for a unit test
      ++tiny;
      auto p = k.preset(preset);
      REQUIRE(p.has_value());
      CHECK(p->first["model_type"] == k.model_type);
      auto d = load_drafter(preset, *target, {torch::kFloat32, 3});
      CHECK(d->kind() == k.name);
      CHECK(spec_total(d->tensor_specs()) == spec_total(p->second));
      const std::string out = dir / preset;
      save_drafter(*d, out, torch::kFloat32);
      auto back = load_drafter(out, *target);
      CHECK(back->kind() == k.name);
      auto a = d->module().named_parameters(true), b = back->module().named_parameters(true);
      for (const auto& s : p->second) CHECK(torch::equal(a[s.name], b[s.name]));
    }
    CHECK(tiny >= 1);
    // Presets of other kinds are not this kind's.
    for (const DrafterKind& other : drafter_kinds().all())
      if (other.name != k.name)
        for (const std::string& preset : other.presets()) CHECK_FALSE(k.preset(preset).has_value());
  }
  CHECK(kinds == std::set<std::string>{"gemma4-assistant", "mtp", "medusa"});
  CHECK_THROWS_AS(load_drafter("no-such-drafter", *target), g4u::InputError);
}
