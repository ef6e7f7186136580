#include "model/mtp/mtp_heads.h"

#include "base/error.h"
#include "base/json_util.h"
#include "model/io/config_fields.h"
#include "model/io/preset_table.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace g4u::model {
namespace {

using json = nlohmann::json;

void reject_unknown(const JsonObject& o) {
  for (const auto& k : o.unread_keys()) throw_input("{}: unknown field", o.field(k));
}

void positive(const std::string& where, const char* name, int64_t v) {
  if (v <= 0) throw_input("{}: {} must be positive, got {}", where, name, v);
}

// g4u's drafters for the tiny and small models (as wide as their target, with its vocabulary).
MtpConfig mtp(int64_t hidden_size, int64_t vocab_size, int64_t intermediate_size, AttentionGeometry attention) {
  MtpConfig c;
  c.hidden_size = hidden_size;
  c.vocab_size = vocab_size;
  c.intermediate_size = intermediate_size;
  c.attention = attention;
  return c;
}

MedusaConfig medusa(int64_t hidden_size, int64_t vocab_size) {
  MedusaConfig c;
  c.hidden_size = hidden_size;
  c.vocab_size = vocab_size;
  c.num_heads = 4;
  c.num_layers = 1;
  return c;
}

const PresetTable<MtpConfig>& mtp_presets() {
  static const PresetTable<MtpConfig> table = {{"tiny-mtp", [] { return mtp(64, 320, 128, {4, 2, 16}); }},
                                               {"small-mtp", [] { return mtp(256, 512, 512, {4, 2, 64}); }}};
  return table;
}

const PresetTable<MedusaConfig>& medusa_presets() {
  static const PresetTable<MedusaConfig> table = {{"tiny-medusa", [] { return medusa(64, 320); }},
                                                  {"small-medusa", [] { return medusa(256, 512); }}};
  return table;
}

// config.json of g4u's drafters: architectures and model_type (required) around the drafter's own
// fields, dtype bfloat16 last. Unknown keys are errors (g4u writes these files itself).
template <typename C>
std::vector<ConfigField<C>> drafter_fields(const char* architecture, const char* model_type,
                                           std::vector<ConfigField<C>> own) {
  std::vector<ConfigField<C>> fields = {constant_field<C>("architectures", json::array({architecture})),
                                        model_type_field<C>(model_type, /*required=*/true)};
  fields.insert(fields.end(), own.begin(), own.end());
  fields.push_back(constant_field<C>("dtype", "bfloat16"));
  return fields;
}

const std::vector<ConfigField<MtpConfig>>& mtp_fields() {
  using C = MtpConfig;
  static const std::vector<ConfigField<C>> fields = drafter_fields<C>(
      "G4uMtpModule", "g4u_mtp",
      {value_field("hidden_size", &C::hidden_size, std::nullopt),
       value_field("vocab_size", &C::vocab_size, std::nullopt),
       value_field("intermediate_size", &C::intermediate_size, std::nullopt),
       value_field("num_attention_heads", &C::attention, &AttentionGeometry::num_heads, std::nullopt),
       value_field("num_key_value_heads", &C::attention, &AttentionGeometry::num_kv_heads, std::nullopt),
       value_field("head_dim", &C::attention, &AttentionGeometry::head_dim, std::nullopt),
       value_field("rope_theta", &C::rope, &RopeParams::theta, 10000.0),  // rope_type: always default
       value_field("rms_norm_eps", &C::rms_norm_eps, 1e-6)});
  return fields;
}

const std::vector<ConfigField<MedusaConfig>>& medusa_fields() {
  using C = MedusaConfig;
  static const std::vector<ConfigField<C>> fields = drafter_fields<C>(
      "G4uMedusaHeads", "g4u_medusa",
      {value_field("hidden_size", &C::hidden_size, std::nullopt),
       value_field("vocab_size", &C::vocab_size, std::nullopt),
       value_field("medusa_num_heads", &C::num_heads, std::nullopt),
       value_field("medusa_num_layers", &C::num_layers, 1)});
  return fields;
}

template <typename S>
S drafter_config_from_json(const json& j, const std::string& where, const std::vector<ConfigField<S>>& fields) {
  JsonObject o(j, where);
  S c;
  std::vector<std::string> warnings;
  ConfigParse p{warnings};
  read_config_fields(o, c, fields, p);
  reject_unknown(o);
  c.name = where;
  validate(c, where);
  return c;
}

// Contexts of anchors/slots: row s holds x[s - 1], row 0 zeros.
torch::Tensor shift_right(const torch::Tensor& x) {
  const int64_t T = x.size(1);
  return torch::cat({torch::zeros_like(x.narrow(1, 0, 1)), x.narrow(1, 0, T - 1)}, 1);
}

}  // namespace

// ---- configs ------------------------------------------------------------------------------------

TextConfig MtpConfig::block() const {
  TextConfig t;
  t.vocab_size = vocab_size;
  t.hidden_size = hidden_size;
  t.intermediate_size = intermediate_size;
  t.num_layers = 1;
  t.sliding = attention;
  t.full = attention;
  t.k_eq_v = false;
  t.sliding_window = 1 << 30;  // unused: the block has one full-attention layer
  t.layer_types = {LayerType::kFull};
  t.rope_sliding = rope;
  t.rope_full = rope;
  t.rms_norm_eps = rms_norm_eps;
  t.final_logit_softcapping = 0;
  t.eos_token_ids = {0};
  t.pad_token_id = 0;
  t.bos_token_id = 0;
  return t;
}

void validate(const MtpConfig& c, const std::string& where) {
  positive(where, "hidden_size", c.hidden_size);
  positive(where, "vocab_size", c.vocab_size);
  validate(c.block(), where);
}

void validate(const MedusaConfig& c, const std::string& where) {
  positive(where, "hidden_size", c.hidden_size);
  positive(where, "vocab_size", c.vocab_size);
  positive(where, "medusa_num_heads", c.num_heads);
  positive(where, "medusa_num_layers", c.num_layers);
}

MtpConfig mtp_config_from_json(const json& j, const std::string& where) {
  return drafter_config_from_json(j, where, mtp_fields());
}

MedusaConfig medusa_config_from_json(const json& j, const std::string& where) {
  return drafter_config_from_json(j, where, medusa_fields());
}

json mtp_config_to_json(const MtpConfig& c) { return write_config_fields(c, mtp_fields()); }
json medusa_config_to_json(const MedusaConfig& c) { return write_config_fields(c, medusa_fields()); }

std::vector<std::string> mtp_preset_names() { return mtp_presets().names(); }
std::vector<std::string> medusa_preset_names() { return medusa_presets().names(); }
std::optional<MtpConfig> mtp_preset(const std::string& name) { return mtp_presets().get(name); }
std::optional<MedusaConfig> medusa_preset(const std::string& name) { return medusa_presets().get(name); }

std::vector<TensorSpec> mtp_tensor_specs(const MtpConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const auto& g = c.attention;
  std::vector<TensorSpec> out;
  auto add = [&](const std::string& n, std::vector<int64_t> s, TensorKind k) {
    out.push_back({"mtp." + n, std::move(s), "drafter", k});
  };
  add("enorm.weight", {H}, TensorKind::kNorm);
  add("hnorm.weight", {H}, TensorKind::kNorm);
  add("eh_proj.weight", {H, 2 * H}, TensorKind::kLinear);
  add("block.input_layernorm.weight", {H}, TensorKind::kNorm);
  add("block.self_attn.q_proj.weight", {g.num_heads * g.head_dim, H}, TensorKind::kLinear);
  add("block.self_attn.k_proj.weight", {g.num_kv_heads * g.head_dim, H}, TensorKind::kLinear);
  add("block.self_attn.v_proj.weight", {g.num_kv_heads * g.head_dim, H}, TensorKind::kLinear);
  add("block.self_attn.o_proj.weight", {H, g.num_heads * g.head_dim}, TensorKind::kLinear);
  add("block.self_attn.q_norm.weight", {g.head_dim}, TensorKind::kNorm);
  add("block.self_attn.k_norm.weight", {g.head_dim}, TensorKind::kNorm);
  add("block.post_attention_layernorm.weight", {H}, TensorKind::kNorm);
  add("block.pre_feedforward_layernorm.weight", {H}, TensorKind::kNorm);
  add("block.post_feedforward_layernorm.weight", {H}, TensorKind::kNorm);
  add("block.mlp.gate_proj.weight", {I, H}, TensorKind::kLinear);
  add("block.mlp.up_proj.weight", {I, H}, TensorKind::kLinear);
  add("block.mlp.down_proj.weight", {H, I}, TensorKind::kLinear);
  add("block.layer_scalar", {1}, TensorKind::kScalar);
  add("norm.weight", {H}, TensorKind::kNorm);
  return out;
}

std::vector<TensorSpec> medusa_tensor_specs(const MedusaConfig& c) {
  const int64_t H = c.hidden_size;
  std::vector<TensorSpec> out;
  for (int64_t i = 0; i < c.num_heads; ++i) {
    std::string p = "medusa_head." + std::to_string(i) + ".";
    for (int64_t l = 0; l < c.num_layers; ++l) {
      out.push_back({p + std::to_string(l) + ".linear.weight", {H, H}, "drafter", TensorKind::kLinear});
      out.push_back({p + std::to_string(l) + ".linear.bias", {H}, "drafter", TensorKind::kBias});
    }
    out.push_back({p + std::to_string(c.num_layers) + ".weight", {c.vocab_size, H}, "drafter", TensorKind::kEmbedding});
  }
  return out;
}

void check_head_fits(int64_t hidden, int64_t vocab, const TextConfig& target, const std::string& where) {
  if (hidden != target.hidden_size)
    throw_input("{}: hidden_size {} does not match the target's hidden_size {}", where, hidden, target.hidden_size);
  if (vocab != target.vocab_size)
    throw_input("{}: vocab_size {} does not match the target's vocab_size {}", where, vocab, target.vocab_size);
}

// ---- MTP ----------------------------------------------------------------------------------------

MtpBody::MtpBody(const MtpConfig& c) {
  const int64_t H = c.hidden_size;
  enorm = register_module("enorm", std::make_shared<RMSNorm>(H, c.rms_norm_eps));
  hnorm = register_module("hnorm", std::make_shared<RMSNorm>(H, c.rms_norm_eps));
  eh_proj = register_module("eh_proj", std::make_shared<DenseLinear>(2 * H, H));
  block = register_module("block", std::make_shared<DecoderLayer>(c.block(), 0));
  norm = register_module("norm", std::make_shared<RMSNorm>(H, c.rms_norm_eps));
}

MtpModel::MtpModel(const MtpConfig& c) : config_(c), block_(c.block()) {
  body = register_module("mtp", std::make_shared<MtpBody>(c));
  inv_freq_ = rope_inv_freq(block_.rope_full, block_.full.head_dim);
}

torch::Tensor MtpModel::forward(const torch::Tensor& e, const torch::Tensor& h_prev, const torch::Tensor& valid_mask,
                                KVCache* cache) {
  torch::ScalarType dtype = body->eh_proj->weight.scalar_type();
  const torch::Tensor valid = valid_mask.to(e.device());
  torch::Tensor x = body->eh_proj->forward(
      torch::cat({body->enorm->forward(e.to(dtype)), body->hnorm->forward(h_prev.to(dtype))}, -1));
  const int64_t T = x.size(1);
  AttentionContext ctx;
  torch::Tensor positions;
  if (cache) {
    positions = cache->begin_step(valid);
    const int64_t L = cache->length();
    ctx.allowed =
        attention_allowed(LayerType::kFull, L, T, 0, block_.sliding_window, cache->valid_slots(0, L + T)).unsqueeze(1);
  } else {
    positions = positions_from_mask(valid);
    ctx.allowed = attention_allowed(LayerType::kFull, 0, T, 0, block_.sliding_window, valid.to(torch::kBool)).unsqueeze(1);
  }
  std::tie(ctx.cos, ctx.sin) = rope_cos_sin(inv_freq_.to(positions.device()), positions, dtype);
  torch::Tensor g = body->block->forward(x, ctx, cache);
  if (cache) cache->end_step();
  return g;
}

MtpDrafter::MtpDrafter(std::shared_ptr<MtpModel> model, Gemma4Model& target, std::string name)
    : model_(std::move(model)), target_(&target), name_(std::move(name)) {
  check_head_fits(model_->config().hidden_size, model_->config().vocab_size, target.config().text, name_);
}

std::vector<LinearSlot> MtpDrafter::linear_slots() {
  auto& attn = *model_->body->block->self_attn;
  auto& mlp = *model_->body->block->mlp;
  const std::string p = "mtp.block.";
  std::vector<LinearSlot> out = {{p + "self_attn.q_proj.weight", &attn, "q_proj", &attn.q_proj},
                                 {p + "self_attn.k_proj.weight", &attn, "k_proj", &attn.k_proj}};
  if (attn.v_proj) out.push_back({p + "self_attn.v_proj.weight", &attn, "v_proj", &attn.v_proj});
  out.push_back({p + "self_attn.o_proj.weight", &attn, "o_proj", &attn.o_proj});
  out.push_back({p + "mlp.gate_proj.weight", &mlp, "gate_proj", &mlp.gate_proj});
  out.push_back({p + "mlp.up_proj.weight", &mlp, "up_proj", &mlp.up_proj});
  out.push_back({p + "mlp.down_proj.weight", &mlp, "down_proj", &mlp.down_proj});
  return out;
}

json MtpDrafter::config_json() const { return mtp_config_to_json(model_->config()); }

void MtpDrafter::reset() {
  cache_.reset();
  valid_ = 0;
}

torch::Tensor MtpDrafter::head(const torch::Tensor& g) {
  torch::Tensor z = model_->body->norm->forward(g);
  return target_->text().logits(z.to(target_->dtype())).to(torch::kFloat32);
}

Draft MtpDrafter::draft(const TargetState& s, const DraftRequest& r) {
  const int64_t p = s.position;
  G4U_CHECK(r.k >= 1 && r.sampler, "draft request k={}", r.k);
  G4U_CHECK(p >= 1 && s.hidden.size(0) == p && static_cast<int64_t>(s.tokens->size()) == p + 1,
            "target state: position {}, hidden {}, tokens {}", p, s.hidden.size(0), s.tokens->size());
  torch::ScalarType dtype = model_->body->eh_proj->weight.scalar_type();
  if (!cache_ || valid_ > p) {
    cache_ = std::make_unique<KVCache>(model_->config().block(), 1, dtype);
    valid_ = 0;
  }
  cache_->crop(valid_);  // drop the previous round's drafted slots
  // Catch up: slots valid_..p with the true inputs (t_s, target h_{s-1}); slot p's output drafts d_1.
  const int64_t n = p - valid_ + 1, H = s.hidden.size(1);
  std::vector<int64_t> ids(s.tokens->begin() + valid_, s.tokens->begin() + p + 1);
  torch::Tensor prev = valid_ == 0 ? torch::cat({torch::zeros({1, H}, s.hidden.options()), s.hidden.narrow(0, 0, p)})
                                   : s.hidden.narrow(0, valid_ - 1, n);
  torch::Tensor e = target_->text().embed(torch::tensor(ids, torch::kInt64).view({1, n}));
  torch::Tensor g = model_->forward(e, prev.view({1, n, H}), torch::ones({1, n}, torch::kBool), cache_.get());
  valid_ = p + 1;
  g = g.narrow(1, n - 1, 1);
  Draft d;
  for (int64_t j = 0; j < r.k; ++j) {
    if (j > 0) {
      torch::Tensor ej = target_->text().embed(torch::full({1, 1}, d.tokens.back(), torch::kInt64));
      g = model_->forward(ej, g, torch::ones({1, 1}, torch::kBool), cache_.get());
    }
    int64_t tok = choose_draft_token(head(g)[0][0], *r.sampler, d.q);
    d.tokens.push_back(tok);
    if (r.stop_ids && std::find(r.stop_ids->begin(), r.stop_ids->end(), tok) != r.stop_ids->end()) break;
  }
  return d;
}

std::vector<torch::Tensor> MtpDrafter::unrolled_logits(const TargetPass& pass, int64_t steps) {
  // Stream form (how DeepSeek trains its sequential modules): stream j runs the block over every
  // slot s with input (t_s, g^{j-1}_{s-1}), g^{-1} = the target hidden; stream j's slot s = anchor
  // i + j. (At inference step j > 0 attends to accepted step-0 entries instead; an approximation.)
  const int64_t B = pass.ids.size(0), T = pass.ids.size(1);
  torch::Tensor e;
  {
    torch::NoGradGuard ng;
    e = target_->text().embed(pass.ids);
  }
  torch::Tensor prev = shift_right(pass.hidden);
  std::vector<torch::Tensor> out;
  for (int64_t j = 0; j < steps; ++j) {
    torch::Tensor g = model_->forward(e, prev, pass.valid, nullptr);
    torch::Tensor logits = head(g);  // [B, T, V]
    const int64_t V = logits.size(2), m = std::min(j, T);
    out.push_back(torch::cat({logits.narrow(1, m, T - m), torch::zeros({B, m, V}, logits.options())}, 1));
    prev = shift_right(g);
  }
  return out;
}

// ---- Medusa -------------------------------------------------------------------------------------

MedusaResBlock::MedusaResBlock(int64_t hidden) {
  linear = register_module("linear", torch::nn::Linear(torch::nn::LinearOptions(hidden, hidden).bias(true)));
}

torch::Tensor MedusaResBlock::forward(const torch::Tensor& x) { return x + torch::silu(linear->forward(x)); }

MedusaHead::MedusaHead(int64_t hidden, int64_t vocab, int64_t layers) {
  for (int64_t l = 0; l < layers; ++l)
    blocks.push_back(register_module(std::to_string(l), std::make_shared<MedusaResBlock>(hidden)));
  out = register_module(std::to_string(layers), std::make_shared<Embedding>(vocab, hidden));
}

torch::Tensor MedusaHead::forward(const torch::Tensor& h) {
  torch::Tensor x = h.to(out->weight.scalar_type());
  for (auto& b : blocks) x = b->forward(x);
  return torch::linear(x, out->weight).to(torch::kFloat32);
}

MedusaModel::MedusaModel(const MedusaConfig& c) : config_(c) {
  auto list = register_module("medusa_head", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_heads; ++i) {
    heads.push_back(std::make_shared<MedusaHead>(c.hidden_size, c.vocab_size, c.num_layers));
    list->push_back(heads.back());
  }
}

MedusaDrafter::MedusaDrafter(std::shared_ptr<MedusaModel> model, Gemma4Model& target, std::string name)
    : model_(std::move(model)), name_(std::move(name)) {
  check_head_fits(model_->config().hidden_size, model_->config().vocab_size, target.config().text, name_);
}

json MedusaDrafter::config_json() const { return medusa_config_to_json(model_->config()); }

Draft MedusaDrafter::draft(const TargetState& s, const DraftRequest& r) {
  const int64_t p = s.position;
  G4U_CHECK(r.k >= 1 && r.sampler && p >= 1 && s.hidden.size(0) == p, "draft request k={} at {}", r.k, p);
  torch::Tensor h = s.hidden[p - 1];
  Draft d;
  const int64_t k = std::min<int64_t>(r.k, model_->config().num_heads);
  for (int64_t j = 0; j < k; ++j) {
    int64_t tok = choose_draft_token(model_->heads[j]->forward(h), *r.sampler, d.q);
    d.tokens.push_back(tok);
    if (r.stop_ids && std::find(r.stop_ids->begin(), r.stop_ids->end(), tok) != r.stop_ids->end()) break;
  }
  return d;
}

std::vector<torch::Tensor> MedusaDrafter::unrolled_logits(const TargetPass& pass, int64_t steps) {
  torch::Tensor prev = shift_right(pass.hidden);  // anchor i reads h_{i-1}
  std::vector<torch::Tensor> out;
  for (int64_t j = 0; j < std::min<int64_t>(steps, model_->config().num_heads); ++j)
    out.push_back(model_->heads[j]->forward(prev));
  return out;
}

void MedusaDrafter::init_for_training(Gemma4Model& target) {
  // Medusa-1: residual blocks start as the identity (W1 = 0), W2 = the base model's LM head.
  torch::NoGradGuard ng;
  torch::Tensor E;  // the table once in the heads' dtype (a packed table is dequantized here only)
  for (auto& h : model_->heads) {
    for (auto& b : h->blocks)
      for (auto& p : b->parameters()) p.zero_();
    if (!E.defined()) E = target.text().embed_tokens->table(h->out->weight.scalar_type());
    h->out->weight.copy_(E);
  }
}

}  // namespace g4u::model
