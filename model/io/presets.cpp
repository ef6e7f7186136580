// Named configurations. The released numbers of Gemma 4 12B and its assistant come from the
// checkpoint's config.json (architecture doc §2.1, §7.1); tiny/small/medium are g4u's own models of
// the same design, built through the same structs so tests exercise the real code.
#include "model/io/config.h"
#include "model/io/preset_table.h"

namespace g4u::model {
namespace {

// "SSFSSF": one letter per layer, S sliding and F full attention.
std::vector<LayerType> pattern(const std::string& p) {
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

// The decoders below are written as TextConfig{vocab_size, hidden_size, intermediate_size,
// num_layers, sliding, full, k_eq_v, sliding_window, layer_types}, the struct's first members in
// order; every other member keeps its default (the 12B's). Likewise VisionConfig{patch_size,
// pooling_kernel_size, mm_embed_dim, mm_posemb_size, output_proj_dims, num_soft_tokens} and
// AudioConfig{audio_embed_dim}.

ModelConfig gemma4_12b() {
  ModelConfig c;
  c.text = {262144, 3840, 15360, 48, {16, 8, 256}, {16, 1, 512}, true, 1024, five_to_one(48)};
  c.text.rope_sliding = {"default", 10000.0, 1.0};
  c.text.rope_full = {"proportional", 1000000.0, 0.25};
  c.text.final_logit_softcapping = 30.0;
  c.text.eos_token_ids = {1, 106, 50};  // generation_config.json of the IT checkpoint
  c.vision = VisionConfig{16, 3, 3840, 1120, 3840, 280};
  c.audio = AudioConfig{640};
  c.suppress_tokens = {258883, 258882};
  c.tokenizer = "sentencepiece";
  return c;
}

// g4u's own models: the byte-level tokenizer, K=V, proportional RoPE and the soft-cap of the 12B.
ModelConfig byte_model(TextConfig text, int64_t max_position_embeddings) {
  ModelConfig c;
  c.text = std::move(text);
  c.text.max_position_embeddings = max_position_embeddings;
  c.text.eos_token_ids = {1, 6};
  c.tokens = byte_tokenizer_tokens();
  c.suppress_tokens = {c.tokens.eoa, c.tokens.eoi};
  c.tokenizer = "byte";
  return c;
}

// Tests: 6 layers (two full), window 8 so short sequences cross it.
ModelConfig tiny() {
  ModelConfig c = byte_model({320, 64, 128, 6, {4, 2, 16}, {4, 1, 32}, true, 8, pattern("SSFSSF")}, 4096);
  c.vision = VisionConfig{4, 2, 64, 64, 64, 16};
  c.audio = AudioConfig{160};
  return c;
}

// CPU experiments: trains to useful accuracy on the synthetic suites in minutes on 2 cores.
ModelConfig small() {
  ModelConfig c = byte_model({512, 256, 1024, 6, {4, 2, 64}, {4, 1, 128}, true, 128, pattern("SSFSSF")}, 8192);
  c.vision = VisionConfig{8, 2, 256, 64, 256, 64};
  c.audio = AudioConfig{640};
  return c;
}

// Benchmarks: text-only, ~0.83 B parameters (3.3 GB in fp32), far above any L3 cache, so decode
// is bound by memory bandwidth like the 12B.
ModelConfig medium() {
  return byte_model({32768, 2048, 8192, 12, {16, 8, 128}, {16, 1, 256}, true, 1024, five_to_one(12)}, 32768);
}

// A Q-only drafter: every layer reads the target's K/V; its head has no soft-cap.
AssistantConfig assistant(TextConfig text, int64_t max_position_embeddings, std::vector<int64_t> eos_token_ids,
                          int64_t backbone_hidden_size) {
  AssistantConfig c;
  c.text = std::move(text);
  c.text.num_kv_shared_layers = c.text.num_layers;
  c.text.final_logit_softcapping = 0.0;
  c.text.max_position_embeddings = max_position_embeddings;
  c.text.eos_token_ids = std::move(eos_token_ids);
  c.backbone_hidden_size = backbone_hidden_size;
  return c;
}

AssistantConfig gemma4_12b_assistant() {
  return assistant({262144, 1024, 8192, 4, {16, 8, 256}, {16, 1, 512}, true, 1024, pattern("SSSF")}, 262144,
                   {1, 106, 50}, 3840);
}

// Drafts for `tiny` and `small`: the same K/V geometry as their last sliding and full layers.
AssistantConfig tiny_assistant() {
  return assistant({320, 32, 64, 2, {4, 2, 16}, {4, 1, 32}, true, 8, pattern("SF")}, 4096, {1, 6}, 64);
}

AssistantConfig small_assistant() {
  return assistant({512, 128, 512, 2, {4, 2, 64}, {4, 1, 128}, true, 128, pattern("SF")}, 8192, {1, 6}, 256);
}

const PresetTable<ModelConfig>& model_presets() {
  static const PresetTable<ModelConfig> table = {
      {"gemma4-12b", gemma4_12b}, {"tiny", tiny}, {"small", small}, {"medium", medium}};
  return table;
}

const PresetTable<AssistantConfig>& assistant_presets() {
  static const PresetTable<AssistantConfig> table = {{"gemma4-12b-assistant", gemma4_12b_assistant},
                                                     {"tiny-assistant", tiny_assistant},
                                                     {"small-assistant", small_assistant}};
  return table;
}

}  // namespace

std::vector<std::string> model_preset_names() { return model_presets().names(); }
std::vector<std::string> assistant_preset_names() { return assistant_presets().names(); }
std::optional<ModelConfig> model_preset(const std::string& name) { return model_presets().get(name); }
std::optional<AssistantConfig> assistant_preset(const std::string& name) { return assistant_presets().get(name); }

}  // namespace g4u::model
