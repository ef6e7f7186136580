#include "model/text/decoder.h"

#include "base/error.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>

namespace g4u::model {

namespace {
std::atomic<int64_t> score_bytes{int64_t(256) << 20};
}  // namespace

int64_t attention_score_bytes() { return score_bytes.load(); }
void set_attention_score_bytes(int64_t bytes) { score_bytes.store(std::max<int64_t>(bytes, 1)); }

Attention::Attention(const TextConfig& c, int64_t layer_index)
    : layer_(layer_index), type_(c.layer_types.at(layer_index)), g_(c.geometry(type_)), eps_(c.rms_norm_eps) {
  const int64_t H = c.hidden_size;
  q_proj = register_module("q_proj", std::make_shared<DenseLinear>(H, g_.num_heads * g_.head_dim));
  k_proj = register_module("k_proj", std::make_shared<DenseLinear>(H, g_.num_kv_heads * g_.head_dim));
  if (c.has_v_proj(type_)) v_proj = register_module("v_proj", std::make_shared<DenseLinear>(H, g_.num_kv_heads * g_.head_dim));
  o_proj = register_module("o_proj", std::make_shared<DenseLinear>(g_.num_heads * g_.head_dim, H));
  q_norm = register_module("q_norm", std::make_shared<RMSNorm>(g_.head_dim, c.rms_norm_eps));
  k_norm = register_module("k_norm", std::make_shared<RMSNorm>(g_.head_dim, c.rms_norm_eps));
}

torch::Tensor Attention::forward(const torch::Tensor& x, const AttentionContext& ctx, KVCache* cache) {
  const int64_t B = x.size(0), T = x.size(1), d = g_.head_dim;
  const int64_t nq = g_.num_heads, nkv = g_.num_kv_heads;

  torch::Tensor q = q_norm->forward(q_proj->forward(x).view({B, T, nq, d})).transpose(1, 2);
  q = apply_rope(q, ctx.cos, ctx.sin);
  torch::Tensor raw_k = k_proj->forward(x).view({B, T, nkv, d});
  // K=V full layers: V is the same projection, scale-free normed and not rotated.
  torch::Tensor raw_v = v_proj ? v_proj->forward(x).view({B, T, nkv, d}) : raw_k;
  torch::Tensor k = apply_rope(k_norm->forward(raw_k).transpose(1, 2), ctx.cos, ctx.sin);
  torch::Tensor v = rms_norm(raw_v, torch::Tensor(), eps_).transpose(1, 2);

  auto [keys, values] = cache ? cache->update(layer_, k, v) : std::make_pair(k, v);  // [B, nkv, S, d]
  const int64_t S = keys.size(2);

  // Queries in blocks whose scores (run dtype, then fp32 probabilities) stay under
  // attention_score_bytes(): a row's softmax always sees all S keys, so blocking changes no result,
  // and a long prefill (the 12B's 16 heads over 32K tokens: 64 GiB of fp32 scores) fits.
  const int64_t row_bytes = B * nq * S * (2 * x.element_size() + 4);
  const int64_t block = std::clamp<int64_t>(attention_score_bytes() / std::max<int64_t>(row_bytes, 1), 1, T);
  torch::Tensor out;
  if (block == T) {
    out = attend(q, keys, values, ctx.allowed);
  } else {
    std::vector<torch::Tensor> parts;
    for (int64_t t0 = 0; t0 < T; t0 += block) {
      const int64_t n = std::min(block, T - t0);
      parts.push_back(attend(q.narrow(2, t0, n), keys, values, ctx.allowed.narrow(2, t0, n)));
    }
    out = torch::cat(parts, 1);
  }
  return o_proj->forward(out.reshape({B, T, nq * d}));
}

torch::Tensor Attention::attend(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                                const torch::Tensor& allowed) const {
  const int64_t B = q.size(0), nq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t nkv = keys.size(1), group = nq / nkv, S = keys.size(2);
  // Grouped-query attention without repeating K/V: query heads j*group..j*group+group-1 share KV
  // head j, so [B, nq, T, d] views as [B, nkv, group*T, d].
  torch::Tensor qg = q.reshape({B, nkv, group * T, d});
  torch::Tensor scores = torch::matmul(qg, keys.transpose(2, 3)).view({B, nkv, group, T, S});  // scale 1.0
  const double lowest = q.scalar_type() == torch::kBFloat16 ? -3.3895313892515355e38 : std::numeric_limits<float>::lowest();
  scores = scores.masked_fill(allowed.bitwise_not().unsqueeze(1), lowest);
  torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  torch::Tensor out = torch::matmul(probs.view({B, nkv, group * T, S}), values);  // [B, nkv, group*T, d]
  return out.view({B, nq, T, d}).transpose(1, 2);  // [B, T, nq, d]
}

MLP::MLP(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", std::make_shared<DenseLinear>(hidden, intermediate));
  up_proj = register_module("up_proj", std::make_shared<DenseLinear>(hidden, intermediate));
  down_proj = register_module("down_proj", std::make_shared<DenseLinear>(intermediate, hidden));
}

torch::Tensor MLP::forward(const torch::Tensor& x) {
  return down_proj->forward(gelu_tanh(gate_proj->forward(x)) * up_proj->forward(x));
}

TextModel::TextModel(const TextConfig& c) : config_(c) {
  embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.hidden_size));
  layers = register_layers<DecoderLayer>(*this, c);
  norm = register_module("norm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps));
  for (LayerType t : {LayerType::kSliding, LayerType::kFull})
    inv_freq_[t == LayerType::kFull] = rope_inv_freq(c.rope(t), c.geometry(t).head_dim);
}

double TextModel::embed_scale() const {
  // sqrt(H) is an fp32 buffer in HF, cast to the weight (= run) dtype before the multiply.
  return torch::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)), torch::kFloat32)
      .to(dtype())
      .to(torch::kFloat64)
      .item<double>();
}

torch::Tensor TextModel::embed(const torch::Tensor& ids) const {
  torch::Tensor scale = torch::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)), torch::kFloat32)
                            .to(dtype());
  const torch::Device dev = device();
  // A packed table gathers its rows on the CPU (quant::QuantLinear::weight_rows): only they move.
  torch::Tensor rows = embed_tokens->lookup(embed_tokens->packed() ? ids : ids.to(dev), dtype()).to(dev);
  // A bf16 table under an fp32 run: the gathered rows widen exactly.
  if (rows.scalar_type() != dtype()) rows = rows.to(dtype());
  return rows * scale;
}

torch::Tensor attention_allowed(LayerType type, int64_t q_begin, int64_t steps, int64_t k_begin, int64_t window,
                                const torch::Tensor& key_valid, const torch::Tensor& block_ids, VisionMask mode) {
  const int64_t end = q_begin + steps;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(key_valid.device());
  torch::Tensor q_slot = torch::arange(q_begin, end, i64).view({steps, 1});
  torch::Tensor k_slot = torch::arange(k_begin, end, i64).view({1, end - k_begin});
  torch::Tensor causal = k_slot <= q_slot;  // [T, S]
  torch::Tensor in_window = k_slot > q_slot - window;
  torch::Tensor allowed = type == LayerType::kSliding ? causal.bitwise_and(in_window) : causal;
  allowed = allowed.unsqueeze(0);  // [1, T, S]
  if (block_ids.defined() && mode != VisionMask::kNone) {
    // Only keys of this step can share a block with a query (HF drops the block ids during
    // cached decoding).
    torch::Tensor key_ids = torch::full({block_ids.size(0), end - k_begin}, -1, i64);
    key_ids.narrow(1, q_begin - k_begin, steps).copy_(block_ids);
    torch::Tensor same = (block_ids.unsqueeze(2) == key_ids.unsqueeze(1)).bitwise_and(block_ids.unsqueeze(2) >= 0);
    if (mode == VisionMask::kSlidingBlocks) {
      if (type == LayerType::kSliding) allowed = causal.unsqueeze(0).bitwise_or(same).bitwise_and(in_window.unsqueeze(0));
    } else {
      allowed = allowed.bitwise_or(same);
    }
  }
  return allowed.bitwise_and(key_valid.unsqueeze(1));  // [B, T, S]
}

AttentionContext TextModel::context(LayerType t, const torch::Tensor& positions, const KVCache* cache,
                                    const torch::Tensor& valid, const ForwardOptions& opt, torch::ScalarType dtype) const {
  AttentionContext ctx;
  std::tie(ctx.cos, ctx.sin) = rope_cos_sin(inv_freq_[t == LayerType::kFull].to(positions.device()), positions, dtype);
  const int64_t step = valid.size(1);
  const int64_t L = cache ? cache->length() : 0, first = cache ? cache->first_visible_slot(t) : 0;
  torch::Tensor key_valid = cache ? cache->valid_slots(first, L + step) : valid.to(torch::kBool);
  torch::Tensor blocks;
  VisionMask mode = VisionMask::kNone;
  if (opt.blocks) {
    blocks = opt.blocks->block_ids;
    mode = opt.blocks->mode;
  }
  ctx.allowed = attention_allowed(t, L, step, first, config_.sliding_window, key_valid, blocks, mode)
                    .unsqueeze(1);  // [B, 1, T, S]
  return ctx;
}

AttentionContext sequence_attention_context(const TextConfig& c, LayerType t, const torch::Tensor& valid,
                                            torch::ScalarType dtype) {
  AttentionContext ctx;
  const torch::Tensor inv_freq = rope_inv_freq(c.rope(t), c.geometry(t).head_dim);
  std::tie(ctx.cos, ctx.sin) = rope_cos_sin(inv_freq.to(valid.device()), positions_from_mask(valid), dtype);
  ctx.allowed = attention_allowed(t, 0, valid.size(1), 0, c.sliding_window, valid.to(torch::kBool)).unsqueeze(1);
  return ctx;
}

torch::Tensor positions_from_mask(const torch::Tensor& valid) {
  torch::Tensor v = valid.to(torch::kBool);
  return (v.to(torch::kInt64).cumsum(1) - 1).masked_fill(v.bitwise_not(), 1);
}

ForwardResult TextModel::forward(const torch::Tensor& embeds, const torch::Tensor& valid_mask, KVCache* cache,
                                 const ForwardOptions& options) {
  G4U_CHECK(embeds.dim() == 3 && embeds.size(2) == config_.hidden_size, "embeds shape {}", embeds.sizes());
  G4U_CHECK(valid_mask.sizes() == embeds.sizes().slice(0, 2), "valid mask {} for embeds {}", valid_mask.sizes(),
            embeds.sizes());
  // Masks and block ids may be built on the CPU by the caller; the step runs where the embeddings are.
  const torch::Tensor valid = valid_mask.to(embeds.device());
  ForwardOptions opt = options;
  if (opt.blocks) opt.blocks->block_ids = opt.blocks->block_ids.to(embeds.device());
  torch::Tensor positions = cache ? cache->begin_step(valid) : positions_from_mask(valid);
  AttentionContext ctx[2];
  for (LayerType t : {LayerType::kSliding, LayerType::kFull})
    if (config_.count_layers(t))
      ctx[t == LayerType::kFull] = context(t, positions, cache, valid, opt, embeds.scalar_type());
  ForwardResult r;
  torch::Tensor h = embeds;
  for (auto& layer : layers) {
    h = layer->forward(h, ctx[layer->self_attn->type() == LayerType::kFull], cache);
    if (opt.collect_layer_outputs) r.layer_outputs.push_back(h);
  }
  if (cache) cache->end_step();
  r.hidden = norm->forward(h);
  return r;
}

torch::Tensor TextModel::logits(const torch::Tensor& hidden) const {
  torch::Tensor z = head ? head->forward(hidden) : linear_rows(hidden, embed_tokens->weight);
  return soft_cap(z, config_.final_logit_softcapping);
}

}  // namespace g4u::model
