// GGUF import (quant/io/gguf_import.h, gguf_reader.h): a hand-made gemma4 GGUF with every tensor
// type dequantizes to values computed here from the block layouts (ggml docs / ggml-quants.h facts,
// written independently of g4u's encoders), export -> import gives bit-identical logits to the
// quantized checkpoint, and hostile files are InputErrors naming the file and the field.
#include "cli_runner.h"
#include "model/io/loader.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf.h"
#include "quant/io/gguf_import.h"
#include "quant/io/gguf_reader.h"
#include "quant/layer/quant_linear.h"
#include "quant/quant_test_util.h"
#include "test_paths.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;
using namespace g4u;
using namespace g4u::test;

namespace {

// ---- a small GGUF writer (the test's own) -----------------------------------------------------

struct Writer {
  std::string kv;
  uint64_t n_kv = 0;
  struct T {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string bytes;
  };
  std::vector<T> tensors;
  std::map<std::string, size_t> marks;  // byte positions of fields (filled by build())
  std::map<std::string, size_t> kv_marks;  // relative to the KV section

  template <typename V>
  static void put(std::string& b, V v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static void str(std::string& b, std::string_view s) {
    put<uint64_t>(b, s.size());
    b.append(s.data(), s.size());
  }
  void key(const std::string& k, uint32_t type) {
    kv_marks["key:" + k] = kv.size();
    str(kv, k);
    put<uint32_t>(kv, type);
    ++n_kv;
  }
  void u32(const std::string& k, uint32_t v) { key(k, 4); put(kv, v); }
  void f32(const std::string& k, float v) { key(k, 6); put(kv, v); }
  void string(const std::string& k, const std::string& v) { key(k, 8); str(kv, v); }
  void array_head(const std::string& k, uint32_t elem, uint64_t n) {
    key(k, 9);
    put<uint32_t>(kv, elem);
    kv_marks["array:" + k] = kv.size();
    put<uint64_t>(kv, n);
  }
  void bools(const std::string& k, const std::vector<bool>& v) {
    array_head(k, 7, v.size());
    for (bool x : v) put<uint8_t>(kv, x);
  }
  void i32s(const std::string& k, const std::vector<int32_t>& v) {
    array_head(k, 5, v.size());
    for (auto x : v) put(kv, x);
  }
  void strings(const std::string& k, const std::vector<std::string>& v) {
    array_head(k, 8, v.size());
    for (const auto& x : v) str(kv, x);
  }
  void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, std::string bytes) {
    tensors.push_back({name, std::move(ne), type, std::move(bytes)});
  }
  std::string build(uint32_t align = 32) {
    std::string b = "GGUF";
    put<uint32_t>(b, 3);
    marks["tensor_count"] = b.size();
    put<uint64_t>(b, tensors.size());
    marks["kv_count"] = b.size();
    put<uint64_t>(b, n_kv);
    const size_t kv_start = b.size();
    for (const auto& [k, pos] : kv_marks) marks[k] = kv_start + pos;
    b += kv;
    uint64_t off = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors) {
      off = (off + align - 1) / align * align;
      offsets.push_back(off);
      off += t.bytes.size();
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      str(b, tensors[i].name);
      put<uint32_t>(b, static_cast<uint32_t>(tensors[i].ne.size()));
      for (auto d : tensors[i].ne) put<uint64_t>(b, d);
      marks["type:" + tensors[i].name] = b.size();
      put<uint32_t>(b, tensors[i].type);
      marks["offset:" + tensors[i].name] = b.size();
      put<uint64_t>(b, offsets[i]);
    }
    b.resize((b.size() + align - 1) / align * align, '\0');
    marks["data"] = b.size();
    const size_t data = b.size();
    for (size_t i = 0; i < tensors.size(); ++i) {
      b.resize(data + offsets[i], '\0');
      b += tensors[i].bytes;
    }
    return b;
  }
};

// ---- tensors with known values ------------------------------------------------------------------

// fp16 bits of 2^-(2 + k % 4): 0.25, 0.125, 0.0625, 0.03125 (exact).
uint16_t pow2_half(int64_t k) { return static_cast<uint16_t>(0x3400 - 0x400 * (k % 4)); }
float pow2_value(int64_t k) { return std::ldexp(1.0f, -2 - static_cast<int>(k % 4)); }

struct Known {
  std::string bytes;
  std::vector<float> values;  // row-major [rows, cols]
};

template <typename V>
void put(std::string& b, V v) {
  b.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Every block b (row-major over rows x cols/block) gets its own scale and codes.
Known q8_0(int64_t rows, int64_t cols) {
  Known k;
  k.values.resize(rows * cols);
  for (int64_t b = 0; b < rows * cols / 32; ++b) {
    put<uint16_t>(k.bytes, pow2_half(b));
    for (int64_t i = 0; i < 32; ++i) {
      const auto q = static_cast<int8_t>(static_cast<int>((i * 7 + b) % 256) - 128);
      put<int8_t>(k.bytes, q);
      k.values[b * 32 + i] = pow2_value(b) * q;
    }
  }
  return k;
}

Known q4_0(int64_t rows, int64_t cols, bool with_min) {
  Known k;
  k.values.resize(rows * cols);
  for (int64_t b = 0; b < rows * cols / 32; ++b) {
    put<uint16_t>(k.bytes, pow2_half(b));
    if (with_min) put<uint16_t>(k.bytes, 0xB800);  // m = -0.5
    int n[32];
    for (int e = 0; e < 32; ++e) n[e] = static_cast<int>((e * 5 + b) % 16);
    for (int j = 0; j < 16; ++j) put<uint8_t>(k.bytes, static_cast<uint8_t>(n[j] | (n[j + 16] << 4)));
    for (int e = 0; e < 32; ++e)
      k.values[b * 32 + e] = with_min ? pow2_value(b) * n[e] - 0.5f : pow2_value(b) * (n[e] - 8);
  }
  return k;
}

// Q4_K super-block: d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles. Sub-block j
// (32 weights) has scale j + 1 and min j (< 16, so the packed top bits stay 0):
// scales[0..3] = sc0..3, scales[4..7] = m0..3, scales[8..11] = sc4..7 | m4..7 << 4.
Known q4_k(int64_t rows, int64_t cols) {
  Known k;
  k.values.resize(rows * cols);
  for (int64_t b = 0; b < rows * cols / 256; ++b) {
    put<uint16_t>(k.bytes, pow2_half(b));
    put<uint16_t>(k.bytes, 0x3800);  // dmin = 0.5
    for (int j = 0; j < 4; ++j) put<uint8_t>(k.bytes, static_cast<uint8_t>(j + 1));
    for (int j = 0; j < 4; ++j) put<uint8_t>(k.bytes, static_cast<uint8_t>(j));
    for (int j = 4; j < 8; ++j) put<uint8_t>(k.bytes, static_cast<uint8_t>((j + 1) | (j << 4)));
    auto q = [&](int e) { return static_cast<int>((e * 3 + b) % 16); };
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) put<uint8_t>(k.bytes, static_cast<uint8_t>(q(64 * c + l) | (q(64 * c + 32 + l) << 4)));
    for (int e = 0; e < 256; ++e) {
      const int j = e / 32;
      k.values[b * 256 + e] = pow2_value(b) * static_cast<float>(j + 1) * static_cast<float>(q(e)) - 0.5f * static_cast<float>(j);
    }
  }
  return k;
}

// Q6_K super-block: ql[128], qh[64], int8 scales[16] (one per 16 weights), d. Weight e = 128h + p,
// group g = p / 32, l = p % 32: its low nibble is ql[64h + l + 32 * (g % 2)] (low half for g < 2,
// high half otherwise), its top two bits qh[32h + l] bits 2g..2g+1; w = d * scales[e / 16] * (q - 32).
Known q6_k(int64_t rows, int64_t cols) {
  Known k;
  k.values.resize(rows * cols);
  for (int64_t b = 0; b < rows * cols / 256; ++b) {
    auto q = [&](int e) { return static_cast<int>((e * 11 + b) % 64); };
    uint8_t ql[128] = {}, qh[64] = {};
    int8_t sc[16];
    for (int g = 0; g < 16; ++g) sc[g] = static_cast<int8_t>(g % 5 - 2);
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, p = e % 128, g = p / 32, l = p % 32;
      const int lo = q(e) & 0xF, hi = q(e) >> 4;
      uint8_t& L = ql[64 * h + l + 32 * (g % 2)];
      L |= static_cast<uint8_t>(g < 2 ? lo : lo << 4);
      qh[32 * h + l] |= static_cast<uint8_t>(hi << (2 * g));
      k.values[b * 256 + e] = pow2_value(b) * sc[e / 16] * static_cast<float>(q(e) - 32);
    }
    k.bytes.append(reinterpret_cast<const char*>(ql), 128);
    k.bytes.append(reinterpret_cast<const char*>(qh), 64);
    k.bytes.append(reinterpret_cast<const char*>(sc), 16);
    put<uint16_t>(k.bytes, pow2_half(b));
  }
  return k;
}

// Float tensors: value i = (i % 13 - 6) / 8 (exact in every float type).
Known floats(int64_t n, uint32_t type) {
  Known k;
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(i % 13 - 6) / 8.0f;
    k.values.push_back(v);
    if (type == 0) {
      put<float>(k.bytes, v);
    } else {
      torch::Tensor t = torch::tensor({v}).to(type == 1 ? torch::kFloat16 : torch::kBFloat16);
      k.bytes.append(reinterpret_cast<const char*>(t.data_ptr()), 2);
    }
  }
  return k;
}

// A 2-layer gemma4 model (layer 0 sliding, layer 1 full with K = V) with H = 256 so that every
// type fits: each tensor's type and known values, by GGUF name.
struct HandMade {
  Writer w;
  std::map<std::string, Known> known;
  void add(const std::string& name, std::vector<int64_t> shape, uint32_t type) {
    const int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
    Known k = type == 8 ? q8_0(rows, cols) : type == 2 ? q4_0(rows, cols, false) : type == 3 ? q4_0(rows, cols, true)
              : type == 12 ? q4_k(rows, cols) : type == 14 ? q6_k(rows, cols) : floats(rows * cols, type);
    std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
    w.tensor(name, ne, type, k.bytes);
    known[name] = std::move(k);
  }
  explicit HandMade(bool with_keys = true, int64_t vocab_rows = 64) {
    if (with_keys) {
      w.string("general.architecture", "gemma4");
      w.u32("general.alignment", 32);
      w.u32("gemma4.context_length", 128);
      w.u32("gemma4.embedding_length", 256);
      w.u32("gemma4.block_count", 2);
      w.u32("gemma4.feed_forward_length", 256);
      w.u32("gemma4.embedding_length_per_layer_input", 0);
      w.u32("gemma4.attention.head_count", 2);
      w.i32s("gemma4.attention.head_count_kv", {1, 1});
      w.u32("gemma4.attention.key_length", 64);
      w.u32("gemma4.attention.value_length", 64);
      w.u32("gemma4.attention.key_length_swa", 32);
      w.u32("gemma4.attention.value_length_swa", 32);
      w.f32("gemma4.attention.layer_norm_rms_epsilon", 1e-6f);
      w.u32("gemma4.attention.sliding_window", 8);
      w.bools("gemma4.attention.sliding_window_pattern", {true, false});
      w.f32("gemma4.rope.freq_base", 1e6f);
      w.f32("gemma4.rope.freq_base_swa", 1e4f);
      w.u32("gemma4.rope.dimension_count", 64);
      w.u32("gemma4.rope.dimension_count_swa", 32);
      w.f32("gemma4.final_logit_softcapping", 30.f);
      w.u32("tokenizer.ggml.bos_token_id", 2);
      w.u32("tokenizer.ggml.eos_token_id", 1);
      w.u32("tokenizer.ggml.eot_token_id", 5);
      w.u32("tokenizer.ggml.padding_token_id", 0);
      w.i32s("tokenizer.ggml.suppress_tokens", {7, 9});
    }
    add("token_embd.weight", {vocab_rows, 256}, 8);
    add("output_norm.weight", {256}, 0);
    {
      std::vector<float> f(32, 1e30f);
      std::fill(f.begin(), f.begin() + 8, 1.0f);
      std::string b(reinterpret_cast<const char*>(f.data()), f.size() * 4);
      w.tensor("rope_freqs.weight", {32}, 0, b);
    }
    // Layer 0 (sliding: 2 heads x 32, 1 KV head).
    add("blk.0.attn_norm.weight", {256}, 0);
    add("blk.0.attn_q.weight", {64, 256}, 12);
    add("blk.0.attn_k.weight", {32, 256}, 14);
    add("blk.0.attn_v.weight", {32, 256}, 8);
    add("blk.0.attn_output.weight", {256, 64}, 2);
    add("blk.0.attn_q_norm.weight", {32}, 0);
    add("blk.0.attn_k_norm.weight", {32}, 0);
    add("blk.0.post_attention_norm.weight", {256}, 0);
    add("blk.0.ffn_norm.weight", {256}, 0);
    add("blk.0.ffn_gate.weight", {256, 256}, 3);
    add("blk.0.ffn_up.weight", {256, 256}, 1);
    add("blk.0.ffn_down.weight", {256, 256}, 30);
    add("blk.0.post_ffw_norm.weight", {256}, 0);
    add("blk.0.layer_output_scale.weight", {1}, 0);
    // Layer 1 (full: 2 heads x 64, 1 KV head, no attn_v, no layer_output_scale).
    add("blk.1.attn_norm.weight", {256}, 1);
    add("blk.1.attn_q.weight", {128, 256}, 0);
    add("blk.1.attn_k.weight", {64, 256}, 2);
    add("blk.1.attn_output.weight", {256, 128}, 30);
    add("blk.1.attn_q_norm.weight", {64}, 0);
    add("blk.1.attn_k_norm.weight", {64}, 0);
    add("blk.1.post_attention_norm.weight", {256}, 0);
    add("blk.1.ffn_norm.weight", {256}, 0);
    add("blk.1.ffn_gate.weight", {256, 256}, 12);
    add("blk.1.ffn_up.weight", {256, 256}, 14);
    add("blk.1.ffn_down.weight", {256, 256}, 8);
    add("blk.1.post_ffw_norm.weight", {256}, 0);
  }
};

// Writes `bytes` with a patch of `v` at `pos`.
template <typename V>
std::string patched(std::string bytes, size_t pos, V v) {
  std::memcpy(bytes.data() + pos, &v, sizeof v);
  return bytes;
}

torch::Tensor logits_of(model::Gemma4Model& m) {
  torch::NoGradGuard ng;
  torch::Tensor ids = torch::tensor({2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50}).view({1, -1});
  auto r = m.text().forward(m.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr);
  return m.text().logits(r.hidden);
}

// The weight of a decoder projection as the model holds it (dequantized if packed).
torch::Tensor weight_of(model::Gemma4Model& m, const std::string& canonical) {
  auto lin = quant::decoder_linears(m).at(canonical);
  if (auto q = std::dynamic_pointer_cast<quant::QuantLinear>(lin)) return q->dequantized();
  return std::dynamic_pointer_cast<model::DenseLinear>(lin)->weight.to(torch::kFloat32);
}

model::LoadOptions no_tokenizer() {
  model::LoadOptions o;
  o.tokenizer = false;
  return o;
}

}  // namespace

TEST_CASE("GGUF import: a hand-made gemma4 file with every tensor type loads to the values computed here", "[unit][gguf]") {
  ScratchDir dir("gguf_import");
  HandMade h;
  const std::string path = dir / "hand.gguf";
  write_file(path, h.w.build());
  REQUIRE(quant::is_gguf_file(path));

  model::LoadedModel lm = quant::load_gguf_model(path, no_tokenizer());
  REQUIRE(lm.tokenizer == nullptr);
  model::Gemma4Model& m = *lm.model;
  const model::TextConfig& t = m.config().text;
  CHECK(t.num_layers == 2);
  CHECK(t.hidden_size == 256);
  CHECK(t.vocab_size == 64);
  CHECK(t.intermediate_size == 256);
  CHECK(t.layer_types == std::vector<model::LayerType>{model::LayerType::kSliding, model::LayerType::kFull});
  CHECK(t.sliding.num_heads == 2);
  CHECK(t.sliding.num_kv_heads == 1);
  CHECK(t.sliding.head_dim == 32);
  CHECK(t.full.head_dim == 64);
  CHECK(t.k_eq_v);
  CHECK(t.sliding_window == 8);
  CHECK(t.rope_full.type == "proportional");
  CHECK(t.rope_full.partial_rotary_factor == 0.25);  // 8 of 32 pairs rotate
  CHECK(t.rope_full.theta == 1e6);
  CHECK(t.rope_sliding.theta == 1e4);
  CHECK(t.final_logit_softcapping == 30.0);
  CHECK(t.eos_token_ids == std::vector<int64_t>{1, 5});
  CHECK(m.config().suppress_tokens == std::vector<int64_t>{7, 9});
  CHECK_FALSE(m.config().vision.has_value());

  const std::map<std::string, std::string> canonical = {
      {"blk.0.attn_q.weight", "self_attn.q_proj"},   {"blk.0.attn_k.weight", "self_attn.k_proj"},
      {"blk.0.attn_v.weight", "self_attn.v_proj"},   {"blk.0.attn_output.weight", "self_attn.o_proj"},
      {"blk.0.ffn_gate.weight", "mlp.gate_proj"},    {"blk.0.ffn_up.weight", "mlp.up_proj"},
      {"blk.0.ffn_down.weight", "mlp.down_proj"},    {"blk.1.attn_q.weight", "self_attn.q_proj"},
      {"blk.1.attn_k.weight", "self_attn.k_proj"},   {"blk.1.attn_output.weight", "self_attn.o_proj"},
      {"blk.1.ffn_gate.weight", "mlp.gate_proj"},    {"blk.1.ffn_up.weight", "mlp.up_proj"},
      {"blk.1.ffn_down.weight", "mlp.down_proj"},
  };
  const std::map<std::string, std::string> scheme = {
      {"blk.0.attn_q.weight", "q4_k"}, {"blk.0.attn_k.weight", "q6_k"}, {"blk.0.attn_v.weight", "q8_0"},
      {"blk.0.attn_output.weight", "q4_0"}, {"blk.0.ffn_gate.weight", "q4_1"}, {"blk.0.ffn_up.weight", "dense"},
      {"blk.0.ffn_down.weight", "dense"}, {"blk.1.attn_q.weight", "dense"}, {"blk.1.attn_k.weight", "q4_0"},
      {"blk.1.attn_output.weight", "dense"}, {"blk.1.ffn_gate.weight", "q4_k"}, {"blk.1.ffn_up.weight", "q6_k"},
      {"blk.1.ffn_down.weight", "q8_0"},
  };
  auto linears = quant::decoder_linears(m);
  for (const auto& [gname, proj] : canonical) {
    const std::string layer = gname.substr(4, 1);
    const std::string cname = "model.language_model.layers." + layer + "." + proj + ".weight";
    INFO(gname);
    CHECK(linears.at(cname)->scheme() == scheme.at(gname));
    const Known& k = h.known.at(gname);
    torch::Tensor want = torch::tensor(k.values).view_as(weight_of(m, cname));
    CHECK(torch::equal(weight_of(m, cname), want));
  }
  // Dense parameters: norms (F32, F16), scalars.
  auto params = m.named_parameters(true);
  auto check_param = [&](const std::string& pname, const std::string& gname) {
    INFO(pname);
    torch::Tensor p = params[pname].to(torch::kFloat32);
    CHECK(torch::equal(p, torch::tensor(h.known.at(gname).values).view_as(p)));
  };
  // The Q8_0 table stays packed: its rows, dequantized, are the file's values.
  const torch::Tensor table = m.text().embed_tokens->table(torch::kFloat32);
  CHECK(torch::equal(table, torch::tensor(h.known.at("token_embd.weight").values).view_as(table)));
  CHECK(params.find("model.language_model.embed_tokens.weight") == nullptr);
  check_param("model.language_model.norm.weight", "output_norm.weight");
  check_param("model.language_model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight");
  check_param("model.language_model.layers.1.input_layernorm.weight", "blk.1.attn_norm.weight");
  check_param("model.language_model.layers.1.self_attn.k_norm.weight", "blk.1.attn_k_norm.weight");
  check_param("model.language_model.layers.0.layer_scalar", "blk.0.layer_output_scale.weight");
  CHECK(params["model.language_model.layers.1.layer_scalar"].item<float>() == 1.0f);  // absent: no scaling
  // The quantized table is read packed by the head and the lookups (as load_quantized_model does).
  auto head = std::dynamic_pointer_cast<quant::QuantLinear>(m.text().head);
  REQUIRE(head);
  CHECK(head->scheme() == "q8_0");
  CHECK(m.text().embed_tokens->packed() == m.text().head);
  CHECK(logits_of(m).isfinite().all().item<bool>());
}

TEST_CASE("GGUF import: export -> import gives the quantized checkpoint's logits bit for bit", "[integration][gguf]") {
  ScratchDir dir("gguf_roundtrip");
  const std::string src = dir / "f";
  model::write_random_checkpoint(tiny_text_256(), src, 11);
  for (const std::string recipe : {"q4_0", "q4_k_m"}) {
    INFO(recipe);
    const std::string q = dir / ("q_" + recipe), g = dir / (recipe + ".gguf");
    quant::QuantizeOptions qo;
    qo.recipe = recipe;
    quant::quantize_checkpoint(src, q, qo);
    quant::export_gguf(q, g);
    for (bool packed_head : {true, false}) {
      model::LoadOptions o;
      o.packed_head = packed_head;
      model::LoadedModel a = quant::load_quantized_model(q, o);
      model::LoadedModel b = quant::load_gguf_model(g, o);
      // Same decoder: schemes and packed bytes of every projection, the head's kind, the config.
      auto la = quant::decoder_linears(*a.model), lb = quant::decoder_linears(*b.model);
      REQUIRE(la.size() == lb.size());
      for (const auto& [name, lin] : la) {
        INFO(name);
        CHECK(lin->scheme() == lb.at(name)->scheme());
        if (auto qa = std::dynamic_pointer_cast<quant::QuantLinear>(lin))
          CHECK(qa->weight().data == std::dynamic_pointer_cast<quant::QuantLinear>(lb.at(name))->weight().data);
      }
      const auto& ta = a.model->config().text;
      const auto& tb = b.model->config().text;
      CHECK(tb.rope_full.partial_rotary_factor == ta.rope_full.partial_rotary_factor);
      CHECK(tb.rope_full.type == ta.rope_full.type);
      CHECK(tb.k_eq_v == ta.k_eq_v);
      CHECK(tb.layer_types == ta.layer_types);
      CHECK(b.model->config().suppress_tokens == a.model->config().suppress_tokens);
      CHECK(b.model->config().tokenizer == "byte");
      CHECK((a.model->text().head == nullptr) == (b.model->text().head == nullptr));
      CHECK(torch::equal(logits_of(*a.model), logits_of(*b.model)));
      // The byte tokenizer comes back from the metadata.
      REQUIRE(b.tokenizer);
      CHECK(b.tokenizer->encode("<bos>hi there") == a.tokenizer->encode("<bos>hi there"));
    }
    // bf16 runs too.
    model::LoadOptions o;
    o.dtype = torch::kBFloat16;
    CHECK(torch::equal(logits_of(*quant::load_quantized_model(q, o).model), logits_of(*quant::load_gguf_model(g, o).model)));
  }
}

TEST_CASE("GGUF import: a SentencePiece vocabulary comes back from the metadata", "[integration][gguf]") {
  ScratchDir dir("gguf_spm");
  // A SentencePiece BPE model trained here (byte fallback, g4u's settings) in a tiny checkpoint.
  std::string corpus;
  const char* syllables[] = {"ka", "to", "ri", "mu", "sen", "lo", "pa", "di", "ve", "nor", "qui", "ab", "el", "shu", "té", "東", "京"};
  uint64_t s = 12345;
  for (int line = 0; line < 3000; ++line) {
    for (int w = 0; w < 8; ++w) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      const int n = 1 + static_cast<int>((s >> 33) % 3);
      for (int k = 0; k < n; ++k) corpus += syllables[(s >> (40 + 4 * k)) % 17];
      corpus += w == 7 ? ".\n" : " ";
    }
  }
  write_file(dir / "corpus.txt", corpus);
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.vision.reset();
  cfg.audio.reset();
  cfg.tokenizer = "sentencepiece";
  cfg.text.vocab_size = 400;
  cfg.suppress_tokens.clear();
  const std::string src = dir / "f";
  model::write_random_checkpoint(cfg, src, 3);
  model::train_sentencepiece(dir / "corpus.txt", 400, src + "/tokenizer.model", 1);
  // g4u init declares no vocabulary ("none"); this checkpoint now has one.
  write_file(src + "/config.json", model::model_config_to_json(cfg).dump(2));
  const std::string q = dir / "q", g = dir / "q.gguf";
  quant::QuantizeOptions qo;
  qo.recipe = "q8_0";
  quant::quantize_checkpoint(src, q, qo);
  quant::export_gguf(q, g);
  model::LoadedModel a = quant::load_quantized_model(q);
  model::LoadedModel b = quant::load_gguf_model(g);
  REQUIRE(b.tokenizer);
  CHECK(b.model->config().tokenizer == "sentencepiece");
  CHECK(b.tokenizer->vocab_size() == a.tokenizer->vocab_size());
  for (const std::string s : {"the quick brown fox", "  two  spaces\tand tab\n", "café 東京 🙂 ß", "12345 67",
                              "<bos><|turn>user\nhello<turn|>", "unseen: ЖЖЖ Ω≈ç√"}) {
    INFO(s);
    CHECK(b.tokenizer->encode(s) == a.tokenizer->encode(s));
    CHECK(b.tokenizer->decode(a.tokenizer->encode(s)) == a.tokenizer->decode(a.tokenizer->encode(s)));
  }
  CHECK(torch::equal(logits_of(*a.model), logits_of(*b.model)));
}

TEST_CASE("GGUF import: a 'gemma4' BPE vocabulary encodes as HF tokenizers does", "[unit][gguf]") {
  // The fixture tokenizer.json (Gemma's layout) in the form llama.cpp's Gemma 4 converter writes:
  // tokens by id, added tokens CONTROL (special) or USER_DEFINED, <unk> UNKNOWN, <0xNN> BYTE, merges
  // as "left right". Expected ids: the npm tokenizers package's encodings of the same tokenizer.json.
  const std::string fixtures = std::string(G4U_FIXTURES_DIR) + "/tokenizer_json";
  const nlohmann::json tj = nlohmann::json::parse(read_file(fixtures + "/tokenizer.json"));
  const auto& vocab = tj["model"]["vocab"];
  std::vector<std::string> tokens(vocab.size());
  std::vector<int32_t> types(vocab.size(), 1);
  for (const auto& [piece, id] : vocab.items()) {
    tokens.at(id.get<size_t>()) = piece;
    if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>') types[id.get<size_t>()] = 6;
  }
  for (const auto& t : tj["added_tokens"]) types.at(t["id"].get<size_t>()) = t["special"].get<bool>() ? 3 : 4;
  types.at(vocab[tj["model"]["unk_token"].get<std::string>()].get<size_t>()) = 2;
  std::vector<std::string> merges;
  for (const auto& m : tj["model"]["merges"])
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());

  HandMade hm(true, static_cast<int64_t>(tokens.size()));
  hm.w.string("tokenizer.ggml.model", "gemma4");
  hm.w.strings("tokenizer.ggml.tokens", tokens);
  hm.w.i32s("tokenizer.ggml.token_type", types);
  hm.w.strings("tokenizer.ggml.merges", merges);
  ScratchDir dir("gguf_bpe");
  write_file(dir / "bpe.gguf", hm.w.build());
  model::LoadedModel lm = quant::load_gguf_model(dir / "bpe.gguf");
  REQUIRE(lm.tokenizer);
  CHECK(lm.tokenizer->vocab_size() == static_cast<int64_t>(tokens.size()));
  size_t cases = 0;
  for (const auto& line : read_jsonl(fixtures + "/encodings.jsonl")) {
    if (!line.contains("text")) continue;  // id-only decode cases
    const std::string text = line["text"].get<std::string>();
    INFO(text);
    CHECK(lm.tokenizer->encode(text) == line["ids"].get<std::vector<int64_t>>());
    ++cases;
  }
  CHECK(cases > 400);

  // Without merges the vocabulary is incomplete: a clear error, not a tokenizer that splits wrongly.
  HandMade bad(true, static_cast<int64_t>(tokens.size()));
  bad.w.string("tokenizer.ggml.model", "gemma4");
  bad.w.strings("tokenizer.ggml.tokens", tokens);
  bad.w.i32s("tokenizer.ggml.token_type", types);
  write_file(dir / "bad.gguf", bad.w.build());
  expect_input_error([&] { quant::load_gguf_model(dir / "bad.gguf"); }, "tokenizer.ggml.merges: missing");
}

TEST_CASE("GGUF import: hostile or wrong files are InputErrors naming the file and the field", "[unit][gguf]") {
  ScratchDir dir("gguf_bad");
  HandMade h;
  const std::string good = h.w.build();
  const auto& mk = h.w.marks;
  auto expect = [&](const std::string& bytes, const std::string& needle) {
    const std::string path = dir / "bad.gguf";
    write_file(path, bytes);
    expect_input_error([&] { quant::load_gguf_model(path, no_tokenizer()); }, needle);
    expect_input_error([&] { quant::load_gguf_model(path, no_tokenizer()); }, "bad.gguf");
  };
  SECTION("truncated tensor data") { expect(good.substr(0, good.size() - 100), "tensor blk.1.post_ffw_norm.weight"); }
  SECTION("truncated header") { expect(good.substr(0, 200), "metadata count"); expect(good.substr(0, mk.at("type:blk.0.attn_q.weight") + 2), "truncated"); }
  SECTION("unknown tensor type") { expect(patched<uint32_t>(good, mk.at("type:blk.0.ffn_up.weight"), 99), "unknown ggml type 99"); }
  SECTION("ggml type g4u does not read") {
    expect(patched<uint32_t>(good, mk.at("type:blk.0.ffn_up.weight"), 13), "Q5_K");
  }
  SECTION("tensor count lies") { expect(patched<uint64_t>(good, mk.at("tensor_count"), uint64_t(1) << 60), "tensor count"); }
  SECTION("kv count lies") { expect(patched<uint64_t>(good, mk.at("kv_count"), uint64_t(1) << 58), "metadata count"); }
  SECTION("string length lies") {
    expect(patched<uint64_t>(good, mk.at("key:gemma4.context_length"), uint64_t(1) << 62), "runs past the end");
  }
  SECTION("array length lies") {
    expect(patched<uint64_t>(good, mk.at("array:gemma4.attention.sliding_window_pattern"), uint64_t(1) << 61),
           "array length");
  }
  SECTION("offset past the end of the file") {
    expect(patched<uint64_t>(good, mk.at("offset:blk.0.ffn_up.weight"), uint64_t(1) << 40), "tensor blk.0.ffn_up.weight");
  }
  SECTION("misaligned data") {
    expect(patched<uint64_t>(good, mk.at("offset:output_norm.weight"), 4 + 64 * 256 / 32 * 34), "alignment");
  }
  SECTION("overlapping data") {
    expect(patched<uint64_t>(good, mk.at("offset:output_norm.weight"), 0), "overlaps");
  }
  SECTION("wrong magic") { expect("GGUX" + good.substr(4), "not a GGUF file"); }
  SECTION("wrong version") { expect(patched<uint32_t>(good, 4, 7), "version"); }
  SECTION("unknown architecture") {
    HandMade other(false);
    other.w.string("general.architecture", "llama");
    expect(other.w.build(), "general.architecture: 'llama'");
  }
  SECTION("a key g4u needs is missing") {
    HandMade other(false);
    other.w.string("general.architecture", "gemma4");
    other.w.u32("gemma4.embedding_length", 256);
    expect(other.w.build(), "gemma4.block_count: missing");
  }
  SECTION("a tensor the model does not have") {
    HandMade other;
    other.add("output.weight", {64, 256}, 0);
    expect(other.w.build(), "tensor output.weight");
  }
  SECTION("a norm stored quantized") {
    HandMade other;
    other.w.tensors.erase(std::find_if(other.w.tensors.begin(), other.w.tensors.end(),
                                       [](const Writer::T& t) { return t.name == "output_norm.weight"; }));
    other.add("output_norm.weight", {256}, 8);
    expect(other.w.build(), "output_norm.weight");
  }
  SECTION("a tokenizer is required but absent") {
    const std::string path = dir / "notok.gguf";
    write_file(path, good);
    expect_input_error([&] { quant::load_gguf_model(path); }, "tokenizer.ggml.model: missing");
  }
}

TEST_CASE("g4u forward/bench --model file.gguf: token-id runs need no tokenizer, bad files exit 2", "[integration][gguf]") {
  ScratchDir dir("gguf_cli");
  HandMade h;
  const std::string good = dir / "m.gguf";
  write_file(good, h.w.build());
  CliResult r = run_g4u("forward --model " + good + " --tokens 2,10,11,12 --out " + (dir / "l.f32") + " --json");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(fs::file_size(dir / "l.f32") == 4 * 64 * sizeof(float));
  r = run_g4u("bench --model " + good + " -p 4 -n 2 --reps 1 --json");
  INFO(r.err);
  CHECK(r.code == 0);
  write_file(dir / "bad.gguf", h.w.build().substr(0, 300));
  r = run_g4u("forward --model " + (dir / "bad.gguf") + " --tokens 2,10 --out " + (dir / "x.f32"));
  CHECK(r.code == 2);
  CHECK(r.err.find("bad.gguf") != std::string::npos);
  r = run_g4u("generate --model " + good + " --prompt hi -n 2");
  CHECK(r.code == 2);
  CHECK(r.err.find("tokenizer.ggml.model") != std::string::npos);
  // Weights past the memory available (stated by G4U_MEMORY_LIMIT) stop the load before it allocates.
  {
    ScopedEnv limit("G4U_MEMORY_LIMIT", "1K");
    r = run_g4u("bench --model " + good + " -p 4 -n 2 --reps 1");
  }
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("--model " + good + " needs about") && Catch::Contains("weights") &&
                        Catch::Contains("only 1.0 KiB is available (G4U_MEMORY_LIMIT)"));
}
