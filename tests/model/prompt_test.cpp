// Multimodal prompt assembly: placeholder expansion, soft-token scatter, mm_token_type_ids and the
// vision attention blocks of architecture doc §2.8.
#include "model/text/decoder.h"
#include "model/model.h"
#include "model/multimodal/prompt.h"

#include <catch2/catch.hpp>

using namespace g4u::model;

namespace {

ImagePatches fake_image(const ModelConfig& c, int64_t grid_h, int64_t grid_w, float value) {
  ImagePatches im;
  const int64_t budget = c.vision->num_soft_tokens, P = c.vision->patch_dim();
  im.budget = budget;
  im.grid_h = grid_h;
  im.grid_w = grid_w;
  im.num_soft_tokens = grid_h * grid_w;
  im.pixels = torch::zeros({budget, P});
  im.positions = torch::full({budget, 2}, -1, torch::kInt64);
  for (int64_t y = 0, k = 0; y < grid_h; ++y)
    for (int64_t x = 0; x < grid_w; ++x, ++k) {
      im.pixels[k].fill_(value + 0.01f * k);
      im.positions[k][0] = x;
      im.positions[k][1] = y;
    }
  return im;
}

AudioFrames fake_audio(const ModelConfig& c, int64_t frames) {
  AudioFrames a;
  a.frames = torch::randn({frames, c.audio->audio_embed_dim}) * 0.1;
  return a;
}

std::shared_ptr<Gemma4Model> tiny(uint64_t seed = 1) {
  auto m = std::make_shared<Gemma4Model>(*model_preset("tiny"));
  init_random(*m, m->tensor_specs(), seed);
  return m;
}

}  // namespace

TEST_CASE("placeholders expand to BOI + N soft tokens + EOI, in order", "[unit][prompt]") {
  ModelConfig c = *model_preset("tiny");
  const auto& t = c.tokens;
  std::vector<int64_t> ids = {2, 40, t.image, 41, t.audio, 42, t.image};
  auto p = expand_placeholders(ids, c, {fake_image(c, 2, 2, 0.1f), fake_image(c, 1, 3, 0.5f)}, {fake_audio(c, 5)});
  // 2 40 [BOI 4xIMG EOI] 41 [BOA 5xAUD EOA] 42 [BOI 3xIMG EOI]
  REQUIRE(p.input_ids.size() == 2 + 6 + 1 + 7 + 1 + 5);
  CHECK(p.input_ids[2] == t.boi);
  CHECK(p.input_ids[7] == t.eoi);
  CHECK(p.input_ids[9] == t.boa);
  CHECK(p.input_ids[15] == t.eoa);
  int64_t img = 0, aud = 0;
  for (size_t i = 0; i < p.input_ids.size(); ++i) {
    img += p.mm_token_type_ids[i] == kImageToken;
    aud += p.mm_token_type_ids[i] == kAudioToken;
    if (p.input_ids[i] == t.boi || p.input_ids[i] == t.eoa) CHECK(p.mm_token_type_ids[i] == kTextToken);
  }
  CHECK(img == 7);
  CHECK(aud == 5);
  CHECK_THROWS_WITH(expand_placeholders(ids, c, {fake_image(c, 2, 2, 0.1f)}, {fake_audio(c, 5)}),
                    Catch::Contains("2 image placeholder(s) but 1 image(s) given"));
  CHECK_THROWS_WITH(expand_placeholders({2, t.audio}, c, {}, {fake_audio(c, 751)}), Catch::Contains("more than the model's 750"));
}

TEST_CASE("soft tokens land on the placeholder rows in (batch, seq) order; text rows keep the scaled embedding",
          "[unit][prompt]") {
  auto m = tiny();
  const ModelConfig& c = m->config();
  torch::NoGradGuard ng;
  auto a = fake_image(c, 2, 2, 0.1f), b = fake_image(c, 1, 2, 0.7f);
  auto p = expand_placeholders({2, 40, c.tokens.image, 41, c.tokens.image}, c, {a, b}, {});
  torch::Tensor ids = torch::tensor(p.input_ids).view({1, -1});
  torch::Tensor e = embed_multimodal(*m, ids, p.images, {});
  torch::Tensor soft_a = m->embed_image_patches(a.pixels.unsqueeze(0), a.positions.unsqueeze(0))[0];
  torch::Tensor soft_b = m->embed_image_patches(b.pixels.unsqueeze(0), b.positions.unsqueeze(0))[0];
  // rows: 0 bos, 1 "40", 2 BOI, 3..6 image a, 7 EOI, 8 "41", 9 BOI, 10..11 image b, 12 EOI
  for (int k = 0; k < 4; ++k) CHECK(torch::allclose(e[0][3 + k], soft_a[k]));
  for (int k = 0; k < 2; ++k) CHECK(torch::allclose(e[0][10 + k], soft_b[k]));
  CHECK(torch::allclose(e[0][1], m->text().embed(torch::tensor({40}))[0]));
  // A mismatch between rows and soft tokens is an error, not garbage.
  torch::Tensor short_ids = ids.narrow(1, 0, 6);
  CHECK_THROWS_WITH(embed_multimodal(*m, short_ids, p.images, {}), Catch::Contains("image placeholder rows"));
}

TEST_CASE("vision blocks: bidirectional within an image in sliding layers only", "[unit][prompt]") {
  ModelConfig c = *model_preset("tiny");
  const auto& t = c.tokens;
  // text, image A (3 tokens), text, image B (2 tokens), audio (2 tokens)
  auto p = expand_placeholders({2, t.image, 40, t.image, t.audio}, c,
                               {fake_image(c, 1, 3, 0.1f), fake_image(c, 1, 2, 0.2f)}, {fake_audio(c, 2)});
  torch::Tensor ids = torch::tensor(p.input_ids).view({1, -1});
  torch::Tensor types = mm_token_types(ids, t);
  torch::Tensor blocks = vision_block_ids(types)[0];
  // 0 bos, 1 BOI, 2-4 A, 5 EOI, 6 "40", 7 BOI, 8-9 B, 10 EOI, 11 BOA, 12-13 audio, 14 EOA
  CHECK(blocks[2].item<int64_t>() == 0);
  CHECK(blocks[4].item<int64_t>() == 0);
  CHECK(blocks[8].item<int64_t>() == 1);
  CHECK(blocks[1].item<int64_t>() == -1);   // delimiters are not part of the block
  CHECK(blocks[12].item<int64_t>() == -1);  // audio is causal
  const int64_t T = ids.size(1);
  torch::Tensor valid = torch::ones({1, T}, torch::kBool);
  torch::Tensor b2 = blocks.unsqueeze(0);
  torch::Tensor s = attention_allowed(LayerType::kSliding, 0, T, 0, 100, valid, b2, VisionMask::kSlidingBlocks)[0];
  torch::Tensor f = attention_allowed(LayerType::kFull, 0, T, 0, 100, valid, b2, VisionMask::kSlidingBlocks)[0];
  CHECK(s[2][4].item<bool>());        // first image token sees the last one of its image
  CHECK_FALSE(f[2][4].item<bool>());  // full layers stay causal
  CHECK_FALSE(s[4][8].item<bool>());  // not the other image
  CHECK_FALSE(s[1][2].item<bool>());  // BOI stays causal
  CHECK_FALSE(s[12][13].item<bool>());  // audio stays causal
  CHECK_FALSE(s[6][8].item<bool>());    // text does not see ahead
  // The window still applies inside a block in the corrected semantics.
  torch::Tensor w = attention_allowed(LayerType::kSliding, 0, T, 0, 2, valid, b2, VisionMask::kSlidingBlocks)[0];
  CHECK_FALSE(w[4][2].item<bool>());  // 4 - 2 = 2 >= window
  CHECK(w[2][3].item<bool>());
  // The older semantics: both layer types, window bypassed.
  torch::Tensor o = attention_allowed(LayerType::kFull, 0, T, 0, 2, valid, b2, VisionMask::kAllLayersNoWindow)[0];
  CHECK(o[2][4].item<bool>());
  torch::Tensor os = attention_allowed(LayerType::kSliding, 0, T, 0, 2, valid, b2, VisionMask::kAllLayersNoWindow)[0];
  CHECK(os[4][2].item<bool>());
}

TEST_CASE("a later image token changes an earlier one's output only with the bidirectional mask", "[unit][prompt]") {
  auto m = tiny(3);
  const ModelConfig& c = m->config();
  torch::NoGradGuard ng;
  auto run = [&](float last_value, VisionMask mode) {
    auto im = fake_image(c, 2, 2, 0.3f);
    // Only the last patch differs, in shape and not just in scale: the embedder's LayerNorm maps a
    // constant patch, or a rescaled one, to the same values (exactly in LibTorch 2.x; 1.13 left
    // rounding noise, which this test once relied on).
    im.pixels[3].copy_(torch::linspace(0.0, 12.0 * last_value, im.pixels.size(1)).sin());
    auto p = expand_placeholders({2, 40, c.tokens.image, 41}, c, {im}, {});
    torch::Tensor ids = torch::tensor(p.input_ids).view({1, -1});
    ForwardOptions o = multimodal_forward_options(ids, c, mode);
    o.collect_layer_outputs = true;
    auto r = m->text().forward(embed_multimodal(*m, ids, p.images, {}), torch::ones_like(ids, torch::kBool), nullptr, o);
    return r.layer_outputs[0][0][3];  // first image token (row 3) after layer 0, a sliding layer
  };
  CHECK_FALSE(torch::allclose(run(0.1f, VisionMask::kSlidingBlocks), run(0.9f, VisionMask::kSlidingBlocks)));
  CHECK(torch::equal(run(0.1f, VisionMask::kNone), run(0.9f, VisionMask::kNone)));
}
