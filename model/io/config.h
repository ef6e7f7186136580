// Model configuration: the HF `config.json` of `gemma4_unified` (text, vision, audio sub-configs)
// and of `gemma4_unified_assistant`, plus g4u's named presets.
//
// Parse once, trust after: `load_model_config` checks every field, rejects fields that would change
// the architecture in a way g4u does not implement (naming the field), and after that the rest of
// the code uses the structs without re-checking. Torch-free on purpose.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace g4u::model {

enum class LayerType { kSliding, kFull };

const char* layer_type_name(LayerType t);  // "sliding_attention" / "full_attention"
std::ostream& operator<<(std::ostream& os, LayerType t);

// Geometry of one attention kind (sliding or full layers).
struct AttentionGeometry {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
};

struct RopeParams {
  std::string type = "default";  // "default" or "proportional"
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;
};

// Which tokens attend bidirectionally during prefill (architecture doc §2.8).
enum class VisionMask {
  kNone,           // plain causal everywhere
  kSlidingBlocks,  // corrected HF semantics: image blocks bidirectional in sliding layers only,
                   // the window still applies; full layers causal (default)
  kAllLayersNoWindow,  // older HF behaviour: block overlay in both layer types, window bypassed
};

struct TextConfig {
  int64_t vocab_size = 262144;
  int64_t hidden_size = 3840;
  int64_t intermediate_size = 15360;
  int64_t num_layers = 48;
  AttentionGeometry sliding{16, 8, 256};
  AttentionGeometry full{16, 1, 512};
  bool k_eq_v = true;  // full layers have no v_proj; V is the k_proj output (v-normed, no RoPE)
  int64_t sliding_window = 1024;
  std::vector<LayerType> layer_types;
  RopeParams rope_sliding{"default", 10000.0, 1.0};
  RopeParams rope_full{"proportional", 1000000.0, 0.25};
  double rms_norm_eps = 1e-6;
  double final_logit_softcapping = 30.0;  // <= 0: no soft-cap
  int64_t max_position_embeddings = 262144;
  int64_t pad_token_id = 0;
  int64_t bos_token_id = 2;
  std::vector<int64_t> eos_token_ids{1};
  bool bidirectional_vision = true;  // use_bidirectional_attention == "vision"
  int64_t num_kv_shared_layers = 0;  // assistant: == num_layers (it computes no K/V)

  const AttentionGeometry& geometry(LayerType t) const {
    return t == LayerType::kFull ? full : sliding;
  }
  const RopeParams& rope(LayerType t) const {
    return t == LayerType::kFull ? rope_full : rope_sliding;
  }
  bool has_v_proj(LayerType t) const { return !(t == LayerType::kFull && k_eq_v); }
  int64_t last_layer_of(LayerType t) const;  // -1 if none
  int64_t count_layers(LayerType t) const;
};

struct VisionConfig {
  int64_t patch_size = 16;           // teacher patch
  int64_t pooling_kernel_size = 3;   // k x k teacher patches merge into one model patch
  int64_t mm_embed_dim = 3840;
  int64_t mm_posemb_size = 1120;
  int64_t output_proj_dims = 3840;
  int64_t num_soft_tokens = 280;     // default budget
  double rms_norm_eps = 1e-6;
  double layer_norm_eps = 1e-5;      // PyTorch LayerNorm default, not stored in config.json
  // g4u extensions for projector ablations (model/multimodal/embedders.h); the released model is
  // gemma4 + factorized positions + no pooling.
  std::string projector = "gemma4";
  std::string position = "factorized";
  int64_t token_pooling = 1;

  int64_t model_patch_size() const { return patch_size * pooling_kernel_size; }
  int64_t patch_dim() const { return model_patch_size() * model_patch_size() * 3; }
};

struct AudioConfig {
  int64_t audio_embed_dim = 640;  // == samples per soft token (40 ms at 16 kHz)
  int64_t sample_rate = 16000;
  int64_t max_frames = 750;       // 30 s
  double rms_norm_eps = 1e-6;
  std::string projector = "gemma4";
};

// Token ids of the multimodal markers (top-level fields of config.json).
struct SpecialTokens {
  int64_t boi = 255999;    // <|image>
  int64_t eoi = 258882;    // <image|>
  int64_t image = 258880;  // <|image|>
  int64_t video = 258884;  // <|video|>
  int64_t boa = 256000;    // <|audio>
  int64_t eoa = 258883;    // <audio|>
  int64_t audio = 258881;  // <|audio|>
};

struct ModelConfig {
  std::string name;  // preset name or checkpoint dir
  TextConfig text;
  std::optional<VisionConfig> vision;
  std::optional<AudioConfig> audio;
  SpecialTokens tokens;
  std::vector<int64_t> suppress_tokens;  // generation: logits forced to -inf
  // "byte": g4u's built-in byte-level tokenizer (tiny/small presets); "sentencepiece": a
  // tokenizer.model next to the checkpoint; "none": no vocabulary (a random checkpoint `g4u init`
  // wrote for a preset whose tokenizer g4u cannot write): commands that feed token ids only run,
  // text commands say why they cannot.
  std::string tokenizer = "sentencepiece";
  std::vector<std::string> warnings;  // fields we accepted but did not understand
};

// The MTP drafter (`gemma4_unified_assistant`).
struct AssistantConfig {
  std::string name;
  TextConfig text;  // num_kv_shared_layers == num_layers: Q-only attention over target K/V
  int64_t backbone_hidden_size = 3840;
  bool use_ordered_embeddings = false;
  int64_t num_centroids = 2048;
  int64_t centroid_intermediate_top_k = 32;
  std::vector<std::string> warnings;
};

// ---- parsing ---------------------------------------------------------------------------------
// `where` names the source in error messages (e.g. "ckpt/config.json").
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where);
AssistantConfig assistant_config_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json model_config_to_json(const ModelConfig& c);
nlohmann::json assistant_config_to_json(const AssistantConfig& c);

// Reads `<dir>/config.json` (or a file path); throws InputError naming the file and field.
ModelConfig load_model_config(const std::string& path);
AssistantConfig load_assistant_config(const std::string& path);
// True if the config.json at `path` declares model_type gemma4_unified_assistant.
bool is_assistant_config(const std::string& path);

// ---- presets ---------------------------------------------------------------------------------
std::vector<std::string> model_preset_names();
std::vector<std::string> assistant_preset_names();
std::optional<ModelConfig> model_preset(const std::string& name);
std::optional<AssistantConfig> assistant_preset(const std::string& name);

// Upper bounds on the sizes in a config.json, checked as it is read, before anything is sized from
// them: far above any released model (the 12B: 48 layers, width 3840, MLP 15360, vocabulary 262144,
// 262144 positions), low enough that a typo or a hostile file (10^9 layers, a 10^12 vocabulary) is
// named at once instead of after minutes of allocation, and that no product of them overflows.
struct ConfigLimits {
  static constexpr int64_t kLayers = 1 << 12;
  static constexpr int64_t kVocab = 1 << 24;
  static constexpr int64_t kWidth = 1 << 20;  // hidden, intermediate and embedding sizes
  static constexpr int64_t kHeads = 1 << 12;
  static constexpr int64_t kHeadDim = 1 << 14;
  static constexpr int64_t kPositions = 1 << 26;  // max_position_embeddings (a window may be larger: "none")
  static constexpr int64_t kPatch = 1 << 10;      // vision patch and pooling kernel sides
  static constexpr int64_t kTokens = 1 << 16;     // vision soft tokens and position-table size, audio frames
  static constexpr int64_t kSampleRate = 1'000'000;
};

// Checks internal consistency and ConfigLimits; throws InputError("<where>: <field>: ...").
void validate(const TextConfig& c, const std::string& where);
void validate(const ModelConfig& c, const std::string& where);
void validate(const AssistantConfig& c, const std::string& where);

}  // namespace g4u::model
