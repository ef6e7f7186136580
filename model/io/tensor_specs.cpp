#include "model/io/tensor_specs.h"

#include "base/error.h"
#include "model/multimodal/projectors.h"

#include <algorithm>

namespace g4u::model {

const char* const kTextPrefix = "model.language_model.";
const char* const kTextEmbeddingName = "model.language_model.embed_tokens.weight";

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

// The decoder layers of a text stack. `q_only` is the drafter (no K/V projections or k_norm).
void add_layers(const TextConfig& c, const std::string& prefix, const std::string& component,
                bool q_only, std::vector<TensorSpec>& out) {
  const int64_t H = c.hidden_size;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerType t = c.layer_types[l];
    const auto& g = c.geometry(t);
    std::string p = prefix + "layers." + std::to_string(l) + ".";
    auto add = [&](const std::string& n, std::vector<int64_t> s, TensorKind k) {
      out.push_back({p + n, std::move(s), component, k});
    };
    add("input_layernorm.weight", {H}, TensorKind::kNorm);
    add("self_attn.q_proj.weight", {g.num_heads * g.head_dim, H}, TensorKind::kLinear);
    if (!q_only) {
      add("self_attn.k_proj.weight", {g.num_kv_heads * g.head_dim, H}, TensorKind::kLinear);
      if (c.has_v_proj(t)) add("self_attn.v_proj.weight", {g.num_kv_heads * g.head_dim, H}, TensorKind::kLinear);
    }
    add("self_attn.o_proj.weight", {H, g.num_heads * g.head_dim}, TensorKind::kLinear);
    add("self_attn.q_norm.weight", {g.head_dim}, TensorKind::kNorm);
    if (!q_only) add("self_attn.k_norm.weight", {g.head_dim}, TensorKind::kNorm);
    add("post_attention_layernorm.weight", {H}, TensorKind::kNorm);
    add("pre_feedforward_layernorm.weight", {H}, TensorKind::kNorm);
    add("post_feedforward_layernorm.weight", {H}, TensorKind::kNorm);
    add("mlp.gate_proj.weight", {c.intermediate_size, H}, TensorKind::kLinear);
    add("mlp.up_proj.weight", {c.intermediate_size, H}, TensorKind::kLinear);
    add("mlp.down_proj.weight", {H, c.intermediate_size}, TensorKind::kLinear);
    add("layer_scalar", {1}, TensorKind::kScalar);
  }
}

}  // namespace

std::vector<TensorSpec> model_tensor_specs(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  const auto& t = c.text;
  out.push_back({kTextEmbeddingName, {t.vocab_size, t.hidden_size}, "text",
                 TensorKind::kEmbedding});
  add_layers(t, kTextPrefix, "text", false, out);
  out.push_back({std::string(kTextPrefix) + "norm.weight", {t.hidden_size}, "text", TensorKind::kNorm});
  if (c.vision)
    for (auto& s : vision_tensor_specs(*c.vision, t.hidden_size)) out.push_back(std::move(s));
  if (c.audio)
    for (auto& s : audio_tensor_specs(*c.audio, t.hidden_size)) out.push_back(std::move(s));
  return out;
}

std::vector<TensorSpec> assistant_tensor_specs(const AssistantConfig& c) {
  std::vector<TensorSpec> out;
  const auto& t = c.text;
  out.push_back({"model.embed_tokens.weight", {t.vocab_size, t.hidden_size}, "drafter", TensorKind::kEmbedding});
  add_layers(t, "model.", "drafter", true, out);
  out.push_back({"model.norm.weight", {t.hidden_size}, "drafter", TensorKind::kNorm});
  out.push_back({"pre_projection.weight", {t.hidden_size, 2 * c.backbone_hidden_size}, "drafter", TensorKind::kLinear});
  out.push_back({"post_projection.weight", {c.backbone_hidden_size, t.hidden_size}, "drafter", TensorKind::kLinear});
  return out;
}

std::map<std::string, int64_t> count_params(const std::vector<TensorSpec>& specs) {
  std::map<std::string, int64_t> m;
  for (const auto& s : specs) {
    m[s.component] += s.numel();
    m["total"] += s.numel();
  }
  return m;
}

std::string canonical_model_tensor_name(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  // HF in-memory names of the vision embedder.
  const std::string mem = "model.embed_vision.";
  if (starts("model.embed_vision.multimodal_embedder.embedding_projection."))
    return "model.embed_vision.embedding_projection." + name.substr(std::string("model.embed_vision.multimodal_embedder.embedding_projection.").size());
  if (starts("model.embed_audio.multimodal_embedder.embedding_projection."))
    return "model.embed_audio.embedding_projection." + name.substr(std::string("model.embed_audio.multimodal_embedder.embedding_projection.").size());
  for (const char* part : {"patch_ln1.", "patch_dense.", "patch_ln2.", "pos_norm.", "pos_embedding"}) {
    if (starts((mem + part).c_str())) return "model.vision_embedder." + name.substr(mem.size());
  }
  // Text-only saves (Gemma4UnifiedForCausalLM) use "model." for the text stack.
  for (const char* part : {"model.layers.", "model.embed_tokens.", "model.norm."}) {
    if (starts(part)) return std::string(kTextPrefix) + name.substr(6);
  }
  return name;
}

int64_t kv_cache_bytes(const TextConfig& c, int64_t tokens, int64_t bytes_per_value) {
  int64_t total = 0;
  for (LayerType t : c.layer_types) {
    const auto& g = c.geometry(t);
    int64_t kept = t == LayerType::kSliding ? std::min(tokens, c.sliding_window) : tokens;
    total += 2 * kept * g.num_kv_heads * g.head_dim * bytes_per_value;  // K and V
  }
  return total;
}

}  // namespace g4u::model
