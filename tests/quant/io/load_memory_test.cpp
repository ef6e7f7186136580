// Loading a quantized checkpoint at the cost of its weights: kept float tensors view the mapping,
// packed arrays are copied once; a checkpoint without a vocabulary exports with placeholder pieces.
#include "model/io/loader.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf.h"
#include "test_util.h"

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

  // Without map_weights nothing stays mapped, and the logits are the same.
  model::LoadOptions copies;
  copies.dtype = torch::kFloat32;
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
