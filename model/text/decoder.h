// The Gemma 4 text decoder (architecture doc §2) as LibTorch modules. Module and parameter names
// follow the HF checkpoint, so `named_parameters()` of a Gemma4Model equals the tensor list of
// model/io/tensor_specs.h.
#pragma once

#include "model/io/config.h"
#include "model/text/kv_cache.h"
#include "model/text/layers.h"

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace g4u::model {

// Which keys each query may attend (architecture doc §2.8), bool [B, T, S] for queries at slots
// [q_begin, q_begin + T) and keys at slots [k_begin, q_begin + T): causal; sliding layers also
// k > q - window; keys must be valid (not padding). With `block_ids` [B, T] (image block id of each
// query slot of this step, -1 elsewhere) image tokens of one block see each other in both
// directions: `kSlidingBlocks` in sliding layers only with the window kept, `kAllLayersNoWindow`
// in both layer types with the window bypassed.
torch::Tensor attention_allowed(LayerType type, int64_t q_begin, int64_t steps, int64_t k_begin, int64_t window,
                                const torch::Tensor& key_valid, const torch::Tensor& block_ids = {},
                                VisionMask mode = VisionMask::kSlidingBlocks);

// RoPE positions of a whole left-padded sequence: cumsum of the mask - 1, padding slots 1 (HF).
torch::Tensor positions_from_mask(const torch::Tensor& valid);

// Per-forward attention inputs shared by all layers of one type.
struct AttentionContext {
  torch::Tensor cos, sin;  // RoPE tables [B, T, head_dim] in the activation dtype
  torch::Tensor allowed;   // bool [B, 1, T, S]: query may attend key
};

// The context a whole sequence without a cache and without image blocks gets (what
// TextModel::forward builds with cache == nullptr): RoPE at positions_from_mask(valid), keys of
// this step only. For running single layers outside a TextModel (layer-by-layer calibration).
AttentionContext sequence_attention_context(const TextConfig& c, LayerType t, const torch::Tensor& valid,
                                            torch::ScalarType dtype);

// Largest attention score block a step materializes (scores in the run dtype, fp32 probabilities
// and their cast, all heads, per batch): longer steps take their queries in blocks of rows, each
// against all keys. 256 MiB unless changed (tests lower it to force blocks).
int64_t attention_score_bytes();
void set_attention_score_bytes(int64_t bytes);

class Attention : public torch::nn::Module {
 public:
  Attention(const TextConfig& c, int64_t layer_index);
  // x [B, T, H] (already input-normed). `cache` receives this step's K/V; without a cache
  // (training, one-shot forwards) attention runs over this step's keys only.
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& ctx, KVCache* cache);

  LayerType type() const { return type_; }

  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;  // v_proj null on K=V full layers
  std::shared_ptr<RMSNorm> q_norm, k_norm;

 private:
  // Softmax attention of queries q [B, nq, T, d] over keys/values [B, nkv, S, d] where `allowed`
  // [B, 1, T, S] says so; returns [B, T, nq, d].
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                       const torch::Tensor& allowed) const;

  int64_t layer_;
  LayerType type_;
  AttentionGeometry g_;
  double eps_;
};

class MLP : public torch::nn::Module {
 public:
  MLP(int64_t hidden, int64_t intermediate);
  torch::Tensor forward(const torch::Tensor& x);
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

// The Gemma 4 layer "sandwich": RMSNorms before and after both the attention and the MLP, each
// output added to the residual stream, and the stream scaled by layer_scalar. The decoder and the
// assistant drafter differ only in their attention (AttentionT), whose extra forward arguments are passed on.
template <typename AttentionT>
class SandwichLayer : public torch::nn::Module {
 public:
  SandwichLayer(const TextConfig& c, int64_t layer_index) {
    const int64_t H = c.hidden_size;
    const double eps = c.rms_norm_eps;
    input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(H, eps));
    self_attn = register_module("self_attn", std::make_shared<AttentionT>(c, layer_index));
    post_attention_layernorm = register_module("post_attention_layernorm", std::make_shared<RMSNorm>(H, eps));
    pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", std::make_shared<RMSNorm>(H, eps));
    mlp = register_module("mlp", std::make_shared<MLP>(H, c.intermediate_size));
    post_feedforward_layernorm = register_module("post_feedforward_layernorm", std::make_shared<RMSNorm>(H, eps));
    layer_scalar = register_parameter("layer_scalar", torch::ones({1}));
  }

  template <typename... AttentionArgs>
  torch::Tensor forward(const torch::Tensor& h, AttentionArgs&&... attention_args) {
    torch::Tensor a = self_attn->forward(input_layernorm->forward(h), std::forward<AttentionArgs>(attention_args)...);
    torch::Tensor h1 = h + post_attention_layernorm->forward(a);
    torch::Tensor m = mlp->forward(pre_feedforward_layernorm->forward(h1));
    torch::Tensor h2 = h1 + post_feedforward_layernorm->forward(m);
    return h2 * layer_scalar;  // the whole residual stream
  }

  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
      post_feedforward_layernorm;
  std::shared_ptr<AttentionT> self_attn;
  std::shared_ptr<MLP> mlp;
  torch::Tensor layer_scalar;  // [1]
};

using DecoderLayer = SandwichLayer<Attention>;

// Registers c.num_layers layers LayerT(c, l) under "layers.<l>" of `parent` and returns them.
template <typename LayerT>
std::vector<std::shared_ptr<LayerT>> register_layers(torch::nn::Module& parent, const TextConfig& c) {
  std::vector<std::shared_ptr<LayerT>> layers;
  auto list = parent.register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_layers; ++l) {
    layers.push_back(std::make_shared<LayerT>(c, l));
    list->push_back(layers.back());
  }
  return layers;
}

// Which image-block bidirectionality applies during a forward (§2.8).
struct BlockMask {
  torch::Tensor block_ids;  // [B, T] int64 for the step's slots: image block id, -1 elsewhere
  VisionMask mode = VisionMask::kSlidingBlocks;
};

struct ForwardOptions {
  bool collect_layer_outputs = false;
  std::optional<BlockMask> blocks;  // prefill with images only
};

struct ForwardResult {
  torch::Tensor hidden;                     // [B, T, H] after the final norm
  std::vector<torch::Tensor> layer_outputs;  // per layer [B, T, H] when collected
};

class TextModel : public torch::nn::Module {
 public:
  explicit TextModel(const TextConfig& c);

  // E[ids] * sqrt(H) in the run dtype, the scale cast to it first (62.0 in bf16, 61.9677 fp32).
  torch::Tensor embed(const torch::Tensor& ids) const;
  double embed_scale() const;
  // Runs the decoder over `embeds` [B, T, H]; `valid` [B, T] bool marks real tokens. With a
  // cache the step continues the cached sequence; with nullptr it is a whole sequence on its own
  // (training; differentiable).
  ForwardResult forward(const torch::Tensor& embeds, const torch::Tensor& valid, KVCache* cache,
                        const ForwardOptions& opt = {});
  ForwardResult forward(const torch::Tensor& embeds, const torch::Tensor& valid, KVCache& cache,
                        const ForwardOptions& opt = {}) {
    return forward(embeds, valid, &cache, opt);
  }
  // Tied head + final soft-cap: hidden [.., H] -> logits [.., V].
  torch::Tensor logits(const torch::Tensor& hidden) const;

  const TextConfig& config() const { return config_; }
  // The dtype the decoder runs in (its norms' weights). The token table can differ: a quantized
  // checkpoint keeps it in its stored bf16 under an fp32 run (quant/layer/tied_head.h).
  torch::ScalarType dtype() const { return norm->weight.scalar_type(); }
  // The device it runs on (its norms' weights'). Inputs built elsewhere (token ids, masks) are moved
  // here by embed() and forward(); what they return stays here.
  torch::Device device() const { return norm->weight.device(); }

  std::shared_ptr<Embedding> embed_tokens;  // [V, H], also the tied LM head
  // Optional product for the tied head (null: linear_rows with embed_tokens->weight); a quantized
  // checkpoint's loader sets it to read the table as stored (model::LoadOptions::packed_head). Not a
  // registered module, so the parameters stay the checkpoint's tensors.
  std::shared_ptr<Linear> head;
  std::vector<std::shared_ptr<DecoderLayer>> layers;  // registered under "layers.<i>"
  std::shared_ptr<RMSNorm> norm;

 private:
  AttentionContext context(LayerType t, const torch::Tensor& positions, const KVCache* cache, const torch::Tensor& valid,
                           const ForwardOptions& opt, torch::ScalarType dtype) const;
  TextConfig config_;
  torch::Tensor inv_freq_[2];  // per layer type
};

}  // namespace g4u::model
