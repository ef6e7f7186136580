#include "model/multimodal/embedders.h"
#include "model/model.h"
#include "model/multimodal/projectors.h"

#include "base/error.h"
#include "model/io/config.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

using namespace g4u::model;

namespace {

// Plain LayerNorm over the last axis (weight 1, bias 0 at init), eps 1e-5.
torch::Tensor ref_layer_norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  torch::Tensor mean = x.mean(-1, true);
  torch::Tensor var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / torch::sqrt(var + 1e-5) * w + b;
}

ModelConfig variant_config(const std::string& projector, const std::string& position, int64_t pooling,
                           const std::string& audio, int64_t frame) {
  ModelConfig c = *model_preset("tiny");
  c.vision->projector = projector;
  c.vision->position = position;
  c.vision->token_pooling = pooling;
  c.audio->projector = audio;
  c.audio->audio_embed_dim = frame;
  return c;
}

}  // namespace

TEST_CASE("gemma4 vision embedder matches the formulas of §3.3", "[unit][embedders]") {
  VisionConfig v;
  v.patch_size = 2;
  v.pooling_kernel_size = 1;  // 2x2-pixel patches: P = 12
  v.mm_embed_dim = 5;
  v.mm_posemb_size = 4;
  v.output_proj_dims = 5;  // the embedder's width; the text width (3) differs
  VisionEmbedder emb(v, 3);
  MultimodalProjection proj(5, 3, 1e-6);
  torch::manual_seed(3);
  torch::NoGradGuard ng;
  for (auto& p : emb.named_parameters()) p.value().copy_(torch::randn(p.value().sizes()));
  for (auto& p : proj.named_parameters()) p.value().copy_(torch::randn(p.value().sizes()));
  torch::Tensor pixels = torch::rand({1, 3, 12});
  torch::Tensor pos = torch::tensor({{{1, 2}, {3, 0}, {-1, -1}}}, torch::kInt64);
  torch::Tensor got = proj.forward(emb.forward(pixels, pos));
  auto P = emb.named_parameters();
  torch::Tensor z = ref_layer_norm(pixels, P["patch_ln1.weight"], P["patch_ln1.bias"]);
  z = torch::matmul(z, P["patch_dense.weight"].t()) + P["patch_dense.bias"];
  z = ref_layer_norm(z, P["patch_ln2.weight"], P["patch_ln2.bias"]);
  torch::Tensor T = P["pos_embedding"];  // [4, 2, 5]: slot 0 = x table, slot 1 = y table
  torch::Tensor pe = torch::stack({T[1][0] + T[2][1], T[3][0] + T[0][1], torch::zeros({5})}).unsqueeze(0);
  z = ref_layer_norm(z + pe, P["pos_norm.weight"], P["pos_norm.bias"]);
  z = z / torch::sqrt(z.pow(2).mean(-1, true) + 1e-6);
  torch::Tensor want = torch::matmul(z, proj.named_parameters()["embedding_projection.weight"].t());
  CHECK(torch::allclose(got, want, 1e-5, 1e-5));
  CHECK(got.sizes() == torch::IntArrayRef({1, 3, 3}));
}

TEST_CASE("gemma4 vision embedder in bf16: its LayerNorms hold on near-uniform patches", "[unit][embedders]") {
  // Patches of an almost uniform background: pixels 0.5 +- 0.01. The bf16 embedder must stay within
  // bf16 rounding of the fp32 one run on the same (bf16-rounded) pixels; LibTorch 1.13's bf16 CPU
  // LayerNorm was 13 % off on such rows, the whole embedder about 45 % on a count-shapes image.
  VisionConfig v;
  v.patch_size = 8;
  v.pooling_kernel_size = 1;  // P = 192, as the small preset's patches
  v.mm_embed_dim = 64;
  v.mm_posemb_size = 8;
  v.output_proj_dims = 64;
  VisionEmbedder emb(v, 64);
  torch::manual_seed(4);
  torch::NoGradGuard ng;
  for (auto& p : emb.named_parameters()) p.value().copy_(0.1 * torch::randn(p.value().sizes()) + (p.key().find("ln") != std::string::npos || p.key().find("norm") != std::string::npos ? 1.0 : 0.0));
  torch::Tensor pixels = (0.5 + 0.01 * torch::randn({1, 16, 192})).to(torch::kBFloat16).to(torch::kFloat32);
  torch::Tensor pos = torch::stack({torch::arange(16) % 4, torch::arange(16) / 4}, -1).unsqueeze(0).to(torch::kInt64);
  torch::Tensor want = emb.forward(pixels, pos);
  emb.to(torch::kBFloat16);
  torch::Tensor got = emb.forward(pixels.to(torch::kBFloat16), pos).to(torch::kFloat32);
  const double rel = ((got - want).norm() / want.norm()).item<double>();
  INFO("relative difference " << rel);
  CHECK(rel < 0.02);
}

TEST_CASE("the embedder's width (output_proj_dims) may differ from the text width", "[unit][embedders]") {
  // config.json as a release writes it: text 64 wide, vision embedder 32 wide, audio frames 40 wide.
  nlohmann::json j = model_config_to_json(*model_preset("tiny"));
  j["vision_config"]["mm_embed_dim"] = 32;
  j["vision_config"]["output_proj_dims"] = 32;
  j["audio_config"]["audio_embed_dim"] = 40;
  j["audio_config"]["output_proj_dims"] = 40;
  ModelConfig c = model_config_from_json(j, "config.json");
  REQUIRE(c.text.hidden_size == 64);
  Gemma4Model m(c);
  auto params = m.named_parameters();
  CHECK(params["model.embed_vision.embedding_projection.weight"].sizes() == torch::IntArrayRef({64, 32}));
  CHECK(params["model.embed_audio.embedding_projection.weight"].sizes() == torch::IntArrayRef({64, 40}));
  int64_t specs = 0;
  for (const auto& s : m.tensor_specs()) {
    REQUIRE(params.contains(s.name));
    CHECK(params[s.name].sizes() == torch::IntArrayRef(s.shape));
    ++specs;
  }
  CHECK(specs == static_cast<int64_t>(params.size()));
  torch::NoGradGuard ng;
  torch::Tensor soft = m.embed_image_patches(torch::rand({1, 4, c.vision->patch_dim()}),
                                             torch::tensor({{{0, 0}, {1, 0}, {0, 1}, {1, 1}}}, torch::kInt64));
  CHECK(soft.size(-1) == 64);
  // The projection reads the embedder's rows, so the two widths of the vision embedder must agree.
  j["vision_config"]["output_proj_dims"] = 48;
  try {
    model_config_from_json(j, "config.json");
    FAIL("expected an InputError");
  } catch (const g4u::InputError& e) {
    CHECK(std::string(e.what()).find("output_proj_dims 48") != std::string::npos);
  }
}

TEST_CASE("gemma4 audio embedder: weightless RMSNorm of the frame, then the projection", "[unit][embedders]") {
  AudioConfig a;
  a.audio_embed_dim = 4;
  AudioEmbedder emb(a, 2);
  torch::NoGradGuard ng;
  auto W = emb.named_parameters()["embedding_projection.weight"];
  W.copy_(torch::tensor({{1.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 1.0f, 1.0f}}));
  // frame [0.5, 0.5, 0.5, 0.5]: RMS 0.5 -> normalised to 1 each; frame [3, 0, 4, 0]: RMS 2.5.
  torch::Tensor frames = torch::tensor({{0.5f, 0.5f, 0.5f, 0.5f}, {3.0f, 0.0f, 4.0f, 0.0f}});
  torch::Tensor out = emb.forward(frames);
  CHECK(out[0][0].item<float>() == Approx(0.5 / std::sqrt(0.25 + 1e-6)));
  CHECK(out[0][1].item<float>() == Approx(3 * 0.5 / std::sqrt(0.25 + 1e-6)));
  CHECK(out[1][0].item<float>() == Approx(3.0 / std::sqrt(6.25 + 1e-6)));
  CHECK(out[1][1].item<float>() == Approx(4.0 / std::sqrt(6.25 + 1e-6)));
}

TEST_CASE("released embedder parameter counts", "[unit][embedders]") {
  ModelConfig c = *model_preset("gemma4-12b");
  auto count = [](const std::vector<TensorSpec>& s, const std::string& comp) {
    int64_t n = 0;
    for (const auto& t : s) n += t.component == comp ? t.numel() : 0;
    return n;
  };
  auto vs = vision_tensor_specs(*c.vision, 3840);
  CHECK(count(vs, "vision_embedder") == 35176704);   // LN1 + dense + LN2 + 8,601,600 table + pos_norm
  CHECK(count(vs, "vision_projection") == 14745600);
  CHECK(count(audio_tensor_specs(*c.audio, 3840), "audio_projection") == 2457600);
}

TEST_CASE("every projector variant: module parameters equal its tensor list, forward and backward run",
          "[unit][embedders]") {
  struct V { std::string projector, position; int64_t pooling; std::string audio; int64_t frame; };
  std::vector<V> variants = {
      {"gemma4", "factorized", 1, "gemma4", 640},   {"gemma4", "learned2d", 1, "logmel", 640},
      {"gemma4", "sincos2d", 2, "conv1d", 640},     {"gemma4", "none", 1, "gemma4", 320},
      {"linear", "none", 1, "gemma4", 1280},        {"linear-pos", "factorized", 1, "logmel", 320},
      {"linear-pos", "sincos2d", 1, "conv1d", 1280}, {"mlp2", "none", 2, "gemma4", 640},
      {"mlp2", "learned2d", 1, "conv1d", 320},      {"conv", "none", 1, "logmel", 1280},
      {"conv", "factorized", 2, "gemma4", 640},
  };
  for (const auto& v : variants) {
    DYNAMIC_SECTION(v.projector << "/" << v.position << "/pool" << v.pooling << "/" << v.audio << v.frame) {
      ModelConfig c = variant_config(v.projector, v.position, v.pooling, v.audio, v.frame);
      c.vision->patch_size = 8;  // 16-px patches (conv needs a multiple of 8)
      validate(c, "variant");
      Gemma4Model m(c);
      auto specs = m.tensor_specs();
      REQUIRE_NOTHROW(check_parameters_match(m, specs));
      int64_t n = 0;
      for (const auto& p : m.parameters()) n += p.numel();
      CHECK(n == count_params(specs)["total"]);
      init_random(m, specs, 1);
      const int64_t P = c.vision->patch_dim(), H = c.text.hidden_size;
      torch::Tensor pixels = torch::rand({2, 4, P});
      torch::Tensor pos = torch::tensor({{0, 0}, {1, 0}, {0, 1}, {1, 1}}, torch::kInt64).unsqueeze(0).repeat({2, 1, 1});
      torch::Tensor img = m.embed_image_patches(pixels, pos);
      CHECK(img.sizes() == torch::IntArrayRef({2, 4, H}));
      torch::Tensor aud = m.embed_audio_frames(torch::randn({3, v.frame}) * 0.1);
      CHECK(aud.sizes() == torch::IntArrayRef({3, H}));
      torch::Tensor pooled = pool_tokens(img[0], 2, 2, v.pooling);
      CHECK(pooled.size(0) == pooled_token_count(2, 2, v.pooling));
      (pooled.pow(2).sum() + aud.pow(2).sum()).backward();
      for (const auto& p : m.named_parameters()) {
        if (p.key().find("language_model") != std::string::npos) continue;
        INFO(p.key());
        REQUIRE(p.value().grad().defined());
      }
    }
  }
}

TEST_CASE("token pooling averages each k x k cell of the grid", "[unit][embedders]") {
  torch::Tensor t = torch::arange(9, torch::kFloat32).view({9, 1});  // 3x3 grid, values = index
  torch::Tensor p = pool_tokens(t, 3, 3, 2);
  REQUIRE(p.size(0) == 4);
  CHECK(p[0][0].item<float>() == Approx((0 + 1 + 3 + 4) / 4.0));
  CHECK(p[1][0].item<float>() == Approx((2 + 5) / 2.0));  // right edge: only two real cells
  CHECK(p[2][0].item<float>() == Approx((6 + 7) / 2.0));
  CHECK(p[3][0].item<float>() == Approx(8.0));
  CHECK(pooled_token_count(16, 16, 2) == 64);
  CHECK(pooled_token_count(16, 19, 3) == 6 * 7);
}

TEST_CASE("projector names are validated", "[unit][embedders]") {
  ModelConfig c = *model_preset("tiny");
  c.vision->projector = "qformer";
  CHECK_THROWS_WITH(validate(c, "cfg"), Catch::Contains("g4u_projector 'qformer' is unknown"));
  c = *model_preset("tiny");
  c.audio->projector = "whisper";
  CHECK_THROWS_WITH(validate(c, "cfg"), Catch::Contains("known: gemma4, logmel, conv1d"));
}

TEST_CASE("mel filterbank rows are triangles inside the spectrum", "[unit][embedders]") {
  torch::Tensor fb = mel_filterbank(640, 16000, 80);
  CHECK(fb.sizes() == torch::IntArrayRef({80, 321}));
  CHECK(fb.min().item<float>() >= 0.0f);
  CHECK(fb.max().item<float>() <= 1.0f);
  CHECK((fb.sum(1) > 0).all().item<bool>());  // no empty band at 25 Hz bin spacing
}
