// Parity with the reference implementation: g4u loads the small random models that
// tests/parity/make_fixtures.py built with HF transformers (gemma4_unified and its assistant), runs
// its own processor on the same PNG, JPEG and WAV, and must give the reference's processor outputs
// (pixels exact for the PNG), embeddings, per-layer hidden states and logits (max abs diff <= the
// manifest's tolerance, 1e-4), greedy tokens, and the drafter's tokens.
//
// The fixtures are made on a machine with HF transformers (the GPU machine, tests/parity/README.md);
// until they are committed under tests/fixtures/parity/ these test cases say so and check nothing.
#include "base/error.h"
#include "model/io/config.h"
#include "model/io/loader.h"
#include "model/io/safetensors.h"
#include "model/model.h"
#include "model/mtp/drafter.h"
#include "model/multimodal/prompt.h"
#include "model/text/kv_cache.h"
#include "model/text/sampling.h"
#include "test_paths.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace g4u;
using namespace g4u::model;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kDir = fs::path(G4U_FIXTURES_DIR) / "parity";

std::optional<json> manifest() {
  const fs::path p = kDir / "manifest.json";
  if (!fs::exists(p)) return std::nullopt;
  std::ifstream in(p);
  return json::parse(in);
}

#define REQUIRE_FIXTURES(m)                                                                                  \
  auto m = manifest();                                                                                       \
  if (!m) {                                                                                                  \
    WARN("no parity fixtures in " << kDir.string() << ": run tests/parity/make_fixtures.py with HF transformers"); \
    return;                                                                                                  \
  }

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

std::vector<int64_t> ids_of(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

struct Fixture {
  json manifest;
  LoadedModel target;
  double tolerance = 1e-4;
};

Fixture load_fixture(const json& m) {
  Fixture f{m, load_model((kDir / m.at("target").get<std::string>()).string()), 1e-4};
  f.tolerance = m.at("tolerance").at("max_abs").get<double>();
  return f;
}

// A case's tensors and its processed ids [1, T].
struct Case {
  std::shared_ptr<SafetensorsFile> st;
  torch::Tensor ids;
};
Case open_case(const json& cs) {
  Case c{SafetensorsFile::open((kDir / cs.at("file").get<std::string>()).string()), {}};
  c.ids = c.st->load("input_ids").to(torch::kInt64).view({1, -1});
  return c;
}

// The reference's processor outputs as g4u's media inputs (to check the model math apart from preprocessing).
std::vector<ImagePatches> reference_images(const SafetensorsFile& st) {
  if (!st.find("pixel_values")) return {};
  ImagePatches im;
  im.pixels = st.load("pixel_values");
  im.positions = st.load("image_position_ids").to(torch::kInt64);
  const torch::Tensor valid = (im.positions.select(1, 0) >= 0);
  im.num_soft_tokens = valid.sum().item<int64_t>();
  im.grid_w = im.positions.select(1, 0).max().item<int64_t>() + 1;
  im.grid_h = im.positions.select(1, 1).max().item<int64_t>() + 1;
  im.budget = im.pixels.size(0);
  return {im};
}

std::vector<AudioFrames> reference_audio(const SafetensorsFile& st) {
  if (!st.find("input_features")) return {};
  AudioFrames a;
  const torch::Tensor mask = st.load("input_features_mask").to(torch::kBool);
  a.frames = st.load("input_features").index({mask});
  return {a};
}

}  // namespace

TEST_CASE("g4u's processor gives the reference processor's outputs", "[unit][parity]") {
  REQUIRE_FIXTURES(m);
  Fixture f = load_fixture(*m);
  const ModelConfig& c = f.target.model->config();
  REQUIRE(f.target.tokenizer);
  for (const json& cs : m->at("cases")) {
    const std::string name = cs.at("name");
    INFO("case " << name);
    auto st = open_case(cs).st;
    std::vector<ImagePatches> images;
    for (const json& p : cs.at("images"))
      images.push_back(preprocess_image_file((kDir / p.get<std::string>()).string(),
                                             image_options(*c.vision, m->at("image_budget").get<int64_t>())));
    std::vector<AudioFrames> audios;
    if (!cs.at("audio").is_null())
      audios.push_back(preprocess_audio_file((kDir / cs.at("audio").get<std::string>()).string(), audio_options(*c.audio)));
    MultimodalPrompt p = expand_placeholders(f.target.tokenizer->encode(cs.at("text").get<std::string>()), c, images, audios);
    CHECK(p.input_ids == ids_of(st->load("input_ids")));
    CHECK(p.mm_token_type_ids == ids_of(st->load("mm_token_type_ids")));
    if (!images.empty()) {
      const bool png = cs.at("images")[0].get<std::string>().find(".png") != std::string::npos;
      const double px = max_abs_diff(p.images[0].pixels, st->load("pixel_values"));
      if (png) CHECK(px == 0.0);
      else CHECK(px <= 2.0 / 255.0);  // JPEG: two IDCTs may round differently
      CHECK(torch::equal(p.images[0].positions, st->load("image_position_ids").to(torch::kInt64)));
    }
    if (!audios.empty()) CHECK(max_abs_diff(p.audios[0].frames, reference_audio(*st)[0].frames) == 0.0);
  }
}

TEST_CASE("embeddings, every layer's output and logits equal the reference's", "[unit][parity]") {
  REQUIRE_FIXTURES(m);
  torch::NoGradGuard ng;
  Fixture f = load_fixture(*m);
  Gemma4Model& model = *f.target.model;
  const ModelConfig& c = model.config();
  for (const json& cs : m->at("cases")) {
    const std::string name = cs.at("name");
    INFO("case " << name);
    const Case k = open_case(cs);
    const SafetensorsFile* st = k.st.get();
    const torch::Tensor& ids = k.ids;
    const int64_t T = ids.size(1);
    const std::vector<ImagePatches> images = reference_images(*st);
    const std::vector<AudioFrames> audios = reference_audio(*st);
    for (VisionMask mode : {VisionMask::kSlidingBlocks, VisionMask::kAllLayersNoWindow}) {
      ForwardOptions opt = multimodal_forward_options(ids, c, mode);
      opt.collect_layer_outputs = true;
      const torch::Tensor embeds = embed_multimodal(model, ids, images, audios);
      ForwardResult r = model.text().forward(embeds, torch::ones({1, T}, torch::kBool), nullptr, opt);
      const torch::Tensor logits = model.text().logits(r.hidden)[0];
      if (mode == VisionMask::kAllLayersNoWindow) {
        CHECK(max_abs_diff(logits, st->load("logits_all_layers_no_window")) <= f.tolerance);
        continue;
      }
      CHECK(max_abs_diff(embeds[0], st->load("embeddings")) <= f.tolerance);
      REQUIRE(static_cast<int64_t>(r.layer_outputs.size()) == cs.at("layers").get<int64_t>());
      for (size_t l = 0; l < r.layer_outputs.size(); ++l) {
        INFO("layer " << l);
        CHECK(max_abs_diff(r.layer_outputs[l][0], st->load(fmt::format("layer_{:02d}", l))) <= f.tolerance);
      }
      CHECK(max_abs_diff(r.hidden[0], st->load("final_norm")) <= f.tolerance);
      CHECK(max_abs_diff(logits, st->load("logits")) <= f.tolerance);
    }
  }
}

TEST_CASE("greedy tokens and the drafter's tokens equal the reference's", "[unit][parity]") {
  REQUIRE_FIXTURES(m);
  torch::NoGradGuard ng;
  Fixture f = load_fixture(*m);
  Gemma4Model& model = *f.target.model;
  const ModelConfig& c = model.config();
  const int64_t n = m->at("greedy_tokens").get<int64_t>();
  for (const json& cs : m->at("cases")) {
    INFO("case " << cs.at("name").get<std::string>());
    const Case k = open_case(cs);
    const SafetensorsFile* st = k.st.get();
    const torch::Tensor& ids = k.ids;
    const int64_t T = ids.size(1);
    // Prefill with the vision blocks, then cached decode steps (HF's reference: full no-cache passes).
    KVCache cache(c.text, 1, model.dtype());
    ForwardResult r = model.text().forward(embed_multimodal(model, ids, reference_images(*st), reference_audio(*st)),
                                           torch::ones({1, T}, torch::kBool), &cache,
                                           multimodal_forward_options(ids, c, VisionMask::kSlidingBlocks));
    std::vector<int64_t> tokens;
    for (int64_t i = 0; i < n; ++i) {
      tokens.push_back(model.text().logits(r.hidden.select(1, -1)).argmax(-1).item<int64_t>());
      r = model.text().forward(model.text().embed(torch::full({1, 1}, tokens.back(), torch::kInt64)),
                               torch::ones({1, 1}, torch::kBool), &cache);
    }
    CHECK(tokens == ids_of(st->load("greedy")));
  }

  // The drafter: two greedy steps after the `text` case's prompt (make_fixtures.py drafter_round).
  const json& d = m->at("drafter");
  auto ds = SafetensorsFile::open((kDir / d.at("file").get<std::string>()).string());
  std::string case_file;
  for (const json& cs : m->at("cases"))
    if (cs.at("name") == d.at("case")) case_file = cs.at("file");
  auto st = SafetensorsFile::open((kDir / case_file).string());
  std::vector<int64_t> seq = ids_of(st->load("input_ids"));
  const int64_t T = static_cast<int64_t>(seq.size());
  KVCache cache(c.text, 1, model.dtype(), /*rollback_margin=*/8);
  ForwardResult r = model.text().forward(model.text().embed(torch::tensor(seq).view({1, T})),
                                         torch::ones({1, T}, torch::kBool), &cache);
  const int64_t x = model.text().logits(r.hidden.select(1, -1)).argmax(-1).item<int64_t>();
  CHECK(x == ids_of(ds->load("drafter.target_token"))[0]);
  seq.push_back(x);
  std::shared_ptr<Drafter> drafter = load_drafter((kDir / m->at("assistant").get<std::string>()).string(), model);
  Sampler greedy_sampler(SamplingParams{});
  REQUIRE(greedy_sampler.greedy());
  TargetState state{&model, &cache, &seq, r.hidden[0], T};
  Draft draft = drafter->draft(state, DraftRequest{d.at("steps").get<int64_t>(), nullptr, &greedy_sampler});
  REQUIRE(draft.tokens.size() == 2);
  CHECK(draft.tokens[0] == ids_of(ds->load("drafter.step0.token"))[0]);
  CHECK(draft.tokens[1] == ids_of(ds->load("drafter.step1.token"))[0]);
}

TEST_CASE("tokenizer.json encodes as the tokenizers library does", "[unit][parity]") {
  REQUIRE_FIXTURES(m);
  Fixture f = load_fixture(*m);
  std::ifstream in(kDir / "tokenizer_cases.json");
  const json cases = json::parse(in);
  for (const json& cs : cases.at("cases")) {
    const std::string text = cs.at("text");
    INFO("text '" << text << "'");
    CHECK(f.target.tokenizer->encode(text) == cs.at("ids").get<std::vector<int64_t>>());
  }
}
