#include "quant/io/gguf_import.h"

#include "base/error.h"
#include "base/mapped_copy.h"
#include "model/io/memory_plan.h"
#include "model/io/tensor_specs.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/interleave.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf.h"
#include "quant/io/gguf_tokenizer.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/tied_head.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace g4u::quant {
namespace gguf_import_detail {

constexpr const char* kRopeFreqs = "rope_freqs.weight";
constexpr double kUnrotatedFactor = 1e20;  // a frequency factor this large leaves a pair unrotated

// `key` under the architecture prefix.
std::string arch_key(const std::string& key) { return "gemma4." + key; }

int64_t require_int(const GgufFile& f, const std::string& key, const std::string& why) {
  auto v = f.get_int(key);
  if (!v) throw_input("{}: {}: missing ({})", f.path(), key, why);
  return *v;
}

double require_float(const GgufFile& f, const std::string& key, const std::string& why) {
  auto v = f.get_float(key);
  if (!v) throw_input("{}: {}: missing ({})", f.path(), key, why);
  return *v;
}

// One value per layer, all equal within each layer type (g4u builds one geometry per type).
int64_t uniform_per_type(const GgufFile& f, const std::string& key, const std::vector<int64_t>& per_layer,
                const std::vector<model::LayerType>& types, model::LayerType t) {
  std::optional<int64_t> v;
  for (size_t i = 0; i < per_layer.size(); ++i) {
    if (types[i] != t) continue;
    if (v && *v != per_layer[i])
      throw_input("{}: {}: layer {} has {}, earlier {} layers {}; g4u implements one geometry per layer type", f.path(),
                  key, i, per_layer[i], model::layer_type_name(t), *v);
    v = per_layer[i];
  }
  return v.value_or(0);
}

// Float values of a 1-D F32/F16/BF16 tensor.
std::vector<float> gguf_float_values(const GgufFile& f, const GgufTensor& t) {
  const int64_t n = static_cast<int64_t>(t.nbytes / ggml_type_size(t.type)->bytes);
  torch::ScalarType st = t.type == ggml_type::kF32 ? torch::kFloat32 : t.type == ggml_type::kF16 ? torch::kFloat16 : torch::kBFloat16;
  if (t.type != ggml_type::kF32 && t.type != ggml_type::kF16 && t.type != ggml_type::kBF16)
    throw_input("{}: tensor {}: expected F32, F16 or BF16, found {}", f.path(), t.name, ggml_type_size(t.type)->name);
  torch::Tensor v = torch::from_blob(const_cast<uint8_t*>(f.data(t)), {n}, st).to(torch::kFloat32).contiguous();
  return std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + n);
}

// The g4u scheme stored as ggml type `type`, or nullptr for the float types.
const SchemeTraits* scheme_of_ggml_type(uint32_t type) {
  for (const SchemeTraits* s : all_schemes())
    if (s->has_ggml_type() && s->ggml.type == type) return s;
  return nullptr;
}

torch::ScalarType float_scalar_type(uint32_t type) {
  switch (type) {
    case ggml_type::kF32: return torch::kFloat32;
    case ggml_type::kF16: return torch::kFloat16;
    default: return torch::kBFloat16;
  }
}

}  // namespace gguf_import_detail

model::ModelConfig gguf_model_config(const GgufFile& f) {
  using namespace gguf_import_detail;
  const std::string& path = f.path();
  const auto arch = f.get_string("general.architecture");
  if (!arch) throw_input("{}: general.architecture: missing", path);
  if (*arch != "gemma4")
    throw_input("{}: general.architecture: '{}' is not supported (g4u loads gemma4 text decoders{})", path, *arch,
                *arch == kGgufDrafterArchitecture ? "; the assistant drafter GGUF is not a --model" : "");

  model::ModelConfig c;
  c.name = path;
  c.vision.reset();
  c.audio.reset();
  model::TextConfig& t = c.text;

  t.num_layers = require_int(f, arch_key("block_count"), "the number of decoder layers");
  if (t.num_layers <= 0 || t.num_layers > 4096) throw_input("{}: {}: {} layers", path, arch_key("block_count"), t.num_layers);
  const int64_t L = t.num_layers;
  t.hidden_size = require_int(f, arch_key("embedding_length"), "the hidden size");
  t.max_position_embeddings = require_int(f, arch_key("context_length"), "the trained context length");
  {
    auto ff = f.get_int_per_layer(arch_key("feed_forward_length"), L);
    if (!ff) throw_input("{}: {}: missing (the MLP width)", path, arch_key("feed_forward_length"));
    for (int64_t i = 1; i < L; ++i)
      if ((*ff)[i] != (*ff)[0])
        throw_input("{}: {}: layer {} has {}, layer 0 {}; g4u implements one MLP width", path, arch_key("feed_forward_length"), i,
                    (*ff)[i], (*ff)[0]);
    t.intermediate_size = (*ff)[0];
  }
  for (const char* key : {"embedding_length_per_layer_input", "attention.shared_kv_layers", "expert_count"})
    if (auto v = f.get_int(arch_key(key)); v && *v != 0)
      throw_input("{}: {}: {} (g4u's Gemma 4 has {}: 0)", path, arch_key(key), *v,
                  std::string(key) == "expert_count" ? "no experts"
                  : std::string(key) == "attention.shared_kv_layers" ? "no KV sharing in the target"
                                                                      : "no per-layer embeddings");
  if (auto rs = f.get_string(arch_key("rope.scaling.type")); rs && *rs != "none")
    throw_input("{}: {}: '{}' RoPE scaling is not implemented", path, arch_key("rope.scaling.type"), *rs);

  // Layer types.
  auto swa = f.get_int_per_layer(arch_key("attention.sliding_window_pattern"), L);
  if (!swa) throw_input("{}: {}: missing (which layers use sliding-window attention)", path, arch_key("attention.sliding_window_pattern"));
  t.layer_types.clear();
  for (int64_t v : *swa) {
    if (v != 0 && v != 1) throw_input("{}: {}: value {} (expected true/false)", path, arch_key("attention.sliding_window_pattern"), v);
    t.layer_types.push_back(v ? model::LayerType::kSliding : model::LayerType::kFull);
  }
  const bool has_full = t.count_layers(model::LayerType::kFull) > 0;
  const bool has_sliding = t.count_layers(model::LayerType::kSliding) > 0;

  // Attention geometry.
  auto heads = f.get_int_per_layer(arch_key("attention.head_count"), L);
  if (!heads) throw_input("{}: {}: missing", path, arch_key("attention.head_count"));
  auto kv_heads = f.get_int_per_layer(arch_key("attention.head_count_kv"), L);
  if (!kv_heads) kv_heads = heads;
  for (model::LayerType lt : {model::LayerType::kSliding, model::LayerType::kFull}) {
    if (!t.count_layers(lt)) continue;
    const bool full = lt == model::LayerType::kFull;
    const std::string suffix = full ? "" : "_swa";
    model::AttentionGeometry& g = full ? t.full : t.sliding;
    g.num_heads = uniform_per_type(f, arch_key("attention.head_count"), *heads, t.layer_types, lt);
    g.num_kv_heads = uniform_per_type(f, arch_key("attention.head_count_kv"), *kv_heads, t.layer_types, lt);
    g.head_dim = require_int(f, arch_key("attention.key_length" + suffix), full ? "the head size of full-attention layers"
                                                                          : "the head size of sliding-attention layers");
    if (auto vl = f.get_int(arch_key("attention.value_length" + suffix)); vl && *vl != g.head_dim)
      throw_input("{}: {}: {} differs from {} {} (Gemma 4 has equal key and value sizes)", path,
                  arch_key("attention.value_length" + suffix), *vl, arch_key("attention.key_length" + suffix), g.head_dim);
    if (auto nrot = f.get_int(arch_key("rope.dimension_count" + suffix)); nrot && *nrot != g.head_dim)
      throw_input("{}: {}: {} of {} dimensions rotate; g4u implements partial rotation only through "
                  "rope_freqs.weight on full layers (expected {})",
                  path, arch_key("rope.dimension_count" + suffix), *nrot, g.head_dim, g.head_dim);
  }
  if (!has_full) t.full = t.sliding;
  if (!has_sliding) t.sliding = t.full;
  t.rms_norm_eps = require_float(f, arch_key("attention.layer_norm_rms_epsilon"), "the RMSNorm epsilon");
  if (has_sliding) {
    t.sliding_window = require_int(f, arch_key("attention.sliding_window"), "the sliding window");
  } else {
    t.sliding_window = f.get_int(arch_key("attention.sliding_window")).value_or(t.max_position_embeddings);
  }

  // RoPE: sliding layers plain, full layers proportional (rope_freqs.weight).
  t.rope_sliding = {"default", f.get_float(arch_key("rope.freq_base_swa")).value_or(10000.0), 1.0};
  t.rope_full = {"default", 10000.0, 1.0};
  if (has_full) {
    const double theta = require_float(f, arch_key("rope.freq_base"), "the RoPE base of full-attention layers");
    const GgufTensor* rf = f.tensor(kRopeFreqs);
    if (!rf) throw_input("{}: tensor {}: missing (the RoPE frequency factors of full-attention layers)", path, kRopeFreqs);
    const int64_t pairs = t.full.head_dim / 2;
    if (rf->ne.size() != 1 || static_cast<int64_t>(rf->ne[0]) != pairs)
      throw_input("{}: tensor {}: shape [{}], expected [{}] (key_length / 2)", path, kRopeFreqs, fmt::join(rf->shape(), ", "),
                  pairs);
    const std::vector<float> fac = gguf_float_values(f, *rf);
    int64_t rotated = 0;
    while (rotated < pairs && fac[rotated] == 1.0f) ++rotated;
    for (int64_t i = rotated; i < pairs; ++i)
      if (!(fac[i] >= kUnrotatedFactor))
        throw_input("{}: tensor {}: factor {} at pair {}: g4u implements proportional RoPE (factors 1 for the rotated "
                    "pairs, then >= {:g} for the unrotated ones)",
                    path, kRopeFreqs, fac[i], i, kUnrotatedFactor);
    if (rotated == 0) throw_input("{}: tensor {}: no rotated pair (factor 1 first)", path, kRopeFreqs);
    double partial = static_cast<double>(2 * rotated) / static_cast<double>(t.full.head_dim);
    while (static_cast<int64_t>(partial * t.full.head_dim / 2) < rotated) partial = std::nextafter(partial, 2.0);
    t.rope_full = {"proportional", theta, partial};
  }
  t.final_logit_softcapping = f.get_float(arch_key("final_logit_softcapping")).value_or(30.0);

  // Vocabulary and token ids.
  const GgufTensor* emb = f.tensor("token_embd.weight");
  if (!emb) throw_input("{}: tensor token_embd.weight: missing", path);
  if (emb->ne.size() != 2 || static_cast<int64_t>(emb->ne[0]) != t.hidden_size)
    throw_input("{}: tensor token_embd.weight: shape [{}], expected [vocab, {}]", path, fmt::join(emb->shape(), ", "),
                t.hidden_size);
  t.vocab_size = static_cast<int64_t>(emb->ne[1]);
  t.bos_token_id = f.get_int("tokenizer.ggml.bos_token_id").value_or(t.bos_token_id);
  t.pad_token_id = f.get_int("tokenizer.ggml.padding_token_id").value_or(t.pad_token_id);
  if (auto eos = f.get_int("tokenizer.ggml.eos_token_id")) t.eos_token_ids = {*eos};
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (auto id = f.get_int(key); id && std::find(t.eos_token_ids.begin(), t.eos_token_ids.end(), *id) == t.eos_token_ids.end())
      t.eos_token_ids.push_back(*id);
  if (auto s = f.get_int_array("tokenizer.ggml.suppress_tokens")) c.suppress_tokens = *s;
  else c.suppress_tokens.clear();
  // K = V on full layers: they have no attn_v.
  std::optional<bool> full_v;
  for (int64_t i = 0; i < L; ++i) {
    const bool has_v = f.tensor("blk." + std::to_string(i) + ".attn_v.weight") != nullptr;
    if (t.layer_types[i] == model::LayerType::kSliding) continue;
    if (full_v && *full_v != has_v)
      throw_input("{}: tensor blk.{}.attn_v.weight: {}, unlike earlier full-attention layers", path, i,
                  has_v ? "present" : "absent");
    full_v = has_v;
  }
  t.k_eq_v = !full_v.value_or(false);
  c.tokenizer = "sentencepiece";
  model::validate(c, path);
  return c;
}

namespace {
// `view` (over tensor `t` of `f`) copied in `dtype` a slice at a time, each slice's pages released.
torch::Tensor owned_copy(const GgufFile& f, const GgufTensor& t, const torch::Tensor& view, torch::ScalarType dtype) {
  const uint8_t* p = f.data(t);
  return model::copy_releasing(view, dtype, [&](uint64_t begin, uint64_t end) { f.release(p + begin, end - begin); });
}
}  // namespace

model::LoadedModel load_gguf_model(const std::string& path, const model::LoadOptions& opt) {
  using namespace gguf_import_detail;
  std::shared_ptr<GgufFile> file = GgufFile::open(path);
  const GgufFile& f = *file;
  model::ModelConfig cfg = gguf_model_config(f);

  model::LoadedModel out;
  out.source = path;
  if (opt.tokenizer) {
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"})
      if (!f.find(key)) throw_input("{}: {}: missing (needed with a tokenizer)", path, key);
    GgufTokenizer tok = gguf_tokenizer(f, cfg.text.vocab_size);
    cfg.tokenizer = tok.kind;
    // The multimodal markers where this vocabulary has them (no embedders here, but the prompt
    // code and checks read them).
    const std::pair<const char*, int64_t*> markers[] = {
        {"<|image>", &cfg.tokens.boi}, {"<image|>", &cfg.tokens.eoi}, {"<|image|>", &cfg.tokens.image},
        {"<|audio>", &cfg.tokens.boa}, {"<audio|>", &cfg.tokens.eoa}, {"<|audio|>", &cfg.tokens.audio},
        {"<|video|>", &cfg.tokens.video},
    };
    for (const auto& [spelling, id] : markers)
      if (auto v = tok.tokenizer->token_id(spelling)) *id = *v;
    out.tokenizer = std::move(tok.tokenizer);
  }

  // Every tensor of the file must be one the model takes (checked before anything is copied).
  const std::vector<model::TensorSpec> specs = model::model_tensor_specs(cfg);
  std::map<std::string, const model::TensorSpec*> spec_of_gguf;
  for (const auto& s : specs) {
    auto g = gguf_tensor_name(s.name);
    G4U_CHECK(g.has_value(), "no GGUF name for text tensor {}", s.name);
    spec_of_gguf[*g] = &s;
  }
  for (const auto& t : f.tensors()) {
    const std::string name(t.name);
    if (name == kRopeFreqs && cfg.text.count_layers(model::LayerType::kFull) > 0) continue;
    auto it = spec_of_gguf.find(name);
    if (it == spec_of_gguf.end())
      throw_input("{}: tensor {}: not part of g4u's gemma4 text decoder (this config has no such tensor)", path, name);
    if (t.shape() != it->second->shape)
      throw_input("{}: tensor {}: shape [{}] (ggml ne [{}]), the config needs [{}]", path, name, fmt::join(t.shape(), ", "),
                  fmt::join(t.ne, ", "), fmt::join(it->second->shape, ", "));
  }

  // What the model will hold, checked before any of it is allocated: ggml-quantized tensors as
  // stored, the others in the run dtype.
  double packed = 0, dense = 0;
  for (const auto& s : specs) {
    const GgufTensor* t = f.tensor(*gguf_tensor_name(s.name));
    if (t && scheme_of_ggml_type(t->type)) packed += static_cast<double>(t->nbytes);
    else dense += static_cast<double>(s.numel()) * static_cast<double>(c10::elementSize(opt.dtype));
  }
  model::check_memory_plan({{{"packed weights", packed}, {"float weights", dense}}}, "--model " + path);

  out.model = model::model_with_placeholders(cfg);  // weights come one tensor at a time
  model::Gemma4Model& m = *out.model;
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters(true);
  const std::string table_name = model::kTextEmbeddingName;
  bool bf16_table = false;
  const GgufTensor* table_tensor = nullptr;

  for (const auto& s : specs) {
    const std::string gname = *gguf_tensor_name(s.name);
    const GgufTensor* t = f.tensor(gname);
    auto pit = params.find(s.name);
    G4U_CHECK(pit != nullptr, "model has no parameter {}", s.name);
    if (!t) {
      if (s.kind == model::TensorKind::kScalar) {  // llama.cpp: no layer_output_scale, no scaling
        pit->fill_(1.0);
        continue;
      }
      throw_input("{}: tensor {}: missing ({})", path, gname, s.name);
    }
    const std::string where = fmt::format("{}: tensor {}", path, gname);
    if (const SchemeTraits* scheme = scheme_of_ggml_type(t->type)) {
      if (s.kind != model::TensorKind::kLinear && s.kind != model::TensorKind::kEmbedding)
        throw_input("{}: a {}-D {} tensor cannot be quantized ({})", where, s.shape.size(),
                    s.kind == model::TensorKind::kNorm ? "norm" : "scalar", scheme->ggml.type_name);
      QuantizedTensor q;
      q.scheme = scheme;
      q.rows = s.shape[0];
      q.cols = s.shape[1];
      check_shape(*scheme, q.rows, q.cols, where);
      const StorageSizes ss = scheme->storage(*scheme, q.rows, q.cols);
      if (ss.scales || ss.zeros || ss.meta || static_cast<uint64_t>(ss.data) != t->nbytes)
        throw_input("{}: {} bytes, {} [{}] needs {}", where, t->nbytes, scheme->name, fmt::join(s.shape, ", "), ss.data);
      const uint8_t* p = f.data(*t);
      if (opt.map_packed && !has_interleaved_order(*scheme)) {
        populate_mapping(p, t->nbytes);
        q.data = ByteBuffer::borrow(p, t->nbytes, file);
      } else {
        copy_from_mapping(p, t->nbytes, q.data.mutable_vector());
        f.release(*t);
      }
      if (s.kind == model::TensorKind::kEmbedding) {
        G4U_CHECK(s.name == table_name, "{}: not the token table", s.name);
        set_quantized_table(m.text(), std::move(q), opt.dtype, opt.packed_head);
      } else {
        replace_linear(m, s.name, std::make_shared<QuantLinear>(std::move(q), opt.dtype));
      }
      continue;
    }
    // F32 / F16 / BF16.
    const torch::ScalarType st = float_scalar_type(t->type);
    torch::Tensor view = torch::from_blob(const_cast<uint8_t*>(f.data(*t)), s.shape, st);
    if (s.name == table_name && opt.packed_head && opt.dtype == torch::kFloat32 && st == torch::kBFloat16) {
      bf16_table = true;  // kept as stored, after the dtype cast below
      table_tensor = t;
      continue;
    }
    // An owned copy in the run dtype (the file's pages released), so the model outlives the file.
    pit->set_data(owned_copy(f, *t, view, opt.dtype));
  }

  out.model->to(opt.dtype);
  if (bf16_table) {
    model::TextModel& text = m.text();
    void* p = const_cast<uint8_t*>(f.data(*table_tensor));
    const std::vector<int64_t> shape = {cfg.text.vocab_size, cfg.text.hidden_size};
    if (opt.map_packed) {  // read as stored by the head for every token, like the packed weights
      populate_mapping(static_cast<const uint8_t*>(p), table_tensor->nbytes);
      // The tensor holds the file (its deleter's capture), so the mapping outlives this function.
      text.embed_tokens->weight.set_data(torch::from_blob(p, shape, [file](void*) {}, torch::kBFloat16));
    } else {
      text.embed_tokens->weight.set_data(owned_copy(f, *table_tensor, torch::from_blob(p, shape, torch::kBFloat16), torch::kBFloat16));
    }
    text.head = std::make_shared<TiedBf16Head>(text.embed_tokens);
  }
  model::check_no_placeholders(m);
  out.model->eval();
  return out;
}

}  // namespace g4u::quant
