// Loading a quantized checkpoint at the cost of its weights: kept float tensors view the mapping,
// packed arrays stored in the kernels' order stay views of it and the others are copied once; a
// checkpoint without a vocabulary exports with placeholder pieces.
#include "model/io/loader.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf.h"
#include "quant/io/gguf_import.h"
#include "quant/layer/quant_linear.h"
#include "quant/quant_test_util.h"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace g4u;
using namespace g4u::test;
namespace fs = std::filesystem;

TEST_CASE("a quantized checkpoint keeps its float tensors as views and packs the rest once", "[unit][load]") {
  ScratchDir dir("load_quant");
  model::write_random_checkpoint(*model::model_preset("tiny"), dir / "dense", 5, torch::kFloat32);
  quant::QuantizeOptions q;
  q.recipe = "q4_0";
  quant::quantize_checkpoint(dir / "dense", dir / "q", q);
  model::LoadOptions opt;
  opt.dtype = torch::kFloat32;
  opt.map_weights = true;
  model::LoadedModel lm = quant::load_quantized_model(dir / "q", opt);
  const auto ranges = mappings_of(dir / "q/model.safetensors");
  REQUIRE(!ranges.empty());
  // The kept fp32 tensors (norms, the tied table) are views; the model has no dense projection left.
  CHECK(inside(ranges, lm.model->text().norm->weight));
  CHECK(inside(ranges, lm.model->text().embed_tokens->weight));
  for (const auto& p : lm.model->named_parameters(true)) CHECK(!model::is_placeholder(p.value()));
  CHECK(quant::decoder_linears(*lm.model).begin()->second->scheme() == "q4_0");

  // A bf16 table under an fp32 run stays bf16 (the tied head reads it as stored): a view too.
  model::write_random_checkpoint(*model::model_preset("tiny"), dir / "dense16", 5, torch::kBFloat16);
  quant::quantize_checkpoint(dir / "dense16", dir / "q16", q);
  model::LoadedModel lm16 = quant::load_quantized_model(dir / "q16", opt);
  const auto ranges16 = mappings_of(dir / "q16/model.safetensors");
  CHECK(lm16.model->text().embed_tokens->weight.scalar_type() == torch::kBFloat16);
  CHECK(inside(ranges16, lm16.model->text().embed_tokens->weight));
  CHECK(lm16.model->text().norm->weight.scalar_type() == torch::kFloat32);  // converted: an owned copy
  CHECK(!inside(ranges16, lm16.model->text().norm->weight));

  // Without map_weights the bf16 table the head reads as stored is still a view (map_packed);
  // without either nothing stays mapped, and the logits are the same.
  model::LoadOptions copies;
  copies.dtype = torch::kFloat32;
  {
    // Loaded before the mappings are listed: the new load maps the file at an address of its own.
    model::LoadedModel table_view = quant::load_quantized_model(dir / "q16", copies);
    CHECK(inside(mappings_of(dir / "q16/model.safetensors"), table_view.model->text().embed_tokens->weight));
  }
  copies.map_packed = false;
  model::LoadedModel owned = quant::load_quantized_model(dir / "q16", copies);
  CHECK(owned.model->text().embed_tokens->weight.scalar_type() == torch::kBFloat16);
  CHECK(!inside(mappings_of(dir / "q16/model.safetensors"), owned.model->text().embed_tokens->weight));
  torch::NoGradGuard ng;
  const torch::Tensor ids = torch::tensor(std::vector<int64_t>{2, 40, 41, 42}).view({1, 4});
  auto logits = [&](model::Gemma4Model& m) {
    model::KVCache cache(m.config().text, 1, m.dtype());
    auto r = m.text().forward(m.text().embed(ids), torch::ones({1, 4}, torch::kBool), cache);
    return m.text().logits(r.hidden.select(1, -1));
  };
  CHECK(torch::equal(logits(*owned.model), logits(*lm16.model)));
}

TEST_CASE("a checkpoint without a vocabulary exports to GGUF with placeholder pieces", "[unit][load]") {
  ScratchDir dir("load_none_gguf");
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.tokenizer = "sentencepiece";  // as gemma4-12b: g4u init writes no tokenizer file for it
  model::write_random_checkpoint(cfg, dir / "ck", 1, torch::kFloat32);
  // export-gguf writes placeholder pieces so llama.cpp can run it on token ids.
  quant::QuantizeOptions q;
  q.recipe = "q8_0";
  quant::quantize_checkpoint(dir / "ck", dir / "q", q);
  nlohmann::json info = quant::export_gguf(dir / "q", dir / "m.gguf");
  CHECK(fs::file_size(dir / "m.gguf") > 0);
  CHECK(info["tokenizer"].get<std::string>() == "none");
  CHECK_THAT(info["notes"].dump(), Catch::Contains("placeholder pieces"));
}

namespace {
// Every packed array of every QuantLinear in `m`: borrowed from the mapping (and lying inside one
// of `ranges`) when `borrowed`, owned memory outside the mapping otherwise.
void check_packed_arrays(model::Gemma4Model& m, const std::vector<MappedRange>& ranges, bool borrowed) {
  for (const auto& [name, lin] : quant::decoder_linears(m)) {
    INFO(name);
    auto ql = std::dynamic_pointer_cast<quant::QuantLinear>(lin);
    REQUIRE(ql);
    const quant::QuantizedTensor& w = ql->weight();
    CHECK(w.data.is_borrowed() == borrowed);
    CHECK(address_inside(ranges, w.data.data(), w.data.size()) == borrowed);
  }
}

torch::Tensor last_logits(model::Gemma4Model& m) {
  torch::NoGradGuard ng;
  const torch::Tensor ids = torch::tensor(std::vector<int64_t>{2, 40, 41, 42}).view({1, 4});
  model::KVCache cache(m.config().text, 1, m.dtype());
  auto r = m.text().forward(m.text().embed(ids), torch::ones({1, 4}, torch::kBool), cache);
  return m.text().logits(r.hidden.select(1, -1));
}
}  // namespace

TEST_CASE("packed arrays stored in the kernels' order stay views of the mapping; others are copied", "[unit][load]") {
  ScratchDir dir("load_packed_views");
  // q4_k_m has Q4_K (interleaved by the kernels) and Q6_K (one order) projections on these rows.
  model::write_random_checkpoint(tiny_text_256(), dir / "dense", 3, torch::kBFloat16);
  quant::QuantizeOptions q;
  q.recipe = "q4_k_m";
  quant::quantize_checkpoint(dir / "dense", dir / "kernel", q);
  q.kernel_order = false;
  quant::quantize_checkpoint(dir / "dense", dir / "storage", q);

  // Kernel order (the default): every projection's codes are views, and so is the bf16 table that
  // the tied head reads as stored.
  model::LoadedModel views = quant::load_quantized_model(dir / "kernel");
  const auto kernel_ranges = mappings_of(dir / "kernel/model.safetensors");
  check_packed_arrays(*views.model, kernel_ranges, true);
  CHECK(quant::decoder_linears(*views.model).at("model.language_model.layers.0.mlp.up_proj.weight")->scheme() == "q4_k");

  // --no-mmap: copies of everything; nothing of the file stays mapped once the checkpoint is closed.
  model::LoadOptions no_map;
  no_map.map_packed = false;
  model::LoadedModel copies = quant::load_quantized_model(dir / "kernel", no_map);
  check_packed_arrays(*copies.model, {}, false);

  // Storage order (version 1): Q4_K codes are copied (the kernels rearrange them), Q6_K stay views.
  model::LoadedModel mixed = quant::load_quantized_model(dir / "storage");
  const auto storage_ranges = mappings_of(dir / "storage/model.safetensors");
  for (const auto& [name, lin] : quant::decoder_linears(*mixed.model)) {
    INFO(name);
    const quant::QuantizedTensor& w = std::dynamic_pointer_cast<quant::QuantLinear>(lin)->weight();
    const bool one_order = w.scheme->name != "q4_k" && w.scheme->name != "q4_0";
    CHECK(w.data.is_borrowed() == one_order);
    CHECK(address_inside(storage_ranges, w.data.data(), w.data.size()) == one_order);
    CHECK(w.interleaved == !one_order);
  }

  // The same model every way: packed bytes (in the kernels' order) and logits.
  for (const auto& [name, lin] : quant::decoder_linears(*views.model)) {
    INFO(name);
    const auto& a = std::dynamic_pointer_cast<quant::QuantLinear>(lin)->weight();
    CHECK(a.data == std::dynamic_pointer_cast<quant::QuantLinear>(quant::decoder_linears(*copies.model).at(name))->weight().data);
    CHECK(a.data == std::dynamic_pointer_cast<quant::QuantLinear>(quant::decoder_linears(*mixed.model).at(name))->weight().data);
  }
  const torch::Tensor want = last_logits(*mixed.model);
  CHECK(torch::equal(last_logits(*views.model), want));
  CHECK(torch::equal(last_logits(*copies.model), want));

  // A view outlives the Checkpoint object that opened the file: the model keeps the mapping.
  views = quant::load_quantized_model(dir / "kernel");
  CHECK(!mappings_of(dir / "kernel/model.safetensors").empty());
  CHECK(torch::equal(last_logits(*views.model), want));
  views = model::LoadedModel{};
  copies = model::LoadedModel{};
  CHECK(mappings_of(dir / "kernel/model.safetensors").empty());
}

TEST_CASE("a GGUF file's Q6_K / Q8_0 blocks and bf16 table stay views of its mapping", "[unit][load][gguf]") {
  ScratchDir dir("load_gguf_views");
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.vision.reset();
  cfg.audio.reset();
  model::write_random_checkpoint(cfg, dir / "dense", 4, torch::kBFloat16);
  quant::QuantizeOptions q;
  q.recipe = "q8_0";
  quant::quantize_checkpoint(dir / "dense", dir / "q", q);
  quant::export_gguf(dir / "q", dir / "m.gguf");
  model::LoadedModel g = quant::load_gguf_model(dir / "m.gguf");
  const auto ranges = mappings_of(dir / "m.gguf");
  check_packed_arrays(*g.model, ranges, true);
  CHECK(g.model->text().embed_tokens->weight.scalar_type() == torch::kBFloat16);
  CHECK(inside(ranges, g.model->text().embed_tokens->weight));
  model::LoadOptions no_map;
  no_map.map_packed = false;
  model::LoadedModel c = quant::load_gguf_model(dir / "m.gguf", no_map);
  check_packed_arrays(*c.model, {}, false);
  CHECK(!inside(mappings_of(dir / "m.gguf"), c.model->text().embed_tokens->weight));
  CHECK(torch::equal(last_logits(*g.model), last_logits(*c.model)));
  CHECK(torch::equal(last_logits(*g.model), last_logits(*quant::load_quantized_model(dir / "q").model)));
}
