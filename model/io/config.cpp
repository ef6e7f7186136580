#include "model/io/config.h"

#include "base/error.h"
#include "base/json_util.h"
#include "model/io/config_fields.h"
#include "model/multimodal/projectors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <ostream>

namespace g4u::model {
namespace fs = std::filesystem;
using nlohmann::json;

const char* layer_type_name(LayerType t) {
  return t == LayerType::kFull ? "full_attention" : "sliding_attention";
}

std::ostream& operator<<(std::ostream& os, LayerType t) { return os << layer_type_name(t); }

int64_t TextConfig::last_layer_of(LayerType t) const {
  for (int64_t i = static_cast<int64_t>(layer_types.size()) - 1; i >= 0; --i)
    if (layer_types[i] == t) return i;
  return -1;
}

int64_t TextConfig::count_layers(LayerType t) const {
  return std::count(layer_types.begin(), layer_types.end(), t);
}

namespace {

// Fields of HF configs that do not change inference; accepted silently wherever they appear.
const std::set<std::string> kHarmlessFields = {
    "initializer_range", "attention_dropout", "dropout", "use_cache", "dtype", "torch_dtype",
    "transformers_version", "architectures", "_name_or_path", "id2label", "label2id",
    "output_attentions", "output_hidden_states", "return_dict", "problem_type",
    "chunk_size_feed_forward", "is_encoder_decoder", "model_type", "torchscript", "pruned_heads",
    "tf_legacy_loss", "use_bfloat16", "add_cross_attention", "tokenizer_class", "prefix",
    "sep_token_id", "decoder_start_token_id", "task_specific_params", "finetuning_task",
    "cross_attention_hidden_size", "is_decoder", "vocab_size_per_layer_input",
    "_attn_implementation_autoset", "output_scores", "return_dict_in_generate",
    "g4u_tokenizer", "g4u_suppress_tokens"};

// Unread keys: harmless ones are dropped, the rest become warnings (a newer transformers may add
// fields; refusing them would make real checkpoints unloadable).
void collect_unread(const JsonObject& o, std::vector<std::string>& warnings) {
  for (const auto& k : o.unread_keys())
    if (!kHarmlessFields.count(k)) warnings.push_back(o.field(k) + ": unknown field ignored");
}

LayerType parse_layer_type(const json& v, const std::string& where) {
  if (v == "sliding_attention") return LayerType::kSliding;
  if (v == "full_attention") return LayerType::kFull;
  throw_input("{}: unknown layer type {} (expected sliding_attention or full_attention)", where,
              v.dump());
}

// Default 5:1 sliding:full pattern used by HF when layer_types is absent.
std::vector<LayerType> default_layer_types(int64_t n) {
  std::vector<LayerType> t;
  for (int64_t i = 0; i < n; ++i) t.push_back((i + 1) % 6 ? LayerType::kSliding : LayerType::kFull);
  return t;
}

// Reads an object with its field table; unread keys become warnings (collect_unread).
template <typename S>
S parse_object(JsonObject o, const std::vector<ConfigField<S>>& fields, ConfigParse& p) {
  S out;
  read_config_fields(o, out, fields, p);
  collect_unread(o, p.warnings);
  return out;
}

// An optional sub-config (vision_config, audio_config): null or absent when the model has none.
template <typename S, typename Sub>
ConfigField<S> sub_config_field(std::string key, std::optional<Sub> S::*member, const std::vector<ConfigField<Sub>>& fields) {
  return custom_field<S>(
      key,
      [key, member, table = &fields](JsonObject& o, S& c, ConfigParse& p) {
        if (o.has(key)) c.*member = parse_object(o.object(key), *table, p);
        else o.mark_read(key);
      },
      [key, member, table = &fields](const S& c, json& j) {
        j[key] = c.*member ? write_config_fields(*(c.*member), *table) : json(nullptr);
      });
}

// Read and dropped (the field's value lives elsewhere); not written.
template <typename S>
ConfigField<S> ignored_field(std::string key) {
  return custom_field<S>(
      key, [key](JsonObject& o, S&, ConfigParse&) { o.mark_read(key); }, [](const S&, json&) {});
}

// RoPE "must be 1.0" factors g4u does not implement; not written.
ConfigField<RopeParams> unit_rope_factor(const std::string& key, const std::string& what) {
  return custom_field<RopeParams>(
      key,
      [key, what](JsonObject& o, RopeParams&, ConfigParse&) {
        const double factor = o.get_double(key, 1.0);
        if (factor != 1.0) throw_input("{}: {} {} is not implemented", o.field(key), what, factor);
      },
      [](const RopeParams&, json&) {});
}

const std::vector<ConfigField<RopeParams>>& rope_fields() {
  using C = RopeParams;
  static const std::vector<ConfigField<C>> fields = {
      custom_field<C>(
          "rope_type",
          [](JsonObject& o, C& r, ConfigParse&) {
            r.type = o.get_string("rope_type", std::string("default"));
            if (r.type != "default" && r.type != "proportional")
              throw_input("{}: rope type '{}' is not implemented (g4u has default and proportional)",
                          o.field("rope_type"), r.type);
          },
          [](const C& r, json& j) { j["rope_type"] = r.type; }),
      value_field("rope_theta", &C::theta, std::nullopt),
      value_field("partial_rotary_factor", &C::partial_rotary_factor, 1.0, /*omit_default=*/true),
      unit_rope_factor("factor", "RoPE scaling factor"),
      unit_rope_factor("attention_factor", "attention_factor"),
  };
  return fields;
}

// Attention geometry. Flat layout: full layers take global_head_dim (default 512) and, when K=V,
// num_global_key_value_heads. Newer layout: per_layer_config overrides, flat globals ignored.
// The head counts have no default (see text_fields): a layer takes them from its per_layer_config
// entry, else from the flat keys, else the missing flat key is named.
void read_geometry(JsonObject& o, TextConfig& c, ConfigParse&) {
  constexpr int64_t kUnset = -1;
  auto flat_count = [&](const char* key) -> int64_t {
    o.mark_read(key);
    return o.has(key) ? o.get_int(key) : kUnset;
  };
  AttentionGeometry flat{flat_count("num_attention_heads"), flat_count("num_key_value_heads"), o.get_int("head_dim", 256)};
  int64_t global_head_dim = o.get_int("global_head_dim", 512);
  std::optional<int64_t> global_kv;
  if (o.has("num_global_key_value_heads")) global_kv = o.get_int("num_global_key_value_heads");
  o.mark_read("num_global_key_value_heads");

  std::vector<AttentionGeometry> per_layer(c.layer_types.size(), flat);
  if (o.has("per_layer_config")) {
    JsonObject plc = o.object("per_layer_config");
    const json& raw = o.raw("per_layer_config");
    for (auto it = raw.begin(); it != raw.end(); ++it) {
      int64_t idx = -1;
      try {
        size_t used = 0;
        idx = std::stoll(it.key(), &used);
        if (used != it.key().size()) idx = -1;
      } catch (...) {
        idx = -1;
      }
      if (idx < 0 || idx >= c.num_layers)
        throw_input("{}: key '{}' is not a layer index in [0, {})", plc.where(), it.key(), c.num_layers);
      plc.mark_read(it.key());
      JsonObject entry(it.value(), plc.field(it.key()));
      auto& g = per_layer[idx];
      g.head_dim = entry.get_int("head_dim", g.head_dim);
      g.num_kv_heads = entry.get_int("num_key_value_heads", g.num_kv_heads);
      g.num_heads = entry.get_int("num_attention_heads", g.num_heads);
      // Anything else per layer would be a heterogeneous architecture g4u does not build.
      for (const auto& k : entry.unread_keys()) {
        json v = it.value()[k];
        bool same_as_flat = o.has(k) && v == o.raw(k);
        if (!same_as_flat && !v.is_null())
          throw_input("{}: per-layer override of '{}' is not implemented", entry.field(k), k);
      }
    }
  } else {
    o.mark_read("per_layer_config");
    for (size_t i = 0; i < per_layer.size(); ++i) {
      if (c.layer_types[i] != LayerType::kFull) continue;
      per_layer[i].head_dim = global_head_dim;
      if (c.k_eq_v && global_kv) per_layer[i].num_kv_heads = *global_kv;
    }
  }
  for (size_t i = 0; i < per_layer.size(); ++i)
    for (const auto& [key, value] : {std::pair{"num_attention_heads", per_layer[i].num_heads},
                                     std::pair{"num_key_value_heads", per_layer[i].num_kv_heads}})
      if (value == kUnset)
        throw_input("{}: missing required field (layer {} has no per_layer_config value for it either; "
                    "g4u takes no default for a size that fixes tensor shapes)",
                    o.field(key), i);
  // g4u builds one geometry per layer type: every layer of a type must agree.
  bool seen[2] = {false, false};
  for (size_t i = 0; i < per_layer.size(); ++i) {
    int t = c.layer_types[i] == LayerType::kFull ? 1 : 0;
    AttentionGeometry& target = t ? c.full : c.sliding;
    const auto& g = per_layer[i];
    if (!seen[t]) {
      target = g;
      seen[t] = true;
    } else if (g.head_dim != target.head_dim || g.num_kv_heads != target.num_kv_heads ||
               g.num_heads != target.num_heads) {
      throw_input("{}: layer {} ({}) has a geometry different from earlier layers of its type; "
                  "g4u implements one geometry per layer type",
                  o.field("per_layer_config"), i, layer_type_name(c.layer_types[i]));
    }
  }
  if (!seen[0]) c.sliding = flat;
  if (!seen[1]) {
    c.full = flat;
    c.full.head_dim = global_head_dim;
  }
}

void write_geometry(const TextConfig& c, json& j) {
  j["num_attention_heads"] = c.sliding.num_heads;
  j["num_key_value_heads"] = c.sliding.num_kv_heads;
  j["head_dim"] = c.sliding.head_dim;
  j["global_head_dim"] = c.full.head_dim;
  j["num_global_key_value_heads"] = c.full.num_kv_heads;
  // The flat layout gives full layers the sliding layers' head count, and their KV heads only when
  // K=V (as HF applies num_global_key_value_heads); anything else goes per layer.
  if (c.full.num_heads != c.sliding.num_heads || (!c.k_eq_v && c.full.num_kv_heads != c.sliding.num_kv_heads)) {
    j["per_layer_config"] = json::object();
    for (size_t i = 0; i < c.layer_types.size(); ++i)
      if (c.layer_types[i] == LayerType::kFull)
        j["per_layer_config"][std::to_string(i)] = {{"head_dim", c.full.head_dim},
                                                    {"num_key_value_heads", c.full.num_kv_heads},
                                                    {"num_attention_heads", c.full.num_heads}};
  }
}

constexpr const char* kNoMoe = "mixture-of-experts blocks are not implemented";

// text_config (or the top level of a text-only save), in the order the fields are read: sizes
// before layer_types, layer_types and attention_k_eq_v before the geometry.
const std::vector<ConfigField<TextConfig>>& text_fields() {
  using C = TextConfig;
  static const std::vector<ConfigField<C>> fields = {
      model_type_field<C>("gemma4_unified_text"),
      // HF's Gemma4 text defaults where a key is absent (not the 12B's, which the struct holds),
      // except for the sizes that fix the tensor shapes of one model: HF's defaults for those
      // (hidden 2304, MLP 9216, 30 layers, 8 heads, 4 KV heads) describe no Gemma 4 unified
      // checkpoint, and every released config.json writes them, so an absent one is named instead
      // of building some other model (the head counts: read_geometry). The vocabulary (262144, the
      // whole Gemma 4 family's), head dims and the rest keep HF's defaults.
      value_field("vocab_size", &C::vocab_size, 262144),
      value_field("hidden_size", &C::hidden_size, std::nullopt),
      value_field("intermediate_size", &C::intermediate_size, std::nullopt),
      value_field("num_hidden_layers", &C::num_layers, std::nullopt),
      value_field("max_position_embeddings", &C::max_position_embeddings, 262144),
      value_field("rms_norm_eps", &C::rms_norm_eps, 1e-6),
      value_field("sliding_window", &C::sliding_window, 1024),
      value_field("pad_token_id", &C::pad_token_id, 0),
      value_field("bos_token_id", &C::bos_token_id, 2),
      custom_field<C>(
          "eos_token_id",
          [](JsonObject& o, C& c, ConfigParse&) {
            c.eos_token_ids = o.get_int_list("eos_token_id");
            if (!o.has("eos_token_id")) c.eos_token_ids = {1};
          },
          [](const C& c, json& j) {
            j["eos_token_id"] = c.eos_token_ids.size() == 1 ? json(c.eos_token_ids[0]) : json(c.eos_token_ids);
          }),
      custom_field<C>(
          "final_logit_softcapping",
          [](JsonObject& o, C& c, ConfigParse&) {
            auto softcap = o.get_optional_double("final_logit_softcapping");
            c.final_logit_softcapping = softcap ? *softcap : 0.0;
          },
          [](const C& c, json& j) {
            j["final_logit_softcapping"] = c.final_logit_softcapping > 0 ? json(c.final_logit_softcapping) : json(nullptr);
          }),
      custom_field<C>(
          "hidden_activation",
          [](JsonObject& o, C&, ConfigParse&) {
            std::string act = o.get_string("hidden_activation", std::string("gelu_pytorch_tanh"));
            if (act != "gelu_pytorch_tanh")
              throw_input("{}: activation '{}' is not implemented (only gelu_pytorch_tanh)",
                          o.field("hidden_activation"), act);
          },
          [](const C&, json& j) { j["hidden_activation"] = "gelu_pytorch_tanh"; }),
      fixed_field<C>("tie_word_embeddings", true, "the LM head is the tied embedding"),
      fixed_field<C>("attention_bias", false, "the text stack has no biases"),
      fixed_field<C>("use_double_wide_mlp", false, "double-wide MLP is not implemented"),
      absent_feature_field<C>("enable_moe_block", kNoMoe, false),
      absent_feature_field<C>("num_experts", kNoMoe),
      absent_feature_field<C>("top_k_experts", kNoMoe),
      absent_feature_field<C>("moe_intermediate_size", kNoMoe),
      absent_feature_field<C>("hidden_size_per_layer_input", "per-layer embeddings are not implemented", 0),
      absent_feature_field<C>("altup_num_inputs", "AltUp is not implemented"),
      absent_feature_field<C>("laurel_rank", "LAuReL is not implemented"),
      absent_feature_field<C>("attn_logit_softcapping", "Gemma 4 attention has no logit soft-cap"),
      absent_feature_field<C>("rope_scaling", "use rope_parameters; RoPE scaling is not implemented"),
      custom_field<C>(
          "use_bidirectional_attention",
          [](JsonObject& o, C& c, ConfigParse&) {
            o.mark_read("use_bidirectional_attention");
            c.bidirectional_vision = o.has("use_bidirectional_attention");
            if (!c.bidirectional_vision) return;
            std::string b = o.get_string("use_bidirectional_attention");
            if (b != "vision")
              throw_input("{}: '{}' is not implemented (only \"vision\" or null)",
                          o.field("use_bidirectional_attention"), b);
          },
          [](const C& c, json& j) {
            j["use_bidirectional_attention"] = c.bidirectional_vision ? json("vision") : json(nullptr);
          }),
      value_field("attention_k_eq_v", &C::k_eq_v, false),
      custom_field<C>(
          "num_kv_shared_layers",
          [](JsonObject& o, C& c, ConfigParse& p) {
            c.num_kv_shared_layers = o.get_int("num_kv_shared_layers", 0);
            if (!p.assistant && c.num_kv_shared_layers != 0)
              throw_input("{}: KV sharing ({} layers) is not implemented for the target model",
                          o.field("num_kv_shared_layers"), c.num_kv_shared_layers);
          },
          [](const C& c, json& j) { j["num_kv_shared_layers"] = c.num_kv_shared_layers; }),
      custom_field<C>(
          "layer_types",
          // Like HF, the last layer is forced to full attention.
          [](JsonObject& o, C& c, ConfigParse& p) {
            // Before anything is sized from it.
            if (c.num_layers > ConfigLimits::kLayers)
              throw_input("{}: {} layers is above g4u's limit of {}", o.field("num_hidden_layers"), c.num_layers,
                          ConfigLimits::kLayers);
            if (o.has("layer_types")) {
              const json& lt = o.raw("layer_types");
              if (!lt.is_array()) throw_input("{}: expected a list", o.field("layer_types"));
              for (size_t i = 0; i < lt.size(); ++i)
                c.layer_types.push_back(
                    parse_layer_type(lt[i], o.field("layer_types") + "[" + std::to_string(i) + "]"));
              if (static_cast<int64_t>(c.layer_types.size()) != c.num_layers)
                throw_input("{}: has {} entries but num_hidden_layers is {}", o.field("layer_types"),
                            c.layer_types.size(), c.num_layers);
            } else {
              o.mark_read("layer_types");
              if (c.num_layers > 0) c.layer_types = default_layer_types(c.num_layers);
            }
            if (!c.layer_types.empty() && c.layer_types.back() != LayerType::kFull) {
              p.warnings.push_back(o.field("layer_types") + ": last layer forced to full_attention (as HF does)");
              c.layer_types.back() = LayerType::kFull;
            }
          },
          [](const C& c, json& j) {
            json lt = json::array();
            for (auto t : c.layer_types) lt.push_back(layer_type_name(t));
            j["layer_types"] = lt;
          }),
      custom_field<C>("num_attention_heads", read_geometry, write_geometry),
      custom_field<C>(
          "rope_parameters",
          [](JsonObject& o, C& c, ConfigParse& p) {
            if (o.has("rope_parameters")) {
              JsonObject rp = o.object("rope_parameters");
              if (rp.has("sliding_attention")) c.rope_sliding = parse_object(rp.object("sliding_attention"), rope_fields(), p);
              if (rp.has("full_attention")) c.rope_full = parse_object(rp.object("full_attention"), rope_fields(), p);
              for (const auto& k : rp.unread_keys()) throw_input("{}: unknown layer type '{}'", rp.where(), k);
            } else {
              o.mark_read("rope_parameters");
              c.rope_sliding = {"default", 10000.0, 1.0};
              c.rope_full = {"proportional", 1000000.0, 0.25};
            }
          },
          [](const C& c, json& j) {
            j["rope_parameters"] = {{"sliding_attention", write_config_fields(c.rope_sliding, rope_fields())},
                                    {"full_attention", write_config_fields(c.rope_full, rope_fields())}};
          }),
  };
  return fields;
}

const std::vector<ConfigField<VisionConfig>>& vision_fields() {
  using C = VisionConfig;
  static const std::vector<ConfigField<C>> fields = {
      model_type_field<C>("gemma4_unified_vision", false, " (g4u is encoder-free)"),
      value_field("patch_size", &C::patch_size, 16),
      value_field("pooling_kernel_size", &C::pooling_kernel_size, 3),
      value_field("mm_embed_dim", &C::mm_embed_dim, 3840),
      value_field("mm_posemb_size", &C::mm_posemb_size, 1120),
      value_field("output_proj_dims", &C::output_proj_dims, 3840),
      value_field("rms_norm_eps", &C::rms_norm_eps, 1e-6),
      value_field("num_soft_tokens", &C::num_soft_tokens, 280),
      value_field("g4u_layer_norm_eps", &C::layer_norm_eps, 1e-5, /*omit_default=*/true),
      value_field("g4u_projector", &C::projector, "gemma4"),
      custom_field<C>(
          "g4u_position",
          [](JsonObject& o, C& v, ConfigParse&) {
            v.position = o.get_string("g4u_position", std::string(v.projector == "gemma4" || v.projector == "linear-pos"
                                                                      ? "factorized" : "none"));
          },
          [](const C& v, json& j) { j["g4u_position"] = v.position; }),
      value_field("g4u_token_pooling", &C::token_pooling, 1),
      custom_field<C>(
          "model_patch_size",  // derived: patch_size x pooling_kernel_size
          [](JsonObject& o, C& v, ConfigParse&) {
            if (o.has("model_patch_size") && o.get_int("model_patch_size") != v.model_patch_size())
              throw_input("{}: {} contradicts patch_size {} x pooling_kernel_size {}", o.field("model_patch_size"),
                          o.get_int("model_patch_size"), v.patch_size, v.pooling_kernel_size);
            o.mark_read("model_patch_size");
          },
          [](const C& v, json& j) { j["model_patch_size"] = v.model_patch_size(); }),
  };
  return fields;
}

const std::vector<ConfigField<AudioConfig>>& audio_fields() {
  using C = AudioConfig;
  static const std::vector<ConfigField<C>> fields = {
      model_type_field<C>("gemma4_unified_audio", false, " (g4u is encoder-free)"),
      value_field("audio_embed_dim", &C::audio_embed_dim, 640),
      custom_field<C>(
          "hidden_size",
          // HF exposes the same number under three more names; they must agree.
          [](JsonObject& o, C& a, ConfigParse&) {
            for (const char* alias : {"hidden_size", "output_proj_dims", "audio_samples_per_token"}) {
              if (o.has(alias) && o.get_int(alias) != a.audio_embed_dim)
                throw_input("{}: {} contradicts audio_embed_dim {}", o.field(alias), o.get_int(alias),
                            a.audio_embed_dim);
              o.mark_read(alias);
            }
          },
          [](const C&, json&) {}),
      value_field("rms_norm_eps", &C::rms_norm_eps, 1e-6),
      value_field("g4u_sample_rate", &C::sample_rate, 16000),
      value_field("g4u_max_frames", &C::max_frames, 750),
      value_field("g4u_projector", &C::projector, "gemma4"),
  };
  return fields;
}

// The top level of a gemma4_unified config.json (model_type is checked before: see
// model_config_from_json).
const std::vector<ConfigField<ModelConfig>>& model_fields() {
  using C = ModelConfig;
  static const SpecialTokens kTokens;
  static const std::vector<ConfigField<C>> fields = {
      constant_field<C>("architectures", json::array({"Gemma4UnifiedForConditionalGeneration"})),
      constant_field<C>("model_type", "gemma4_unified"),
      custom_field<C>(
          "text_config", [](JsonObject& o, C& c, ConfigParse& p) { c.text = parse_object(o.object("text_config"), text_fields(), p); },
          [](const C& c, json& j) { j["text_config"] = write_config_fields(c.text, text_fields()); }),
      sub_config_field("vision_config", &C::vision, vision_fields()),
      sub_config_field("audio_config", &C::audio, audio_fields()),
      value_field("boi_token_id", &C::tokens, &SpecialTokens::boi, kTokens.boi),
      value_field("eoi_token_id", &C::tokens, &SpecialTokens::eoi, kTokens.eoi),
      value_field("image_token_id", &C::tokens, &SpecialTokens::image, kTokens.image),
      value_field("video_token_id", &C::tokens, &SpecialTokens::video, kTokens.video),
      value_field("boa_token_id", &C::tokens, &SpecialTokens::boa, kTokens.boa),
      value_field("eoa_token_index", &C::tokens, &SpecialTokens::eoa, kTokens.eoa),
      value_field("audio_token_id", &C::tokens, &SpecialTokens::audio, kTokens.audio),
      fixed_field<C>("tie_word_embeddings", true, "the LM head is the tied embedding"),
      constant_field<C>("dtype", "bfloat16"),
      value_field("g4u_tokenizer", &C::tokenizer, "sentencepiece"),
      custom_field<C>(
          "g4u_suppress_tokens",
          [](JsonObject& o, C& c, ConfigParse&) {
            if (o.has("g4u_suppress_tokens")) c.suppress_tokens = o.get_int_list("g4u_suppress_tokens");
            else {
              o.mark_read("g4u_suppress_tokens");
              c.suppress_tokens = {c.tokens.eoa, c.tokens.eoi};
            }
          },
          [](const C& c, json& j) { j["g4u_suppress_tokens"] = c.suppress_tokens; }),
      custom_field<C>(
          "eos_token_id",  // overrides text_config's; written there
          [](JsonObject& o, C& c, ConfigParse&) {
            if (o.has("eos_token_id")) c.text.eos_token_ids = o.get_int_list("eos_token_id");
            o.mark_read("eos_token_id");
          },
          [](const C&, json&) {}),
      ignored_field<C>("pad_token_id"),
      ignored_field<C>("bos_token_id"),
  };
  return fields;
}

const std::vector<ConfigField<AssistantConfig>>& assistant_fields() {
  using C = AssistantConfig;
  static const std::vector<ConfigField<C>> fields = {
      constant_field<C>("architectures", json::array({"Gemma4UnifiedAssistantForCausalLM"})),
      model_type_field<C>("gemma4_unified_assistant", /*required=*/true),
      custom_field<C>(
          "text_config",
          [](JsonObject& o, C& c, ConfigParse& p) {
            c.text = parse_object(o.object("text_config"), text_fields(), p);
            if (c.text.num_kv_shared_layers == 0) c.text.num_kv_shared_layers = c.text.num_layers;  // as HF
          },
          [](const C& c, json& j) { j["text_config"] = write_config_fields(c.text, text_fields()); }),
      value_field("backbone_hidden_size", &C::backbone_hidden_size, 3840),
      value_field("use_ordered_embeddings", &C::use_ordered_embeddings, false),
      value_field("num_centroids", &C::num_centroids, 2048),
      value_field("centroid_intermediate_top_k", &C::centroid_intermediate_top_k, 32),
      fixed_field<C>("tie_word_embeddings", true, "the drafter head is its tied embedding"),
      constant_field<C>("dtype", "bfloat16"),
  };
  return fields;
}

}  // namespace

namespace {
// InputError "<where>: <name> <v> is above g4u's limit of <limit>".
void at_most(const std::string& where, const char* name, int64_t v, int64_t limit) {
  if (v > limit) throw_input("{}: {} {} is above g4u's limit of {}", where, name, v, limit);
}
}  // namespace

void validate(const TextConfig& c, const std::string& where) {
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) throw_input("{}: {} must be positive, got {}", where, name, v);
  };
  using L = ConfigLimits;
  at_most(where, "vocab_size", c.vocab_size, L::kVocab);
  at_most(where, "hidden_size", c.hidden_size, L::kWidth);
  at_most(where, "intermediate_size", c.intermediate_size, L::kWidth);
  at_most(where, "num_hidden_layers", c.num_layers, L::kLayers);
  at_most(where, "max_position_embeddings", c.max_position_embeddings, L::kPositions);
  for (const AttentionGeometry* g : {&c.sliding, &c.full}) {
    at_most(where, "num_attention_heads", g->num_heads, L::kHeads);
    at_most(where, "num_key_value_heads", g->num_kv_heads, L::kHeads);
    at_most(where, "head_dim", g->head_dim, L::kHeadDim);
  }
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_layers);
  positive("sliding_window", c.sliding_window);
  if (static_cast<int64_t>(c.layer_types.size()) != c.num_layers)
    throw_input("{}: layer_types has {} entries, num_hidden_layers is {}", where, c.layer_types.size(), c.num_layers);
  for (LayerType t : {LayerType::kSliding, LayerType::kFull}) {
    if (!c.count_layers(t)) continue;
    const auto& g = c.geometry(t);
    std::string kind = t == LayerType::kFull ? "full-attention" : "sliding-attention";
    positive("num_attention_heads", g.num_heads);
    positive("num_key_value_heads", g.num_kv_heads);
    positive("head_dim", g.head_dim);
    if (g.num_heads % g.num_kv_heads)
      throw_input("{}: {} layers: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                  where, kind, g.num_heads, g.num_kv_heads);
    if (g.head_dim % 2) throw_input("{}: {} layers: head_dim {} must be even for RoPE", where, kind, g.head_dim);
    const auto& r = c.rope(t);
    if (!(r.theta > 0)) throw_input("{}: {} layers: rope_theta must be positive", where, kind);
    if (!(r.partial_rotary_factor > 0 && r.partial_rotary_factor <= 1))
      throw_input("{}: {} layers: partial_rotary_factor {} must be in (0, 1]", where, kind, r.partial_rotary_factor);
    if (r.type == "default" && r.partial_rotary_factor != 1.0)
      throw_input("{}: {} layers: partial_rotary_factor needs rope_type proportional", where, kind);
  }
  if (!(c.rms_norm_eps > 0)) throw_input("{}: rms_norm_eps must be positive", where);
  for (int64_t id : c.eos_token_ids)
    if (id < 0 || id >= c.vocab_size) throw_input("{}: eos_token_id {} outside the vocabulary", where, id);
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size)
    throw_input("{}: pad_token_id {} outside the vocabulary", where, c.pad_token_id);
  if (c.bos_token_id < 0 || c.bos_token_id >= c.vocab_size)
    throw_input("{}: bos_token_id {} outside the vocabulary", where, c.bos_token_id);
}

void validate(const ModelConfig& c, const std::string& where) {
  validate(c.text, where + ": text_config");
  if (c.text.num_kv_shared_layers != 0)
    throw_input("{}: text_config.num_kv_shared_layers: KV sharing is not implemented for the target", where);
  if (c.vision) {
    const auto& v = *c.vision;
    using L = ConfigLimits;
    const std::string vw = where + ": vision_config";
    at_most(vw, "patch_size", v.patch_size, L::kPatch);
    at_most(vw, "pooling_kernel_size", v.pooling_kernel_size, L::kPatch);
    at_most(vw, "mm_embed_dim", v.mm_embed_dim, L::kWidth);
    at_most(vw, "output_proj_dims", v.output_proj_dims, L::kWidth);
    at_most(vw, "mm_posemb_size", v.mm_posemb_size, L::kTokens);
    at_most(vw, "num_soft_tokens", v.num_soft_tokens, L::kTokens);
    if (v.patch_size <= 0 || v.pooling_kernel_size <= 0 || v.mm_embed_dim <= 0 || v.mm_posemb_size <= 0 ||
        v.num_soft_tokens <= 0)
      throw_input("{}: vision_config: sizes must be positive", where);
    if (v.output_proj_dims <= 0) throw_input("{}: vision_config.output_proj_dims must be positive", where);
    validate_vision_variant(v, c.text.hidden_size, where);
  }
  if (c.audio) {
    const std::string aw = where + ": audio_config";
    at_most(aw, "audio_embed_dim", c.audio->audio_embed_dim, ConfigLimits::kWidth);
    at_most(aw, "g4u_sample_rate", c.audio->sample_rate, ConfigLimits::kSampleRate);
    at_most(aw, "g4u_max_frames", c.audio->max_frames, ConfigLimits::kTokens);
    if (c.audio->audio_embed_dim <= 0) throw_input("{}: audio_config.audio_embed_dim must be positive", where);
    if (c.audio->sample_rate <= 0 || c.audio->max_frames <= 0)
      throw_input("{}: audio_config: sample rate and max frames must be positive", where);
    validate_audio_variant(*c.audio, c.text.hidden_size, where);
  }
  for (int64_t id : c.suppress_tokens)
    if (id < 0 || id >= c.text.vocab_size) throw_input("{}: suppress token {} outside the vocabulary", where, id);
  if (c.tokenizer != "byte" && c.tokenizer != "sentencepiece" && c.tokenizer != "none")
    throw_input("{}: g4u_tokenizer '{}' must be byte, sentencepiece or none", where, c.tokenizer);
}

void validate(const AssistantConfig& c, const std::string& where) {
  validate(c.text, where + ": text_config");
  if (c.backbone_hidden_size <= 0) throw_input("{}: backbone_hidden_size must be positive", where);
  at_most(where, "backbone_hidden_size", c.backbone_hidden_size, ConfigLimits::kWidth);
  if (c.use_ordered_embeddings)
    throw_input("{}: use_ordered_embeddings: the centroid-ordered sparse head is not implemented", where);
  if (c.text.num_kv_shared_layers != c.text.num_layers)
    throw_input("{}: text_config.num_kv_shared_layers {} must equal num_hidden_layers {} (Q-only drafter)",
                where, c.text.num_kv_shared_layers, c.text.num_layers);
}

ModelConfig model_config_from_json(const json& j, const std::string& where) {
  JsonObject o(j, where);
  ModelConfig c;
  c.name = where;
  ConfigParse p{c.warnings};
  std::string mt = o.get_string("model_type", std::string(""));
  if (mt == "gemma4_unified_text") {
    // Text-only save (Gemma4UnifiedForCausalLM): the text fields sit at the top level.
    c.text = parse_object(JsonObject(j, where), text_fields(), p);
    c.tokenizer = o.has("g4u_tokenizer") ? o.get_string("g4u_tokenizer") : "sentencepiece";
  } else {
    if (mt != "gemma4_unified")
      throw_input("{}: model_type '{}' is not gemma4_unified (nor gemma4_unified_text)", o.field("model_type"), mt);
    read_config_fields(o, c, model_fields(), p);
    collect_unread(o, c.warnings);
  }
  validate(c, where);
  return c;
}

AssistantConfig assistant_config_from_json(const json& j, const std::string& where) {
  AssistantConfig c;
  ConfigParse p{c.warnings, /*assistant=*/true};
  JsonObject o(j, where);
  read_config_fields(o, c, assistant_fields(), p);
  collect_unread(o, c.warnings);
  c.name = where;
  validate(c, where);
  return c;
}

json model_config_to_json(const ModelConfig& c) { return write_config_fields(c, model_fields()); }

json assistant_config_to_json(const AssistantConfig& c) { return write_config_fields(c, assistant_fields()); }

namespace {
std::string config_file(const std::string& path) {
  fs::path p(path);
  if (fs::is_directory(p)) p /= "config.json";
  if (!fs::exists(p)) throw_input("{}: no such file", p.string());
  return p.string();
}

// generation_config.json (if present) carries eos ids and suppressed tokens.
void apply_generation_config(ModelConfig& c, const std::string& cfg_file) {
  fs::path g = fs::path(cfg_file).parent_path() / "generation_config.json";
  if (!fs::exists(g)) return;
  json j = read_json_file(g.string());
  JsonObject o(j, g.string());
  if (o.has("eos_token_id")) c.text.eos_token_ids = o.get_int_list("eos_token_id");
  if (o.has("suppress_tokens")) c.suppress_tokens = o.get_int_list("suppress_tokens");
  validate(c, cfg_file);
}
}  // namespace

ModelConfig load_model_config(const std::string& path) {
  std::string file = config_file(path);
  ModelConfig c = model_config_from_json(read_json_file(file), file);
  apply_generation_config(c, file);
  c.name = path;
  return c;
}

AssistantConfig load_assistant_config(const std::string& path) {
  std::string file = config_file(path);
  AssistantConfig c = assistant_config_from_json(read_json_file(file), file);
  c.name = path;
  return c;
}

bool is_assistant_config(const std::string& path) {
  std::string file = config_file(path);
  json j = read_json_file(file);
  return j.is_object() && j.value("model_type", std::string()) == "gemma4_unified_assistant";
}

}  // namespace g4u::model
