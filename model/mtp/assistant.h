// The Gemma 4 "assistant" MTP drafter (`gemma4_unified_assistant`, architecture doc §7): a small
// decoder whose attention has only query projections and reads the target's K/V.
//
// One draft step (§7.3) for previous token t, context c (backbone width) and draft position p:
//   e  = E_target[t] * embed_scale       (the target's table, scale cast like the target's embed)
//   u  = pre_projection(concat(e, c))    (embedding first)
//   u  = layer_l(u) for each layer       (§2.5 sandwich and layer_scalar; attention: q = RoPE(RMS(
//                                        u Wq^T; q_norm), p) with the layer type's RoPE; keys/values
//                                        are the target's K/V of its last sliding layer (sliding
//                                        drafter layers) or last full layer (full drafter layers),
//                                        exactly as the target's attention used them; GQA; scale
//                                        1.0; fp32 softmax)
//   z  = RMS(u; model.norm)
//   logits = z E_draft^T                 (the drafter's own tied table, no soft-cap)
//   c' = post_projection(z)              (the next step's context)
// Within a round p stays constant (§7.4 item 3).
//
// K/V range (a decision; §7.4 item 6 and §12 Q1 describe HF's quirks): a draft at position p sees
// the target's K/V of positions < p only — never a rejected candidate's entry at p. Full drafter
// layers see all of them; sliding drafter layers see the newest `sliding_window` of them
// (positions p - W .. p - 1, HF's exclusive-bound mask on the key axis flipped newest-first).
#pragma once

#include "model/io/config.h"
#include "model/text/decoder.h"
#include "model/mtp/drafter.h"
#include "model/text/layers.h"

#include <torch/torch.h>

#include <memory>
#include <vector>

namespace g4u::model {

// Keys and values one drafter layer type attends to: [B, kv_heads, S, d], plus the allowed mask
// [B, T, S] (undefined: every key allowed).
struct SharedKV {
  torch::Tensor keys, values, allowed;
};

class QOnlyAttention : public torch::nn::Module {
 public:
  QOnlyAttention(const TextConfig& c, int64_t layer_index);
  // x [B, T, Hd] (input-normed); cos/sin [B, T, head_dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, const SharedKV& kv);
  LayerType type() const { return type_; }

  std::shared_ptr<Linear> q_proj, o_proj;
  std::shared_ptr<RMSNorm> q_norm;

 private:
  LayerType type_;
  AttentionGeometry g_;
};

using AssistantLayer = SandwichLayer<QOnlyAttention>;

// "model" in the HF tree.
class AssistantBody : public torch::nn::Module {
 public:
  explicit AssistantBody(const TextConfig& c);
  std::shared_ptr<Embedding> embed_tokens;  // [V, Hd]: the drafter's tied LM head
  std::vector<std::shared_ptr<AssistantLayer>> layers;
  std::shared_ptr<RMSNorm> norm;
};

class AssistantModel : public torch::nn::Module {
 public:
  explicit AssistantModel(const AssistantConfig& c);
  const AssistantConfig& config() const { return config_; }

  struct StepOutput {
    torch::Tensor logits;   // [B, T, V] fp32, no soft-cap
    torch::Tensor z;        // [B, T, Hd] after the final norm
    torch::Tensor context;  // [B, T, Hb] = post_projection(z)
  };
  // e, c [B, T, Hb]; positions [B, T] int64 (the draft position of each query); kv indexed by
  // layer type (0 sliding, 1 full).
  StepOutput step(const torch::Tensor& e, const torch::Tensor& c, const torch::Tensor& positions,
                  const SharedKV kv[2]);

  std::shared_ptr<AssistantBody> body;  // "model"
  std::shared_ptr<DenseLinear> pre_projection, post_projection;

 private:
  AssistantConfig config_;
  torch::Tensor inv_freq_[2];
};

// Throws InputError (prefixed with `where`) unless the drafter can draft for `target`: backbone
// hidden size == target hidden size, same vocabulary, each drafter layer type has a target layer of
// that type whose K/V geometry (kv heads, head_dim) matches, and the drafter's sliding window is
// at most the target's (the target cache holds no older sliding entries).
void check_assistant_fits(const AssistantConfig& a, const TextConfig& target, const std::string& where);

class AssistantDrafter : public Drafter {
 public:
  AssistantDrafter(std::shared_ptr<AssistantModel> model, Gemma4Model& target, std::string name);

  std::string kind() const override { return "gemma4-assistant"; }
  Draft draft(const TargetState& state, const DraftRequest& request) override;
  std::vector<torch::Tensor> unrolled_logits(const TargetPass& pass, int64_t steps) override;
  torch::nn::Module& module() override { return *model_; }
  std::vector<TensorSpec> tensor_specs() const override;
  std::vector<LinearSlot> linear_slots() override;
  nlohmann::json config_json() const override;
  std::string name() const override { return name_; }

  AssistantModel& model() { return *model_; }
  // The target layers the drafter reads: index by type (0 sliding, 1 full), -1 if unused.
  int64_t source_layer(LayerType t) const { return source_layer_[t == LayerType::kFull]; }

 private:
  std::shared_ptr<AssistantModel> model_;
  Gemma4Model* target_;
  std::string name_;
  int64_t source_layer_[2] = {-1, -1};
};

}  // namespace g4u::model
