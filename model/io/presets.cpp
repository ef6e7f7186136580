// Named configurations. The released numbers of Gemma 4 12B and its assistant come from the
// checkpoint's config.json (architecture doc §2.1, §7.1); tiny/small/medium are g4u's own models of
// the same design, built through the same structs so tests exercise the real code.
#include "model/io/config.h"

#include <functional>
#include <map>

namespace g4u::model {
namespace {

std::vector<LayerType> pattern(std::initializer_list<char> p) {
  std::vector<LayerType> out;
  for (char c : p) out.push_back(c == 'F' ? LayerType::kFull : LayerType::kSliding);
  return out;
}

std::vector<LayerType> five_to_one(int64_t n) {
  std::vector<LayerType> out;
  for (int64_t i = 0; i < n; ++i) out.push_back((i + 1) % 6 ? LayerType::kSliding : LayerType::kFull);
  return out;
}

// Token ids of g4u's byte-level tokenizer (model/text/tokenizer.h): specials first, then 256 bytes.
SpecialTokens byte_tokenizer_tokens() {
  SpecialTokens t;
  t.boi = 10;
  t.eoi = 11;
  t.image = 12;
  t.boa = 13;
  t.eoa = 14;
  t.audio = 15;
  t.video = 16;
  return t;
}

ModelConfig gemma4_12b() {
  ModelConfig c;
  c.name = "gemma4-12b";
  TextConfig& t = c.text;
  t.vocab_size = 262144;
  t.hidden_size = 3840;
  t.intermediate_size = 15360;
  t.num_layers = 48;
  t.sliding = {16, 8, 256};
  t.full = {16, 1, 512};
  t.k_eq_v = true;
  t.sliding_window = 1024;
  t.layer_types = five_to_one(48);
  t.rope_sliding = {"default", 10000.0, 1.0};
  t.rope_full = {"proportional", 1000000.0, 0.25};
  t.rms_norm_eps = 1e-6;
  t.final_logit_softcapping = 30.0;
  t.max_position_embeddings = 262144;
  t.eos_token_ids = {1, 106, 50};  // generation_config.json of the IT checkpoint
  c.vision = VisionConfig{};
  c.audio = AudioConfig{};
  c.suppress_tokens = {258883, 258882};
  c.tokenizer = "sentencepiece";
  return c;
}

// Tests: 6 layers (two full), window 8 so short sequences cross it, K=V, proportional RoPE.
ModelConfig tiny() {
  ModelConfig c;
  c.name = "tiny";
  TextConfig& t = c.text;
  t.vocab_size = 320;
  t.hidden_size = 64;
  t.intermediate_size = 128;
  t.num_layers = 6;
  t.sliding = {4, 2, 16};
  t.full = {4, 1, 32};
  t.k_eq_v = true;
  t.sliding_window = 8;
  t.layer_types = pattern({'S', 'S', 'F', 'S', 'S', 'F'});
  t.final_logit_softcapping = 30.0;
  t.max_position_embeddings = 4096;
  t.eos_token_ids = {1, 6};
  VisionConfig v;
  v.patch_size = 4;
  v.pooling_kernel_size = 2;
  v.mm_embed_dim = 64;
  v.mm_posemb_size = 64;
  v.output_proj_dims = 64;
  v.num_soft_tokens = 16;
  c.vision = v;
  AudioConfig a;
  a.audio_embed_dim = 160;
  a.max_frames = 750;
  c.audio = a;
  c.tokens = byte_tokenizer_tokens();
  c.suppress_tokens = {c.tokens.eoa, c.tokens.eoi};
  c.tokenizer = "byte";
  return c;
}

// CPU experiments: trains to useful accuracy on the synthetic suites in minutes on 2 cores.
ModelConfig small() {
  ModelConfig c = tiny();
  c.name = "small";
  TextConfig& t = c.text;
  t.vocab_size = 512;
  t.hidden_size = 256;
  t.intermediate_size = 1024;
  t.num_layers = 6;
  t.sliding = {4, 2, 64};
  t.full = {4, 1, 128};
  t.sliding_window = 128;
  t.layer_types = pattern({'S', 'S', 'F', 'S', 'S', 'F'});
  t.max_position_embeddings = 8192;
  VisionConfig v;
  v.patch_size = 8;
  v.pooling_kernel_size = 2;
  v.mm_embed_dim = 256;
  v.mm_posemb_size = 64;
  v.output_proj_dims = 256;
  v.num_soft_tokens = 64;
  c.vision = v;
  AudioConfig a;
  a.audio_embed_dim = 640;
  c.audio = a;
  return c;
}

// Benchmarks: text-only, ~0.83 B parameters (3.3 GB in fp32), far above any L3 cache, so decode
// is bound by memory bandwidth like the 12B.
ModelConfig medium() {
  ModelConfig c = tiny();
  c.name = "medium";
  TextConfig& t = c.text;
  t.vocab_size = 32768;
  t.hidden_size = 2048;
  t.intermediate_size = 8192;
  t.num_layers = 12;
  t.sliding = {16, 8, 128};
  t.full = {16, 1, 256};
  t.sliding_window = 1024;
  t.layer_types = five_to_one(12);
  t.max_position_embeddings = 32768;
  c.vision.reset();
  c.audio.reset();
  return c;
}

AssistantConfig gemma4_12b_assistant() {
  AssistantConfig c;
  c.name = "gemma4-12b-assistant";
  TextConfig& t = c.text;
  t.vocab_size = 262144;
  t.hidden_size = 1024;
  t.intermediate_size = 8192;
  t.num_layers = 4;
  t.sliding = {16, 8, 256};
  t.full = {16, 1, 512};
  t.k_eq_v = true;
  t.num_kv_shared_layers = 4;
  t.sliding_window = 1024;
  t.layer_types = pattern({'S', 'S', 'S', 'F'});
  t.final_logit_softcapping = 0.0;  // the drafter head has no soft-cap
  t.eos_token_ids = {1, 106, 50};
  c.backbone_hidden_size = 3840;
  return c;
}

// Drafts for `tiny`: same K/V geometry as tiny's last sliding and full layers.
AssistantConfig tiny_assistant() {
  AssistantConfig c;
  c.name = "tiny-assistant";
  TextConfig& t = c.text;
  t.vocab_size = 320;
  t.hidden_size = 32;
  t.intermediate_size = 64;
  t.num_layers = 2;
  t.sliding = {4, 2, 16};
  t.full = {4, 1, 32};
  t.k_eq_v = true;
  t.num_kv_shared_layers = 2;
  t.sliding_window = 8;
  t.layer_types = pattern({'S', 'F'});
  t.final_logit_softcapping = 0.0;
  t.max_position_embeddings = 4096;
  t.eos_token_ids = {1, 6};
  c.backbone_hidden_size = 64;
  return c;
}

AssistantConfig small_assistant() {
  AssistantConfig c = tiny_assistant();
  c.name = "small-assistant";
  TextConfig& t = c.text;
  t.vocab_size = 512;
  t.hidden_size = 128;
  t.intermediate_size = 512;
  t.num_layers = 2;
  t.num_kv_shared_layers = 2;
  t.sliding = {4, 2, 64};
  t.full = {4, 1, 128};
  t.sliding_window = 128;
  t.max_position_embeddings = 8192;
  c.backbone_hidden_size = 256;
  return c;
}

const std::map<std::string, std::function<ModelConfig()>>& model_presets() {
  static const std::map<std::string, std::function<ModelConfig()>> m = {
      {"gemma4-12b", gemma4_12b}, {"tiny", tiny}, {"small", small}, {"medium", medium}};
  return m;
}

const std::map<std::string, std::function<AssistantConfig()>>& assistant_presets() {
  static const std::map<std::string, std::function<AssistantConfig()>> m = {
      {"gemma4-12b-assistant", gemma4_12b_assistant},
      {"tiny-assistant", tiny_assistant},
      {"small-assistant", small_assistant}};
  return m;
}

}  // namespace

std::vector<std::string> model_preset_names() {
  std::vector<std::string> out;
  for (const auto& kv : model_presets()) out.push_back(kv.first);
  return out;
}

std::vector<std::string> assistant_preset_names() {
  std::vector<std::string> out;
  for (const auto& kv : assistant_presets()) out.push_back(kv.first);
  return out;
}

std::optional<ModelConfig> model_preset(const std::string& name) {
  auto it = model_presets().find(name);
  if (it == model_presets().end()) return std::nullopt;
  ModelConfig c = it->second();
  validate(c, "preset " + name);
  return c;
}

std::optional<AssistantConfig> assistant_preset(const std::string& name) {
  auto it = assistant_presets().find(name);
  if (it == assistant_presets().end()) return std::nullopt;
  AssistantConfig c = it->second();
  validate(c, "preset " + name);
  return c;
}

}  // namespace g4u::model
