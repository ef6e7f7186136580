// Meters: percentiles (numpy's linear rule), latency aggregates over batches, weight bytes by class.
#include "model/io/loader.h"
#include "model/io/tensor_specs.h"
#include "eval/results/meters.h"
#include "eval/runner/module_tensors.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace g4u::runner;
using Catch::Detail::Approx;

TEST_CASE("percentile follows numpy's default linear interpolation", "[unit]") {
  std::vector<double> v = {4, 1, 3, 2};  // unsorted on purpose
  CHECK(percentile(v, 50) == Approx(2.5));   // rank 1.5
  CHECK(percentile(v, 90) == Approx(3.7));   // rank 2.7
  CHECK(percentile(v, 99) == Approx(3.97));  // rank 2.97
  CHECK(percentile(v, 0) == 1);
  CHECK(percentile(v, 100) == 4);
  CHECK(percentile({5}, 99) == 5);
  CHECK(std::isnan(percentile({}, 50)));
}

namespace {
SampleRecord rec(const std::string& id, const BatchTiming& b, double ttft, std::vector<double> tokens, int64_t new_tokens) {
  SampleRecord r;
  r.id = id;
  r.batch = b;
  r.ttft_s = ttft;
  r.token_s = std::move(tokens);
  r.new_tokens = new_tokens;
  r.prompt_tokens = b.prompt_tokens / b.size;
  return r;
}
}  // namespace

TEST_CASE("latency summary counts each batch once and each token once", "[unit]") {
  BatchTiming a{"A", 2, 10, 5, 0.01, 0.0, 0.1, 0.04, 100};
  BatchTiming b{"B", 1, 20, 4, 0.02, 0.0, 0.2, 0.06, 300};
  SampleRecord r1 = rec("r1", a, 0.1, {0.01, 0.02}, 3), r2 = rec("r2", a, 0.1, {0.01}, 2),
               r3 = rec("r3", b, 0.2, {0.02, 0.02, 0.02}, 4);
  SampleRecord failed;
  failed.id = "r4";
  failed.error = "bad image";
  failed.batch.id = "x/failed";
  failed.batch.size = 1;
  nlohmann::json j = latency_summary({&r1, &r2, &r3, &failed});
  CHECK(j["samples"] == 4);
  CHECK(j["batches"] == 2);
  // (10 + 20) prompt tokens in 0.1 + 0.2 s; (5 - 2) + (4 - 1) later tokens in 0.04 + 0.06 s.
  CHECK(j["prefill_tokens_per_s"].get<double>() == Approx(100));
  CHECK(j["decode_tokens_per_s"].get<double>() == Approx(60));
  CHECK(j["per_token_s"]["n"] == 6);
  CHECK(j["per_token_s"]["mean"].get<double>() == Approx(0.1 / 6));
  CHECK(j["per_token_s"]["p50"].get<double>() == Approx(0.02));  // sorted .01 .01 .02 .02 .02 .02, rank 2.5
  CHECK(j["ttft_s"]["n"] == 3);                                   // the failed sample never ran
  CHECK(j["ttft_s"]["p50"].get<double>() == Approx(0.1));
  CHECK(j["ttft_s"]["mean"].get<double>() == Approx(0.4 / 3));
  // e2e = preprocess + ttft + own decode steps: 0.14, 0.12, 0.28.
  CHECK(j["e2e_s"]["p50"].get<double>() == Approx(0.14));
  CHECK(j["e2e_s"]["mean"].get<double>() == Approx(0.54 / 3));
  CHECK(j["kv_cache_bytes_max"] == 300);
  CHECK(j["kv_cache_bytes_mean"].get<double>() == Approx(200));
  nlohmann::json empty = latency_summary({});
  CHECK(empty["prefill_tokens_per_s"].is_null());
  CHECK(empty["per_token_s"]["p50"].is_null());
}

namespace {
TensorEntry te(const std::string& name, std::vector<int64_t> shape, int64_t elem, const void* storage = nullptr) {
  TensorEntry t;
  t.name = name;
  t.shape = shape;
  t.numel = 1;
  for (int64_t s : shape) t.numel *= s;
  t.bytes = t.numel * elem;
  t.storage = storage;
  return t;
}
int64_t cls(const WeightBytes& w, const std::string& k) {
  for (auto& [name, v] : w.by_class)
    if (name == k) return v;
  FAIL("no class " << k);
  return -1;
}
}  // namespace

TEST_CASE("weight bytes by class: default rules, tied storage, an added quantization rule", "[unit]") {
  int embed_storage = 0;
  std::vector<TensorEntry> ts = {
      te("model.language_model.embed_tokens.weight", {320, 64}, 4, &embed_storage),
      te("model.language_model.layers.0.self_attn.q_proj.weight", {64, 64}, 4),
      te("model.language_model.layers.0.input_layernorm.weight", {64}, 4),
      te("model.language_model.layers.0.self_attn.q_norm.weight", {16}, 4),
      te("model.vision_embedder.patch_ln1.weight", {48}, 4),
      te("model.language_model.layers.0.layer_scalar", {1}, 4),
      te("lm_head.weight", {320, 64}, 4, &embed_storage),  // tied to the embedding
      te("model.language_model.layers.0.mlp.up_proj.scales", {64, 2}, 4),
  };
  WeightBytes w = weight_bytes_by_class(ts);
  CHECK(cls(w, "embedding") == 320 * 64 * 4);
  CHECK(cls(w, "linear") == 64 * 64 * 4);
  CHECK(cls(w, "norm") == (64 + 16 + 48) * 4);
  CHECK(cls(w, "other") == 4);
  CHECK(cls(w, "head") == 0);
  CHECK(cls(w, "quant_metadata") == 64 * 2 * 4);
  CHECK(w.tied_bytes == 320 * 64 * 4);
  CHECK(w.total_bytes == (320 * 64 + 64 * 64 + 64 + 16 + 48 + 1 + 128) * 4);
  CHECK(w.weights == 320 * 64 + 64 * 64 + 64 + 16 + 48 + 1);  // scales stand for no weights

  // A packed 4-bit layer registers its buffers: two weights per uint8 byte, counted as linear.
  add_weight_rule({"test-packed-int4", "linear",
                   [](const TensorEntry& t) { return t.name.size() > 8 && t.name.substr(t.name.size() - 8) == ".qweight"; },
                   [](const TensorEntry& t) { return 2 * t.numel; }});
  WeightBytes q = weight_bytes_by_class({te("layers.0.mlp.up_proj.qweight", {64, 32}, 1),
                                         te("layers.0.mlp.up_proj.scales", {64, 2}, 2)});
  CHECK(cls(q, "linear") == 64 * 32);
  CHECK(cls(q, "quant_metadata") == 64 * 2 * 2);
  CHECK(q.weights == 64 * 64);
  CHECK(q.bits_per_weight() == Approx(8.0 * (2048 + 256) / 4096));  // 4.5 bits, as Q4_0-like formats
  CHECK_THROWS(add_weight_rule({"test-packed-int4", "linear", [](const TensorEntry&) { return false; }, nullptr}));
  CHECK_THROWS(add_weight_rule({"bad-class", "bias", [](const TensorEntry&) { return false; }, nullptr}));
}

TEST_CASE("weight bytes of the tiny model agree with its tensor specs", "[unit]") {
  g4u::model::LoadedModel lm = g4u::model::load_model("tiny");
  WeightBytes w = weight_bytes_by_class(module_tensors(*lm.model));
  int64_t params = g4u::model::count_params(lm.model->tensor_specs())["total"];
  CHECK(w.weights == params);
  CHECK(w.total_bytes == 4 * params);  // fp32
  CHECK(cls(w, "embedding") >= 320 * 64 * 4);
  CHECK(cls(w, "head") == 0);  // the LM head is the tied embedding
  CHECK(cls(w, "quant_metadata") == 0);
  CHECK(cls(w, "norm") > 0);
  CHECK(cls(w, "linear") > cls(w, "norm"));
  CHECK(w.bits_per_weight() == Approx(32));

  // A packed tied head (a quantized checkpoint's q4_k_m table) adds its bytes as "head", no weights.
  struct PackedHead : g4u::model::Linear {
    torch::Tensor forward(const torch::Tensor& x) override { return x; }
    int64_t in_features() const override { return 64; }
    int64_t out_features() const override { return 320; }
    std::string scheme() const override { return "q6_k"; }
    int64_t storage_bytes() const override { return 16800; }
    torch::ScalarType input_dtype() const override { return torch::kFloat32; }
  };
  lm.model->text().head = std::make_shared<PackedHead>();
  WeightBytes h = weight_bytes_by_class(module_tensors(*lm.model));
  CHECK(cls(h, "head") == 16800);
  CHECK(h.weights == params);
  CHECK(h.total_bytes == 4 * params + 16800);
}
