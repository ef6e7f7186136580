// Alternative drafters for ablations (quant-and-mtp.md §7.2, §7.3), behind the same Drafter
// interface as the Gemma 4 assistant:
//
// * MTP module (DeepSeek-V3 style, D = 1 module applied recurrently as vLLM does for k > 1):
//     h'_s = eh_proj([enorm(Emb(t_s)); hnorm(h_{s-1})])     (embedding first, as the checkpoints)
//     g_s  = TRM(h'_s)      one full-attention decoder block (§2.5 sandwich) with its own K/V cache
//     logits_s = head(norm(g_s)) predicts t_{s+1}; head = the target's tied embedding + soft-cap
//   h^0 is the target's post-norm hidden state; step j > 0 feeds back g of step j - 1. The block's
//   cache holds, for every accepted slot s, the entry computed from the true (t_s, target h_{s-1});
//   each round first catches up on the slots accepted since the last round, in one forward.
//   Emb is the target's embedding (scaled like the target; enorm removes the scale).
//
// * Medusa heads (Medusa-1, frozen backbone): head i (0-based) predicts the token i + 1 places
//   after the one the target just emitted, from the same last hidden state h:
//     logits_i = W2_i (SiLU(W1_i h + b1_i) + h)        (medusa_num_layers residual blocks, then W2)
//   A round drafts at most num_heads tokens; drafts do not depend on each other.
//
// Checkpoints: config.json with model_type "g4u_mtp" / "g4u_medusa" plus model.safetensors.
#pragma once

#include "model/io/config.h"
#include "model/text/decoder.h"
#include "model/mtp/drafter.h"
#include "model/text/kv_cache.h"

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace g4u::model {

struct MtpConfig {
  std::string name;
  int64_t hidden_size = 64;  // == the target's hidden size (the block runs at the target's width)
  int64_t vocab_size = 320;  // == the target's vocabulary (the head is the target's)
  int64_t intermediate_size = 128;
  AttentionGeometry attention{4, 2, 16};
  RopeParams rope{"default", 10000.0, 1.0};
  double rms_norm_eps = 1e-6;

  // The block as a one-layer text config (full attention, separate V projection).
  TextConfig block() const;
};

struct MedusaConfig {
  std::string name;
  int64_t hidden_size = 64;
  int64_t vocab_size = 320;
  int64_t num_heads = 4;       // medusa_num_heads
  int64_t num_layers = 1;      // medusa_num_layers: residual blocks per head
};

MtpConfig mtp_config_from_json(const nlohmann::json& j, const std::string& where);
MedusaConfig medusa_config_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json mtp_config_to_json(const MtpConfig& c);
nlohmann::json medusa_config_to_json(const MedusaConfig& c);
void validate(const MtpConfig& c, const std::string& where);
void validate(const MedusaConfig& c, const std::string& where);

std::vector<std::string> mtp_preset_names();
std::vector<std::string> medusa_preset_names();
std::optional<MtpConfig> mtp_preset(const std::string& name);
std::optional<MedusaConfig> medusa_preset(const std::string& name);

std::vector<TensorSpec> mtp_tensor_specs(const MtpConfig& c);
std::vector<TensorSpec> medusa_tensor_specs(const MedusaConfig& c);

// ---- MTP ----------------------------------------------------------------------------------------

class MtpBody : public torch::nn::Module {
 public:
  explicit MtpBody(const MtpConfig& c);
  std::shared_ptr<RMSNorm> enorm, hnorm, norm;
  std::shared_ptr<DenseLinear> eh_proj;
  std::shared_ptr<DecoderLayer> block;
};

class MtpModel : public torch::nn::Module {
 public:
  explicit MtpModel(const MtpConfig& c);
  const MtpConfig& config() const { return config_; }
  // e (target embedding) and h_prev [B, T, H] -> g [B, T, H] (block output, before `norm`). With a
  // cache the T slots continue it (valid [B, T]); without, they are a whole causal sequence.
  torch::Tensor forward(const torch::Tensor& e, const torch::Tensor& h_prev, const torch::Tensor& valid, KVCache* cache);

  std::shared_ptr<MtpBody> body;  // "mtp"

 private:
  MtpConfig config_;
  TextConfig block_;
  torch::Tensor inv_freq_;
};

class MtpDrafter : public Drafter {
 public:
  MtpDrafter(std::shared_ptr<MtpModel> model, Gemma4Model& target, std::string name);

  std::string kind() const override { return "mtp"; }
  void reset() override;
  Draft draft(const TargetState& state, const DraftRequest& request) override;
  std::vector<torch::Tensor> unrolled_logits(const TargetPass& pass, int64_t steps) override;
  torch::nn::Module& module() override { return *model_; }
  std::vector<TensorSpec> tensor_specs() const override { return mtp_tensor_specs(model_->config()); }
  nlohmann::json config_json() const override;
  std::string name() const override { return name_; }
  // The block's attention and MLP projections (eh_proj, which reads [e; h], stays dense).
  std::vector<LinearSlot> linear_slots() override;

  // Slots of the block cache computed from accepted (token, target hidden) inputs.
  int64_t valid_slots() const { return valid_; }

 private:
  torch::Tensor head(const torch::Tensor& g);  // shared head: target logits of norm(g), fp32
  std::shared_ptr<MtpModel> model_;
  Gemma4Model* target_;
  std::string name_;
  std::unique_ptr<KVCache> cache_;
  int64_t valid_ = 0;
};

// ---- Medusa -------------------------------------------------------------------------------------

// x + SiLU(linear(x)), named like Medusa's ResBlock ("<i>.linear.weight/bias").
class MedusaResBlock : public torch::nn::Module {
 public:
  explicit MedusaResBlock(int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear linear{nullptr};
};

// One head: residual blocks "0".."L-1", then the vocabulary projection "L" (no bias).
class MedusaHead : public torch::nn::Module {
 public:
  MedusaHead(int64_t hidden, int64_t vocab, int64_t layers);
  torch::Tensor forward(const torch::Tensor& h);  // logits [.., V] fp32
  std::vector<std::shared_ptr<MedusaResBlock>> blocks;
  std::shared_ptr<Embedding> out;  // weight [V, H]
};

class MedusaModel : public torch::nn::Module {
 public:
  explicit MedusaModel(const MedusaConfig& c);
  const MedusaConfig& config() const { return config_; }
  std::vector<std::shared_ptr<MedusaHead>> heads;  // "medusa_head.<i>"

 private:
  MedusaConfig config_;
};

class MedusaDrafter : public Drafter {
 public:
  MedusaDrafter(std::shared_ptr<MedusaModel> model, Gemma4Model& target, std::string name);

  std::string kind() const override { return "medusa"; }
  Draft draft(const TargetState& state, const DraftRequest& request) override;
  int64_t max_draft() const override { return model_->config().num_heads; }
  std::vector<torch::Tensor> unrolled_logits(const TargetPass& pass, int64_t steps) override;
  void init_for_training(Gemma4Model& target) override;
  torch::nn::Module& module() override { return *model_; }
  std::vector<TensorSpec> tensor_specs() const override { return medusa_tensor_specs(model_->config()); }
  nlohmann::json config_json() const override;
  std::string name() const override { return name_; }

 private:
  std::shared_ptr<MedusaModel> model_;  // the heads read the target's states from TargetState
  std::string name_;
};

// InputError unless hidden size and vocabulary equal the target's.
void check_head_fits(int64_t hidden, int64_t vocab, const TextConfig& target, const std::string& where);

}  // namespace g4u::model
