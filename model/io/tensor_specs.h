// The checkpoint layout: every tensor of a model or drafter with its HF on-disk name, shape and the
// component it belongs to. One list drives module construction checks, parameter counts (`g4u
// info` computes the 12B numbers from it, not from typed-in totals), random init, checkpoint
// validation and loading. Torch-free.
#pragma once

#include "model/io/config.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace g4u::model {

// What a tensor is; drives init, weight-byte classes in reports and the quantization policy.
enum class TensorKind {
  kEmbedding,  // token table (also the tied LM head)
  kLinear,     // a projection matrix [out, in]
  kNorm,       // RMSNorm/LayerNorm weight (init 1)
  kBias,       // bias (init 0)
  kScalar,     // layer_scalar (init 1)
  kTable,      // position table (init normal)
};

struct TensorSpec {
  std::string name;            // canonical on-disk name
  std::vector<int64_t> shape;
  std::string component;       // "text", "vision_embedder", "vision_projection", "audio_projection",
                               // "drafter"
  TensorKind kind;
  int64_t numel() const;
};

std::vector<TensorSpec> model_tensor_specs(const ModelConfig& c);
std::vector<TensorSpec> assistant_tensor_specs(const AssistantConfig& c);

// Parameters by component, plus "total".
std::map<std::string, int64_t> count_params(const std::vector<TensorSpec>& specs);

// Prefix of the text stack in a checkpoint: "model.language_model.".
extern const char* const kTextPrefix;
// The text stack's token table (also the tied LM head): "model.language_model.embed_tokens.weight".
extern const char* const kTextEmbeddingName;

// Maps the other spellings found in the wild to the canonical name (architecture doc §5.1):
// text-only saves ("model.layers.*" -> "model.language_model.layers.*"), HF in-memory names of the
// vision embedder ("model.embed_vision.patch_ln1.*" -> "model.vision_embedder.patch_ln1.*",
// "...multimodal_embedder.embedding_projection" -> "...embedding_projection").
std::string canonical_model_tensor_name(const std::string& name);

// KV-cache bytes for a context of `tokens` positions (batch 1) with sliding layers trimmed to the
// window as HF keeps them (W-1 retained + 1 new), full layers growing.
int64_t kv_cache_bytes(const TextConfig& c, int64_t tokens, int64_t bytes_per_value);

}  // namespace g4u::model
