#include "model/mtp/assistant.h"

#include "base/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

namespace g4u::model {

QOnlyAttention::QOnlyAttention(const TextConfig& c, int64_t layer_index)
    : type_(c.layer_types.at(layer_index)), g_(c.geometry(type_)) {
  const int64_t H = c.hidden_size;
  q_proj = register_module("q_proj", std::make_shared<DenseLinear>(H, g_.num_heads * g_.head_dim));
  o_proj = register_module("o_proj", std::make_shared<DenseLinear>(g_.num_heads * g_.head_dim, H));
  q_norm = register_module("q_norm", std::make_shared<RMSNorm>(g_.head_dim, c.rms_norm_eps));
}

torch::Tensor QOnlyAttention::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                      const SharedKV& kv) {
  const int64_t B = x.size(0), T = x.size(1), d = g_.head_dim, nq = g_.num_heads, nkv = g_.num_kv_heads;
  G4U_CHECK(kv.keys.dim() == 4 && kv.keys.size(0) == B && kv.keys.size(1) == nkv && kv.keys.size(3) == d,
            "shared keys {} for a layer with {} kv heads of {}", kv.keys.sizes(), nkv, d);
  const int64_t S = kv.keys.size(2), group = nq / nkv;
  G4U_CHECK(S > 0, "no target keys to attend to");
  torch::Tensor q = q_norm->forward(q_proj->forward(x).view({B, T, nq, d})).transpose(1, 2);
  q = apply_rope(q, cos, sin);  // [B, nq, T, d]
  torch::Tensor keys = kv.keys.to(x.scalar_type()), values = kv.values.to(x.scalar_type());
  // GQA without repeating K/V, as the target's attention: query heads j*group.. share KV head j.
  torch::Tensor scores = torch::matmul(q.reshape({B, nkv, group * T, d}), keys.transpose(2, 3))
                             .view({B, nkv, group, T, S});  // scale 1.0
  if (kv.allowed.defined()) {
    const double lowest =
        x.scalar_type() == torch::kBFloat16 ? -3.3895313892515355e38 : std::numeric_limits<float>::lowest();
    scores = scores.masked_fill(kv.allowed.logical_not().view({B, 1, 1, T, S}), lowest);
  }
  torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(x.scalar_type());
  torch::Tensor out = torch::matmul(probs.view({B, nkv, group * T, S}), values);
  out = out.view({B, nq, T, d}).transpose(1, 2).reshape({B, T, nq * d});
  return o_proj->forward(out);
}

AssistantBody::AssistantBody(const TextConfig& c) {
  embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.hidden_size));
  layers = register_layers<AssistantLayer>(*this, c);
  norm = register_module("norm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps));
}

AssistantModel::AssistantModel(const AssistantConfig& c) : config_(c) {
  body = register_module("model", std::make_shared<AssistantBody>(c.text));
  pre_projection =
      register_module("pre_projection", std::make_shared<DenseLinear>(2 * c.backbone_hidden_size, c.text.hidden_size));
  post_projection =
      register_module("post_projection", std::make_shared<DenseLinear>(c.text.hidden_size, c.backbone_hidden_size));
  for (LayerType t : {LayerType::kSliding, LayerType::kFull})
    inv_freq_[t == LayerType::kFull] = rope_inv_freq(c.text.rope(t), c.text.geometry(t).head_dim);
}

AssistantModel::StepOutput AssistantModel::step(const torch::Tensor& e, const torch::Tensor& c,
                                                const torch::Tensor& positions, const SharedKV kv[2]) {
  const int64_t Hb = config_.backbone_hidden_size;
  G4U_CHECK(e.dim() == 3 && e.size(2) == Hb && c.sizes() == e.sizes(), "drafter inputs e {} c {}", e.sizes(), c.sizes());
  torch::ScalarType dtype = pre_projection->weight.scalar_type();
  torch::Tensor h = pre_projection->forward(torch::cat({e.to(dtype), c.to(dtype)}, -1));  // embedding first
  torch::Tensor cos[2], sin[2];
  for (LayerType t : {LayerType::kSliding, LayerType::kFull})
    if (config_.text.count_layers(t)) {
      int i = t == LayerType::kFull;
      std::tie(cos[i], sin[i]) = rope_cos_sin(inv_freq_[i].to(h.device()), positions.to(h.device()), dtype);
    }
  for (auto& layer : body->layers) {
    int i = layer->self_attn->type() == LayerType::kFull;
    h = layer->forward(h, cos[i], sin[i], kv[i]);
  }
  StepOutput out;
  out.z = body->norm->forward(h);
  out.logits = linear_rows(out.z, body->embed_tokens->weight).to(torch::kFloat32);  // no soft-cap
  out.context = post_projection->forward(out.z);
  return out;
}

void check_assistant_fits(const AssistantConfig& a, const TextConfig& target, const std::string& where) {
  if (a.backbone_hidden_size != target.hidden_size)
    throw_input("{}: backbone_hidden_size {} does not match the target's hidden_size {}", where,
                a.backbone_hidden_size, target.hidden_size);
  if (a.text.vocab_size != target.vocab_size)
    throw_input("{}: vocab_size {} does not match the target's vocab_size {}", where, a.text.vocab_size,
                target.vocab_size);
  for (LayerType t : {LayerType::kSliding, LayerType::kFull}) {
    if (!a.text.count_layers(t)) continue;
    const char* kind = t == LayerType::kFull ? "full" : "sliding";
    int64_t src = target.last_layer_of(t);
    if (src < 0)
      throw_input("{}: the drafter has {}-attention layers but the target has none to share K/V from", where, kind);
    const auto& dg = a.text.geometry(t);
    const auto& tg = target.geometry(t);
    if (dg.num_kv_heads != tg.num_kv_heads || dg.head_dim != tg.head_dim)
      throw_input("{}: {}-attention K/V geometry ({} kv heads x head_dim {}) does not match the target's last {} "
                  "layer {} ({} kv heads x head_dim {})",
                  where, kind, dg.num_kv_heads, dg.head_dim, kind, src, tg.num_kv_heads, tg.head_dim);
  }
  if (a.text.count_layers(LayerType::kSliding) && a.text.sliding_window > target.sliding_window)
    throw_input("{}: sliding_window {} exceeds the target's {} (the target keeps no older sliding K/V)", where,
                a.text.sliding_window, target.sliding_window);
}

AssistantDrafter::AssistantDrafter(std::shared_ptr<AssistantModel> model, Gemma4Model& target, std::string name)
    : model_(std::move(model)), target_(&target), name_(std::move(name)) {
  check_assistant_fits(model_->config(), target.config().text, name_);
  for (LayerType t : {LayerType::kSliding, LayerType::kFull})
    if (model_->config().text.count_layers(t)) source_layer_[t == LayerType::kFull] = target.config().text.last_layer_of(t);
}

std::vector<TensorSpec> AssistantDrafter::tensor_specs() const { return assistant_tensor_specs(model_->config()); }

std::vector<LinearSlot> AssistantDrafter::linear_slots() {
  std::vector<LinearSlot> out;
  auto& layers = model_->body->layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    auto& attn = *layers[l]->self_attn;
    auto& mlp = *layers[l]->mlp;
    out.push_back({prefix + "self_attn.q_proj.weight", &attn, "q_proj", &attn.q_proj});
    out.push_back({prefix + "self_attn.o_proj.weight", &attn, "o_proj", &attn.o_proj});
    out.push_back({prefix + "mlp.gate_proj.weight", &mlp, "gate_proj", &mlp.gate_proj});
    out.push_back({prefix + "mlp.up_proj.weight", &mlp, "up_proj", &mlp.up_proj});
    out.push_back({prefix + "mlp.down_proj.weight", &mlp, "down_proj", &mlp.down_proj});
  }
  return out;
}

nlohmann::json AssistantDrafter::config_json() const { return assistant_config_to_json(model_->config()); }

Draft AssistantDrafter::draft(const TargetState& s, const DraftRequest& r) {
  const int64_t p = s.position;
  G4U_CHECK(r.k >= 1 && r.sampler, "draft request k={}", r.k);
  G4U_CHECK(p >= 1 && s.cache->length() == p && s.hidden.size(0) == p && static_cast<int64_t>(s.tokens->size()) == p + 1,
            "target state: position {}, cache {}, hidden {}, tokens {}", p, s.cache->length(), s.hidden.size(0),
            s.tokens->size());
  const TextConfig& dc = model_->config().text;
  // The target's K/V of positions < p (see the header for the range decision).
  SharedKV kv[2];
  for (int i = 0; i < 2; ++i) {
    if (source_layer_[i] < 0) continue;
    auto [K, V] = s.cache->layer_kv(source_layer_[i]);
    const int64_t avail = K.size(2);
    const int64_t n = i == 0 ? std::min(dc.sliding_window, p) : p;
    G4U_CHECK(avail >= n, "target layer {} holds {} K/V slots, the drafter needs {} (rollback margin too small)",
              source_layer_[i], avail, n);
    kv[i].keys = K.narrow(2, avail - n, n);
    kv[i].values = V.narrow(2, avail - n, n);
  }
  const int64_t H = s.hidden.size(1);
  torch::Tensor c = s.hidden[p - 1].view({1, 1, H});
  torch::Tensor positions = torch::full({1, 1}, p, torch::kInt64);
  int64_t tok = s.tokens->back();
  Draft d;
  for (int64_t j = 0; j < r.k; ++j) {
    torch::Tensor e = target_->text().embed(torch::full({1, 1}, tok, torch::kInt64));
    AssistantModel::StepOutput out = model_->step(e, c, positions, kv);
    tok = choose_draft_token(out.logits[0][0], *r.sampler, d.q);
    d.tokens.push_back(tok);
    if (r.stop_ids && std::find(r.stop_ids->begin(), r.stop_ids->end(), tok) != r.stop_ids->end()) break;
    c = out.context;
  }
  return d;
}

std::vector<torch::Tensor> AssistantDrafter::unrolled_logits(const TargetPass& pass, int64_t steps) {
  const int64_t B = pass.ids.size(0), T = pass.ids.size(1);
  G4U_CHECK(pass.cache->length() == T, "target pass cache {} for {} slots", pass.cache->length(), T);
  const TextConfig& dc = model_->config().text;
  torch::Tensor slot = torch::arange(T, torch::kInt64);
  torch::Tensor before = slot.view({1, T}) < slot.view({T, 1});  // [anchor i, key s]: s < i
  torch::Tensor in_window = slot.view({1, T}) >= slot.view({T, 1}) - dc.sliding_window;
  torch::Tensor key_valid = pass.valid.to(torch::kBool).unsqueeze(1);  // [B, 1, S]
  SharedKV kv[2];
  for (int i = 0; i < 2; ++i) {
    if (source_layer_[i] < 0) continue;
    G4U_CHECK(pass.cache->layer_first_slot(source_layer_[i]) == 0, "target pass cache dropped sliding slots");
    std::tie(kv[i].keys, kv[i].values) = pass.cache->layer_kv(source_layer_[i]);
    torch::Tensor allowed = i == 0 ? before.logical_and(in_window) : before;
    kv[i].allowed = allowed.unsqueeze(0).logical_and(key_valid);  // [B, T, S]
  }
  torch::Tensor positions = slot.view({1, T}).expand({B, T});
  const int64_t H = pass.hidden.size(2);
  // Context of anchor i: the target hidden of slot i - 1 (zeros for i = 0, masked by the caller).
  torch::Tensor c = torch::cat({torch::zeros({B, 1, H}, pass.hidden.options()), pass.hidden.narrow(1, 0, T - 1)}, 1);
  std::vector<torch::Tensor> out;
  for (int64_t j = 0; j < steps; ++j) {
    // Step j feeds the token of slot i + j (teacher forcing).
    torch::Tensor ids = pass.ids;
    if (j > 0)
      ids = torch::cat({pass.ids.narrow(1, std::min(j, T), T - std::min(j, T)),
                        torch::full({B, std::min(j, T)}, target_->config().text.pad_token_id, torch::kInt64)},
                       1);
    torch::Tensor e;
    {
      torch::NoGradGuard ng;
      e = target_->text().embed(ids);
    }
    AssistantModel::StepOutput s = model_->step(e, c, positions, kv);
    out.push_back(s.logits);
    c = s.context;
  }
  return out;
}

}  // namespace g4u::model
