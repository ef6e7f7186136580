#include "model/io/config.h"

#include "base/error.h"
#include "base/json_util.h"
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

// A field that must keep a given value because g4u implements only that architecture.
template <typename T>
void require_value(JsonObject& o, const std::string& key, const T& expected, const std::string& why) {
  o.mark_read(key);
  if (!o.has(key)) return;
  json v = o.raw(key);
  if (v != json(expected))
    throw_input("{}: value {} is not supported by g4u ({})", o.field(key), v.dump(), why);
}

void require_null_or_zero(JsonObject& o, const std::string& key, const std::string& why) {
  o.mark_read(key);
  if (!o.has(key)) return;
  json v = o.raw(key);
  if (v.is_number() && v.get<double>() == 0) return;
  if (v.is_boolean() && !v.get<bool>()) return;
  throw_input("{}: value {} is not supported by g4u ({})", o.field(key), v.dump(), why);
}

LayerType parse_layer_type(const json& v, const std::string& where) {
  if (v == "sliding_attention") return LayerType::kSliding;
  if (v == "full_attention") return LayerType::kFull;
  throw_input("{}: unknown layer type {} (expected sliding_attention or full_attention)", where,
              v.dump());
}

RopeParams parse_rope(JsonObject o, std::vector<std::string>& warnings) {
  RopeParams r;
  r.type = o.get_string("rope_type", std::string("default"));
  if (r.type != "default" && r.type != "proportional")
    throw_input("{}: rope type '{}' is not implemented (g4u has default and proportional)",
                o.field("rope_type"), r.type);
  r.theta = o.get_double("rope_theta");
  r.partial_rotary_factor = o.get_double("partial_rotary_factor", 1.0);
  double factor = o.get_double("factor", 1.0);
  if (factor != 1.0) throw_input("{}: RoPE scaling factor {} is not implemented", o.field("factor"), factor);
  double attention_factor = o.get_double("attention_factor", 1.0);
  if (attention_factor != 1.0)
    throw_input("{}: attention_factor {} is not implemented", o.field("attention_factor"), attention_factor);
  collect_unread(o, warnings);
  return r;
}

// Default 5:1 sliding:full pattern used by HF when layer_types is absent.
std::vector<LayerType> default_layer_types(int64_t n) {
  std::vector<LayerType> t;
  for (int64_t i = 0; i < n; ++i) t.push_back((i + 1) % 6 ? LayerType::kSliding : LayerType::kFull);
  return t;
}

TextConfig parse_text(JsonObject o, bool assistant, std::vector<std::string>& warnings) {
  TextConfig c;
  std::string mt = o.get_string("model_type", std::string("gemma4_unified_text"));
  if (mt != "gemma4_unified_text")
    throw_input("{}: model_type '{}' is not gemma4_unified_text", o.field("model_type"), mt);
  c.vocab_size = o.get_int("vocab_size", 262144);
  c.hidden_size = o.get_int("hidden_size", 2304);
  c.intermediate_size = o.get_int("intermediate_size", 9216);
  c.num_layers = o.get_int("num_hidden_layers", 30);
  c.max_position_embeddings = o.get_int("max_position_embeddings", 262144);
  c.rms_norm_eps = o.get_double("rms_norm_eps", 1e-6);
  c.sliding_window = o.get_int("sliding_window", 1024);
  c.pad_token_id = o.get_int("pad_token_id", 0);
  c.bos_token_id = o.get_int("bos_token_id", 2);
  c.eos_token_ids = o.get_int_list("eos_token_id");
  if (!o.has("eos_token_id")) c.eos_token_ids = {1};
  auto softcap = o.get_optional_double("final_logit_softcapping");
  c.final_logit_softcapping = softcap ? *softcap : 0.0;

  std::string act = o.get_string("hidden_activation", std::string("gelu_pytorch_tanh"));
  if (act != "gelu_pytorch_tanh")
    throw_input("{}: activation '{}' is not implemented (only gelu_pytorch_tanh)",
                o.field("hidden_activation"), act);
  require_value(o, "tie_word_embeddings", true, "the LM head is the tied embedding");
  require_value(o, "attention_bias", false, "the text stack has no biases");
  require_value(o, "use_double_wide_mlp", false, "double-wide MLP is not implemented");
  require_null_or_zero(o, "enable_moe_block", "mixture-of-experts blocks are not implemented");
  require_null_or_zero(o, "num_experts", "mixture-of-experts blocks are not implemented");
  require_null_or_zero(o, "top_k_experts", "mixture-of-experts blocks are not implemented");
  require_null_or_zero(o, "moe_intermediate_size", "mixture-of-experts blocks are not implemented");
  require_null_or_zero(o, "hidden_size_per_layer_input", "per-layer embeddings are not implemented");
  require_null_or_zero(o, "altup_num_inputs", "AltUp is not implemented");
  require_null_or_zero(o, "laurel_rank", "LAuReL is not implemented");
  require_null_or_zero(o, "attn_logit_softcapping", "Gemma 4 attention has no logit soft-cap");
  require_null_or_zero(o, "rope_scaling", "use rope_parameters; RoPE scaling is not implemented");

  if (o.has("use_bidirectional_attention")) {
    std::string b = o.get_string("use_bidirectional_attention");
    if (b == "vision") c.bidirectional_vision = true;
    else throw_input("{}: '{}' is not implemented (only \"vision\" or null)",
                     o.field("use_bidirectional_attention"), b);
  } else {
    o.mark_read("use_bidirectional_attention");
    c.bidirectional_vision = false;
  }

  c.k_eq_v = o.get_bool("attention_k_eq_v", false);
  c.num_kv_shared_layers = o.get_int("num_kv_shared_layers", 0);
  if (!assistant && c.num_kv_shared_layers != 0)
    throw_input("{}: KV sharing ({} layers) is not implemented for the target model",
                o.field("num_kv_shared_layers"), c.num_kv_shared_layers);

  // Layer types; like HF, the last layer is forced to full attention.
  if (o.has("layer_types")) {
    const json& lt = o.raw("layer_types");
    if (!lt.is_array()) throw_input("{}: expected a list", o.field("layer_types"));
    for (size_t i = 0; i < lt.size(); ++i)
      c.layer_types.push_back(parse_layer_type(lt[i], o.field("layer_types") + "[" + std::to_string(i) + "]"));
    if (static_cast<int64_t>(c.layer_types.size()) != c.num_layers)
      throw_input("{}: has {} entries but num_hidden_layers is {}", o.field("layer_types"),
                  c.layer_types.size(), c.num_layers);
  } else {
    o.mark_read("layer_types");
    if (c.num_layers > 0) c.layer_types = default_layer_types(c.num_layers);
  }
  if (!c.layer_types.empty() && c.layer_types.back() != LayerType::kFull) {
    warnings.push_back(o.field("layer_types") + ": last layer forced to full_attention (as HF does)");
    c.layer_types.back() = LayerType::kFull;
  }

  // Geometry. Flat layout: full layers take global_head_dim (default 512) and, when K=V,
  // num_global_key_value_heads. Newer layout: per_layer_config overrides, flat globals ignored.
  AttentionGeometry flat{o.get_int("num_attention_heads", 8), o.get_int("num_key_value_heads", 4),
                         o.get_int("head_dim", 256)};
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

  // RoPE per layer type.
  if (o.has("rope_parameters")) {
    JsonObject rp = o.object("rope_parameters");
    if (rp.has("sliding_attention")) c.rope_sliding = parse_rope(rp.object("sliding_attention"), warnings);
    if (rp.has("full_attention")) c.rope_full = parse_rope(rp.object("full_attention"), warnings);
    for (const auto& k : rp.unread_keys())
      throw_input("{}: unknown layer type '{}'", rp.where(), k);
  } else {
    o.mark_read("rope_parameters");
    c.rope_sliding = {"default", 10000.0, 1.0};
    c.rope_full = {"proportional", 1000000.0, 0.25};
  }
  collect_unread(o, warnings);
  return c;
}

VisionConfig parse_vision(JsonObject o, std::vector<std::string>& warnings) {
  VisionConfig v;
  std::string mt = o.get_string("model_type", std::string("gemma4_unified_vision"));
  if (mt != "gemma4_unified_vision")
    throw_input("{}: model_type '{}' is not gemma4_unified_vision (g4u is encoder-free)",
                o.field("model_type"), mt);
  v.patch_size = o.get_int("patch_size", 16);
  v.pooling_kernel_size = o.get_int("pooling_kernel_size", 3);
  v.mm_embed_dim = o.get_int("mm_embed_dim", 3840);
  v.mm_posemb_size = o.get_int("mm_posemb_size", 1120);
  v.output_proj_dims = o.get_int("output_proj_dims", 3840);
  v.rms_norm_eps = o.get_double("rms_norm_eps", 1e-6);
  v.num_soft_tokens = o.get_int("num_soft_tokens", 280);
  v.layer_norm_eps = o.get_double("g4u_layer_norm_eps", 1e-5);
  v.projector = o.get_string("g4u_projector", std::string("gemma4"));
  v.position = o.get_string("g4u_position", std::string(v.projector == "gemma4" || v.projector == "linear-pos"
                                                            ? "factorized" : "none"));
  v.token_pooling = o.get_int("g4u_token_pooling", 1);
  if (o.has("model_patch_size") && o.get_int("model_patch_size") != v.model_patch_size())
    throw_input("{}: {} contradicts patch_size {} x pooling_kernel_size {}", o.field("model_patch_size"),
                o.get_int("model_patch_size"), v.patch_size, v.pooling_kernel_size);
  o.mark_read("model_patch_size");
  collect_unread(o, warnings);
  return v;
}

AudioConfig parse_audio(JsonObject o, std::vector<std::string>& warnings) {
  AudioConfig a;
  std::string mt = o.get_string("model_type", std::string("gemma4_unified_audio"));
  if (mt != "gemma4_unified_audio")
    throw_input("{}: model_type '{}' is not gemma4_unified_audio (g4u is encoder-free)",
                o.field("model_type"), mt);
  a.audio_embed_dim = o.get_int("audio_embed_dim", 640);
  // HF exposes the same number under three more names; they must agree.
  for (const char* alias : {"hidden_size", "output_proj_dims", "audio_samples_per_token"}) {
    if (o.has(alias) && o.get_int(alias) != a.audio_embed_dim)
      throw_input("{}: {} contradicts audio_embed_dim {}", o.field(alias), o.get_int(alias), a.audio_embed_dim);
    o.mark_read(alias);
  }
  a.rms_norm_eps = o.get_double("rms_norm_eps", 1e-6);
  a.sample_rate = o.get_int("g4u_sample_rate", 16000);
  a.max_frames = o.get_int("g4u_max_frames", 750);
  a.projector = o.get_string("g4u_projector", std::string("gemma4"));
  collect_unread(o, warnings);
  return a;
}

json rope_to_json(const RopeParams& r) {
  json j = {{"rope_type", r.type}, {"rope_theta", r.theta}};
  if (r.partial_rotary_factor != 1.0) j["partial_rotary_factor"] = r.partial_rotary_factor;
  return j;
}

json text_to_json(const TextConfig& c) {
  json lt = json::array();
  for (auto t : c.layer_types) lt.push_back(layer_type_name(t));
  json j = {
      {"model_type", "gemma4_unified_text"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.sliding.num_heads},
      {"num_key_value_heads", c.sliding.num_kv_heads},
      {"head_dim", c.sliding.head_dim},
      {"global_head_dim", c.full.head_dim},
      {"num_global_key_value_heads", c.full.num_kv_heads},
      {"attention_k_eq_v", c.k_eq_v},
      {"sliding_window", c.sliding_window},
      {"layer_types", lt},
      {"rope_parameters", {{"sliding_attention", rope_to_json(c.rope_sliding)},
                           {"full_attention", rope_to_json(c.rope_full)}}},
      {"rms_norm_eps", c.rms_norm_eps},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"max_position_embeddings", c.max_position_embeddings},
      {"pad_token_id", c.pad_token_id},
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", c.eos_token_ids.size() == 1 ? json(c.eos_token_ids[0]) : json(c.eos_token_ids)},
      {"tie_word_embeddings", true},
      {"attention_bias", false},
      {"use_double_wide_mlp", false},
      {"enable_moe_block", false},
      {"hidden_size_per_layer_input", 0},
      {"num_kv_shared_layers", c.num_kv_shared_layers},
  };
  j["final_logit_softcapping"] = c.final_logit_softcapping > 0 ? json(c.final_logit_softcapping) : json(nullptr);
  j["use_bidirectional_attention"] = c.bidirectional_vision ? json("vision") : json(nullptr);
  // HF only applies num_global_key_value_heads when K=V; keep the flat layout unambiguous.
  if (!c.k_eq_v && c.full.num_kv_heads != c.sliding.num_kv_heads) {
    j["per_layer_config"] = json::object();
    for (size_t i = 0; i < c.layer_types.size(); ++i)
      if (c.layer_types[i] == LayerType::kFull)
        j["per_layer_config"][std::to_string(i)] = {{"head_dim", c.full.head_dim},
                                                    {"num_key_value_heads", c.full.num_kv_heads},
                                                    {"num_attention_heads", c.full.num_heads}};
  }
  return j;
}

}  // namespace

void validate(const TextConfig& c, const std::string& where) {
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) throw_input("{}: {} must be positive, got {}", where, name, v);
  };
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
    if (v.patch_size <= 0 || v.pooling_kernel_size <= 0 || v.mm_embed_dim <= 0 || v.mm_posemb_size <= 0 ||
        v.num_soft_tokens <= 0)
      throw_input("{}: vision_config: sizes must be positive", where);
    if (v.output_proj_dims <= 0) throw_input("{}: vision_config.output_proj_dims must be positive", where);
    validate_vision_variant(v, c.text.hidden_size, where);
  }
  if (c.audio) {
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
  std::string mt = o.get_string("model_type", std::string(""));
  if (mt == "gemma4_unified_text") {
    // Text-only save (Gemma4UnifiedForCausalLM): the text fields sit at the top level.
    c.text = parse_text(JsonObject(j, where), false, c.warnings);
    c.tokenizer = o.has("g4u_tokenizer") ? o.get_string("g4u_tokenizer") : "sentencepiece";
  } else {
    if (mt != "gemma4_unified")
      throw_input("{}: model_type '{}' is not gemma4_unified (nor gemma4_unified_text)", o.field("model_type"), mt);
    c.text = parse_text(o.object("text_config"), false, c.warnings);
    if (o.has("vision_config")) c.vision = parse_vision(o.object("vision_config"), c.warnings);
    else o.mark_read("vision_config");
    if (o.has("audio_config")) c.audio = parse_audio(o.object("audio_config"), c.warnings);
    else o.mark_read("audio_config");
    c.tokens.boi = o.get_int("boi_token_id", c.tokens.boi);
    c.tokens.eoi = o.get_int("eoi_token_id", c.tokens.eoi);
    c.tokens.image = o.get_int("image_token_id", c.tokens.image);
    c.tokens.video = o.get_int("video_token_id", c.tokens.video);
    c.tokens.boa = o.get_int("boa_token_id", c.tokens.boa);
    c.tokens.eoa = o.get_int("eoa_token_index", c.tokens.eoa);
    c.tokens.audio = o.get_int("audio_token_id", c.tokens.audio);
    require_value(o, "tie_word_embeddings", true, "the LM head is the tied embedding");
    c.tokenizer = o.get_string("g4u_tokenizer", std::string("sentencepiece"));
    if (o.has("g4u_suppress_tokens")) c.suppress_tokens = o.get_int_list("g4u_suppress_tokens");
    else {
      o.mark_read("g4u_suppress_tokens");
      c.suppress_tokens = {c.tokens.eoa, c.tokens.eoi};
    }
    if (o.has("eos_token_id")) c.text.eos_token_ids = o.get_int_list("eos_token_id");
    o.mark_read("eos_token_id");
    for (const char* k : {"pad_token_id", "bos_token_id"}) o.mark_read(k);
    collect_unread(o, c.warnings);
  }
  validate(c, where);
  return c;
}

AssistantConfig assistant_config_from_json(const json& j, const std::string& where) {
  JsonObject o(j, where);
  AssistantConfig c;
  c.name = where;
  std::string mt = o.get_string("model_type");
  if (mt != "gemma4_unified_assistant")
    throw_input("{}: model_type '{}' is not gemma4_unified_assistant", o.field("model_type"), mt);
  c.text = parse_text(o.object("text_config"), true, c.warnings);
  if (c.text.num_kv_shared_layers == 0) c.text.num_kv_shared_layers = c.text.num_layers;  // as HF
  c.backbone_hidden_size = o.get_int("backbone_hidden_size", 3840);
  c.use_ordered_embeddings = o.get_bool("use_ordered_embeddings", false);
  c.num_centroids = o.get_int("num_centroids", 2048);
  c.centroid_intermediate_top_k = o.get_int("centroid_intermediate_top_k", 32);
  require_value(o, "tie_word_embeddings", true, "the drafter head is its tied embedding");
  collect_unread(o, c.warnings);
  validate(c, where);
  return c;
}

json model_config_to_json(const ModelConfig& c) {
  json j = {{"architectures", {"Gemma4UnifiedForConditionalGeneration"}},
            {"model_type", "gemma4_unified"},
            {"text_config", text_to_json(c.text)},
            {"boi_token_id", c.tokens.boi},
            {"eoi_token_id", c.tokens.eoi},
            {"image_token_id", c.tokens.image},
            {"video_token_id", c.tokens.video},
            {"boa_token_id", c.tokens.boa},
            {"eoa_token_index", c.tokens.eoa},
            {"audio_token_id", c.tokens.audio},
            {"tie_word_embeddings", true},
            {"dtype", "bfloat16"},
            {"g4u_tokenizer", c.tokenizer},
            {"g4u_suppress_tokens", c.suppress_tokens}};
  if (c.vision) {
    const auto& v = *c.vision;
    j["vision_config"] = {{"model_type", "gemma4_unified_vision"},
                          {"patch_size", v.patch_size},
                          {"pooling_kernel_size", v.pooling_kernel_size},
                          {"model_patch_size", v.model_patch_size()},
                          {"mm_embed_dim", v.mm_embed_dim},
                          {"mm_posemb_size", v.mm_posemb_size},
                          {"output_proj_dims", v.output_proj_dims},
                          {"num_soft_tokens", v.num_soft_tokens},
                          {"rms_norm_eps", v.rms_norm_eps},
                          {"g4u_projector", v.projector},
                          {"g4u_position", v.position},
                          {"g4u_token_pooling", v.token_pooling}};
    if (v.layer_norm_eps != 1e-5) j["vision_config"]["g4u_layer_norm_eps"] = v.layer_norm_eps;
  } else {
    j["vision_config"] = nullptr;
  }
  if (c.audio) {
    const auto& a = *c.audio;
    j["audio_config"] = {{"model_type", "gemma4_unified_audio"},
                         {"audio_embed_dim", a.audio_embed_dim},
                         {"rms_norm_eps", a.rms_norm_eps},
                         {"g4u_sample_rate", a.sample_rate},
                         {"g4u_max_frames", a.max_frames},
                         {"g4u_projector", a.projector}};
  } else {
    j["audio_config"] = nullptr;
  }
  return j;
}

json assistant_config_to_json(const AssistantConfig& c) {
  json t = text_to_json(c.text);
  return {{"architectures", {"Gemma4UnifiedAssistantForCausalLM"}},
          {"model_type", "gemma4_unified_assistant"},
          {"text_config", t},
          {"backbone_hidden_size", c.backbone_hidden_size},
          {"use_ordered_embeddings", c.use_ordered_embeddings},
          {"num_centroids", c.num_centroids},
          {"centroid_intermediate_top_k", c.centroid_intermediate_top_k},
          {"tie_word_embeddings", true},
          {"dtype", "bfloat16"}};
}

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
