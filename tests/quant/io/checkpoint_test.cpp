// Tensor policy, streaming quantize of a checkpoint, loading it back, bad checkpoints.
#include "base/json_util.h"
#include "model/io/loader.h"
#include "model/io/safetensors.h"
#include "quant/io/checkpoint.h"
#include "quant/layer/policy.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/torch_tensor.h"
#include "quant/quant_test_util.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <set>

namespace fs = std::filesystem;
using namespace g4u;
using namespace g4u::quant;

namespace {

using g4u::test::ScratchDir;


std::vector<model::TensorSpec> layer_specs(int64_t layers, bool v_everywhere) {
  model::ModelConfig c = *model::model_preset("small");
  c.text.num_layers = layers;
  c.text.layer_types.assign(layers, model::LayerType::kSliding);
  if (!v_everywhere)
    for (int64_t l = 2; l < layers; l += 3) c.text.layer_types[l] = model::LayerType::kFull;
  return model::model_tensor_specs(c);
}

torch::Tensor logits_of(model::Gemma4Model& m) {
  torch::NoGradGuard ng;
  torch::Tensor ids = torch::tensor({2, 70, 71, 72, 73, 74, 75, 76, 77, 78}).view({1, -1});
  auto r = m.text().forward(m.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr);
  return m.text().logits(r.hidden);
}

}  // namespace

TEST_CASE("use_more_bits matches llama.cpp's rule on hand-listed layer counts", "[unit]") {
  // n = 8: n/8 = 1, 7n/8 = 7 -> i < 1, i >= 7, (i - 1) % 3 == 2 -> {0, 3, 6, 7}.
  std::set<int64_t> got;
  for (int64_t i = 0; i < 8; ++i)
    if (use_more_bits(i, 8)) got.insert(i);
  CHECK(got == std::set<int64_t>{0, 3, 6, 7});
  // n = 48 (the 12B): i < 6, i >= 42, (i - 6) % 3 == 2 -> 8, 11, ..., 41.
  got.clear();
  for (int64_t i = 0; i < 48; ++i)
    if (use_more_bits(i, 48)) got.insert(i);
  std::set<int64_t> want = {0, 1, 2, 3, 4, 5, 42, 43, 44, 45, 46, 47};
  for (int64_t i = 8; i < 42; i += 3) want.insert(i);
  CHECK(got == want);
}

TEST_CASE("Tensor policy: decoder linears quantized, embedding/norms/embedders kept, q4_k_m mix", "[unit]") {
  auto specs = layer_specs(8, true);
  auto plan = plan_tensors(specs, find_recipe("q4_0"));
  for (const auto& a : plan) {
    INFO(a.spec.name);
    const bool decoder_linear = a.spec.component == "text" && a.spec.kind == model::TensorKind::kLinear;
    CHECK((a.scheme != nullptr) == decoder_linear);
    if (a.scheme) CHECK(a.scheme->name == "q4_0");
  }
  auto mix = plan_tensors(specs, find_recipe("q4_k_m"));
  std::set<std::string> q6;
  for (const auto& a : mix)
    if (a.scheme && a.scheme->name == "q6_k") q6.insert(a.spec.name);
  std::set<std::string> want = {"model.language_model.embed_tokens.weight"};
  for (int l : {0, 3, 6, 7}) {
    want.insert("model.language_model.layers." + std::to_string(l) + ".self_attn.v_proj.weight");
    want.insert("model.language_model.layers." + std::to_string(l) + ".mlp.down_proj.weight");
  }
  CHECK(q6 == want);
  // With K=V full layers at 2 and 5, v_proj exists on layers {0,1,3,4,6,7}: i_v counts those six:
  // n_v = 6 -> promoted i_v {0 (i<0? no: 6/8=0), ...}: n/8 = 0, 7n/8 = 5: i_v >= 5 or i_v % 3 == 2 -> {2, 5}
  // -> layers 3 and 7.
  auto kv = plan_tensors(layer_specs(8, false), find_recipe("q4_k_m"));
  std::set<std::string> v6;
  for (const auto& a : kv)
    if (a.scheme && a.scheme->name == "q6_k" && a.spec.name.find("v_proj") != std::string::npos) v6.insert(a.spec.name);
  CHECK(v6 == std::set<std::string>{"model.language_model.layers.3.self_attn.v_proj.weight",
                                    "model.language_model.layers.7.self_attn.v_proj.weight"});
  // Tiny: cols 64/128 are no multiple of 256 -> q4_k falls back to q4_0.
  auto tiny = plan_tensors(model::model_tensor_specs(*model::model_preset("tiny")), find_recipe("q4_k"));
  for (const auto& a : tiny)
    if (a.scheme) CHECK(a.scheme->name == "q4_0");
  test::expect_input_error([] { find_recipe("q3_k_m"); }, "known: q4_0");
}

TEST_CASE("Quantized checkpoint: streamed write, load runs QuantLinear, equals in-memory quantization", "[integration]") {
  ScratchDir dir("roundtrip");
  model::ModelConfig cfg = *model::model_preset("tiny");
  model::write_random_checkpoint(cfg, dir / "dense", 5);
  QuantizeOptions opt;
  opt.recipe = "q4_0";
  nlohmann::json meta = quantize_checkpoint(dir / "dense", dir / "q", opt);
  CHECK(is_quantized_checkpoint(dir / "q"));
  CHECK_FALSE(is_quantized_checkpoint(dir / "dense"));
  CHECK(meta["tensors"].size() == 40);
  CHECK(meta["tensors"]["model.language_model.layers.0.mlp.up_proj.weight"]["bits_per_weight"].get<double>() == 4.5);
  CHECK(meta["kept"].count("model.language_model.embed_tokens.weight") == 1);
  const double rel = meta["tensors"]["model.language_model.layers.0.mlp.up_proj.weight"]["relative_error"].get<double>();
  CHECK(rel > 0.05);  // 4-bit on Gaussian weights: ~0.1
  CHECK(rel < 0.2);
  for (const auto& e : fs::directory_iterator(dir.path)) CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);

  model::LoadedModel q = load_quantized_model(dir / "q");
  auto lins = decoder_linears(*q.model);
  REQUIRE(lins.size() == 40);
  for (auto& [n, l] : lins) CHECK(l->scheme() == "q4_0");

  // Reference: the dense checkpoint loaded, then each projection quantized in memory.
  model::LoadedModel d = model::load_model(dir / "dense");
  torch::Tensor dense_logits = logits_of(*d.model);
  for (auto& [name, lin] : decoder_linears(*d.model)) {
    auto* dense = dynamic_cast<model::DenseLinear*>(lin.get());
    REQUIRE(dense);
    // The checkpoint is bf16: quantize what the file holds.
    replace_linear(*d.model, name, std::make_shared<QuantLinear>(quantize_tensor(dense->weight, "q4_0")));
  }
  torch::Tensor lq = logits_of(*q.model), lr = logits_of(*d.model);
  CHECK(torch::equal(lq, lr));
  CHECK_FALSE(torch::allclose(lq, dense_logits, 1e-3, 1e-3));  // it really is quantized

  // The bf16 token table stays bf16 under the fp32 run, behind the tied head (quant/layer/tied_head.h).
  model::TextModel& qt = q.model->text();
  CHECK(qt.embed_tokens->weight.scalar_type() == torch::kBFloat16);
  CHECK(q.model->dtype() == torch::kFloat32);
  REQUIRE(qt.head != nullptr);
  CHECK(qt.head->scheme() == "tied-BFloat16");
  model::LoadOptions widen;
  widen.packed_head = false;
  model::LoadedModel qw = load_quantized_model(dir / "q", widen);
  CHECK(qw.model->text().embed_tokens->weight.scalar_type() == torch::kFloat32);
  CHECK(qw.model->text().head == nullptr);
  // Same table values: the embeddings are equal, the logits equal up to fp32 summation order.
  const torch::Tensor ids = torch::tensor({3, 9, 100}).view({1, -1});
  CHECK(torch::equal(qt.embed(ids), qw.model->text().embed(ids)));
  CHECK(torch::allclose(lq, logits_of(*qw.model), 1e-5, 1e-5));
  torch::Tensor last = torch::randn({1, 1, cfg.text.hidden_size});
  CHECK(torch::allclose(qt.logits(last), qw.model->text().logits(last), 1e-5, 1e-5));
  model::LoadOptions bf16_run;
  bf16_run.dtype = torch::kBFloat16;
  model::LoadedModel qb = load_quantized_model(dir / "q", bf16_run);
  CHECK(qb.model->text().head == nullptr);  // the table is already in the run dtype
  CHECK(qb.model->dtype() == torch::kBFloat16);

  // q4_k_m on tiny: the embedding is stored as q6_k (cols 64: fallback q8_0) and dequantized at load.
  QuantizeOptions mix;
  mix.recipe = "q4_k_m";
  nlohmann::json mm = quantize_checkpoint(dir / "dense", dir / "qm", mix);
  CHECK(mm["tensors"]["model.language_model.embed_tokens.weight"]["scheme"] == "q8_0");
  model::LoadedModel qm = load_quantized_model(dir / "qm");
  CHECK(logits_of(*qm.model).isfinite().all().item<bool>());
  // Its head reads the packed q8_0 table, and so do the lookups (no dense copy of the table).
  REQUIRE(qm.model->text().head != nullptr);
  CHECK(qm.model->text().head->scheme() == "q8_0");
  CHECK(qm.model->text().embed_tokens->packed() == qm.model->text().head);
  CHECK_FALSE(qm.model->text().embed_tokens->weight.defined());
  model::LoadedModel qmd = load_quantized_model(dir / "qm", widen);
  CHECK(qmd.model->text().head == nullptr);
  CHECK(qmd.model->text().embed_tokens->weight.scalar_type() == torch::kFloat32);
  CHECK(torch::equal(qm.model->text().embed(ids), qmd.model->text().embed(ids)));
  // 8-bit activation blocks: close to the dequantized table's product, not equal to it.
  const torch::Tensor packed = qm.model->text().logits(last), dense = qmd.model->text().logits(last);
  CHECK(torch::allclose(packed, dense, 2e-2, 2e-2));
  CHECK_FALSE(torch::equal(packed, dense));

  test::expect_input_error([&] { quantize_checkpoint(dir / "dense", dir / "q", opt); }, "already exists");
  test::expect_input_error([&] { quantize_checkpoint(dir / "q", dir / "q2", opt); }, "already a quantized");
}

TEST_CASE("Quantized checkpoint: metadata that does not match the tensors is an InputError", "[integration]") {
  ScratchDir dir("bad");
  model::write_random_checkpoint(*model::model_preset("tiny"), dir / "dense", 1);
  QuantizeOptions opt;
  opt.recipe = "rtn4_asym_g32";
  quantize_checkpoint(dir / "dense", dir / "q", opt);
  const std::string meta_path = dir / "q/quantization.json";
  const nlohmann::json good = read_json_file(meta_path);
  const std::string t = "model.language_model.layers.1.mlp.down_proj.weight";
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = good;
    edit(j);
    write_file_atomic(meta_path, j.dump());
  };
  with([&](nlohmann::json& j) { j["tensors"][t]["scheme"] = "q4_0"; });  // sizes no longer match
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, t + ".qdata");
  with([&](nlohmann::json& j) { j["tensors"][t]["shape"] = {64, 64}; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "does not match the config");
  with([&](nlohmann::json& j) { j["tensors"][t]["scheme"] = "q9_9"; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "unknown");
  with([&](nlohmann::json& j) { j["tensors"].erase(t); });  // arrays become unexplained, float tensor missing
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "missing");
  with([&](nlohmann::json& j) { j["tensors"]["model.language_model.norm.weight"] = j["tensors"][t]; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "not a 2-D tensor");
  with([&](nlohmann::json& j) { j["tensors"][t]["group_size"] = -32; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "group_size -32");
  with([&](nlohmann::json& j) { j["recipe"] = "q5_9"; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "recipe");
  with([&](nlohmann::json& j) { j["version"] = 7; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "version");
  with([&](nlohmann::json& j) { j["version"] = "2"; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "version");
  // rtn4 has one order: the file is version 1; version 2 must say where q4_0 / q4_k codes are.
  CHECK(good["version"] == 1);
  with([&](nlohmann::json& j) { j["version"] = 2; });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "qdata_order");
  with([&](nlohmann::json& j) {
    j["version"] = 2;
    j["qdata_order"] = "sideways";
  });
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "qdata_order");
  with([&](nlohmann::json& j) { j["qdata_order"] = "kernel"; });  // not part of version 1
  test::expect_input_error([&] { load_quantized_model(dir / "q"); }, "qdata_order");
  with([&](nlohmann::json& j) {
    j["version"] = 2;
    j["qdata_order"] = "storage";
  });
  CHECK(decoder_linears(*load_quantized_model(dir / "q").model).size() == 40);
  with([](nlohmann::json&) {});
  CHECK(decoder_linears(*load_quantized_model(dir / "q").model).size() == 40);
}

TEST_CASE("An interrupted quantize leaves no directory that loads", "[integration]") {
  ScratchDir dir("crash");
  model::write_random_checkpoint(*model::model_preset("tiny"), dir / "dense", 2);
  QuantizeOptions opt;
  opt.recipe = "q8_0";
  int calls = 0;
  opt.transform = [&](const TensorAssignment&, std::vector<float>&, QuantizedTensor&) -> bool {
    if (++calls == 20) throw std::runtime_error("simulated crash");
    return false;
  };
  CHECK_THROWS_WITH(quantize_checkpoint(dir / "dense", dir / "q", opt), "simulated crash");
  CHECK(calls == 20);
  CHECK_FALSE(fs::exists(dir / "q"));
  for (const auto& e : fs::directory_iterator(dir.path)) CHECK(e.path().filename() == "dense");
}
