// GGUF export (quant/io/gguf.h), checked with a minimal GGUF v3 reader written here from the spec
// (ggml docs/gguf.md), independent of the writer: header, every KV, tensor infos and alignment,
// and that tensor bytes are exactly the packed ggml blocks of the quantized checkpoint.
#include "model/io/config.h"
#include "base/json_util.h"
#include "model/io/loader.h"
#include "model/io/safetensors.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf.h"
#include "quant/quant_test_util.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace {

// ---- the test's own reader -----------------------------------------------------------------------

struct GgufValue {
  uint32_t type = 0;                // GGUF value type
  uint32_t elem_type = 0;           // arrays only
  std::vector<double> nums;         // scalar or array of numbers/bools
  std::vector<std::string> strs;    // string or array of strings
  bool is_array = false;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct GgufFile {
  uint32_t version = 0;
  std::map<std::string, GgufValue> kv;
  std::vector<std::string> kv_order;
  std::vector<GgufTensorInfo> tensors;
  uint64_t data_start = 0;
  std::string bytes;  // the whole file
};

struct GgufCursor {
  const std::string& s;
  size_t pos = 0;
  template <typename T>
  T get() {
    REQUIRE(pos + sizeof(T) <= s.size());
    T v;
    std::memcpy(&v, s.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = get<uint64_t>();
    REQUIRE(pos + n <= s.size());
    std::string r = s.substr(pos, n);
    pos += n;
    return r;
  }
  double scalar(uint32_t t) {
    switch (t) {
      case 0: return get<uint8_t>();
      case 1: return get<int8_t>();
      case 2: return get<uint16_t>();
      case 3: return get<int16_t>();
      case 4: return get<uint32_t>();
      case 5: return get<int32_t>();
      case 6: return get<float>();
      case 7: {
        const auto b = get<uint8_t>();
        REQUIRE(b <= 1);
        return b;
      }
      case 10: return static_cast<double>(get<uint64_t>());
      case 11: return static_cast<double>(get<int64_t>());
      case 12: return get<double>();
    }
    FAIL("unknown GGUF value type " << t);
    return 0;
  }
};

GgufFile gguf_read(const std::string& path) {
  GgufFile f;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  f.bytes = ss.str();
  GgufCursor c{f.bytes};
  REQUIRE(f.bytes.substr(0, 4) == "GGUF");
  c.pos = 4;
  f.version = c.get<uint32_t>();
  const auto n_tensors = c.get<uint64_t>();
  const auto n_kv = c.get<uint64_t>();
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.str();
    GgufValue v;
    v.type = c.get<uint32_t>();
    if (v.type == 8) {
      v.strs.push_back(c.str());
    } else if (v.type == 9) {
      v.is_array = true;
      v.elem_type = c.get<uint32_t>();
      const auto n = c.get<uint64_t>();
      for (uint64_t k = 0; k < n; ++k) {
        if (v.elem_type == 8) {
          v.strs.push_back(c.str());
        } else {
          REQUIRE(v.elem_type != 9);
          v.nums.push_back(c.scalar(v.elem_type));
        }
      }
    } else {
      v.nums.push_back(c.scalar(v.type));
    }
    REQUIRE(f.kv.count(key) == 0);  // keys are unique
    f.kv[key] = v;
    f.kv_order.push_back(key);
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.str();
    const auto nd = c.get<uint32_t>();
    REQUIRE(nd >= 1);
    REQUIRE(nd <= 4);
    for (uint32_t d = 0; d < nd; ++d) t.ne.push_back(c.get<uint64_t>());
    t.type = c.get<uint32_t>();
    t.offset = c.get<uint64_t>();
    f.tensors.push_back(t);
  }
  uint64_t align = 32;
  if (f.kv.count("general.alignment")) align = static_cast<uint64_t>(f.kv["general.alignment"].nums.at(0));
  f.data_start = (c.pos + align - 1) / align * align;
  for (size_t p = c.pos; p < f.data_start; ++p) REQUIRE(f.bytes[p] == 0);  // padding is zeros
  return f;
}

// Bytes per tensor from the ggml type table (block size, block bytes), as the spec gives them.
uint64_t gguf_tensor_bytes(const GgufTensorInfo& t) {
  struct B {
    uint64_t block, bytes;
  };
  static const std::map<uint32_t, B> table = {{0, {1, 4}},    {1, {1, 2}},    {2, {32, 18}},  {3, {32, 20}},
                                              {8, {32, 34}},  {12, {256, 144}}, {14, {256, 210}}, {20, {32, 18}},
                                              {30, {1, 2}}};
  const B b = table.at(t.type);
  uint64_t n = 1;
  for (size_t d = 1; d < t.ne.size(); ++d) n *= t.ne[d];
  REQUIRE(t.ne[0] % b.block == 0);
  return n * (t.ne[0] / b.block) * b.bytes;
}

std::string gguf_tensor_data(const GgufFile& f, const GgufTensorInfo& t) {
  return f.bytes.substr(f.data_start + t.offset, gguf_tensor_bytes(t));
}

// Raw bytes of a checkpoint tensor as stored in its safetensors file.
std::string gguf_checkpoint_bytes(const g4u::model::Checkpoint& ck, const std::string& name) {
  const auto& info = ck.info(name);
  const uint8_t* p = ck.file_of(name).data(info);
  return std::string(reinterpret_cast<const char*>(p), info.nbytes);
}

// A fresh temp directory holding a tiny random checkpoint "<dir>/f" (bf16).
std::filesystem::path gguf_tiny_dir(const std::string& tag) {
  const auto dir = std::filesystem::temp_directory_path() / ("g4u_gguf_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  g4u::model::write_random_checkpoint(*g4u::model::model_preset("tiny"), (dir / "f").string(), 7);
  return dir;
}

// The test's own copy of the llama.cpp names of one decoder layer (gguf-py constants.py TENSOR_NAMES).
const std::map<std::string, std::string>& gguf_expected_layer_names() {
  static const std::map<std::string, std::string> m = {
      {"input_layernorm.weight", "attn_norm.weight"},         {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},           {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},      {"post_attention_layernorm.weight", "post_attention_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"}, {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},            {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},            {"layer_scalar", "layer_output_scale.weight"}};
  return m;
}

}  // namespace

TEST_CASE("GGUF export: a tiny quantized checkpoint parses back exactly (own reader)", "[unit][gguf]") {
  using namespace g4u;
  const auto dir = gguf_tiny_dir("ok");
  const std::string f = (dir / "f").string(), q = (dir / "q").string(), out = (dir / "m.gguf").string();
  const std::string recipe = GENERATE(std::string("q4_0"), std::string("q8_0"), std::string("q4_k_m"));
  INFO(recipe);
  quant::QuantizeOptions qo;
  qo.recipe = recipe;
  quant::quantize_checkpoint(f, q, qo);
  const nlohmann::json summary = quant::export_gguf(q, out);
  const GgufFile g = gguf_read(out);

  // Header.
  CHECK(g.version == 3);
  CHECK(summary["tensor_count"] == g.tensors.size());
  CHECK(summary["kv_count"] == g.kv.size());

  // Every KV, with its type and value.
  const model::ModelConfig cfg = model::load_model_config(f);
  std::map<std::string, std::pair<uint32_t, std::vector<double>>> nums = {
      {"general.alignment", {4, {32}}},
      {"general.quantization_version", {4, {2}}},
      {"gemma4.context_length", {4, {4096}}},
      {"gemma4.embedding_length", {4, {64}}},
      {"gemma4.block_count", {4, {6}}},
      {"gemma4.feed_forward_length", {4, {128}}},
      {"gemma4.embedding_length_per_layer_input", {4, {0}}},
      {"gemma4.attention.head_count", {4, {4}}},
      {"gemma4.attention.head_count_kv", {5, {2, 2, 1, 2, 2, 1}}},
      {"gemma4.attention.key_length", {4, {32}}},
      {"gemma4.attention.value_length", {4, {32}}},
      {"gemma4.attention.key_length_swa", {4, {16}}},
      {"gemma4.attention.value_length_swa", {4, {16}}},
      {"gemma4.attention.layer_norm_rms_epsilon", {6, {static_cast<double>(1e-6f)}}},
      {"gemma4.attention.sliding_window", {4, {8}}},
      {"gemma4.attention.sliding_window_pattern", {7, {1, 1, 0, 1, 1, 0}}},
      {"gemma4.attention.shared_kv_layers", {4, {0}}},
      {"gemma4.rope.freq_base", {6, {1e6}}},
      {"gemma4.rope.freq_base_swa", {6, {1e4}}},
      {"gemma4.rope.dimension_count", {4, {32}}},
      {"gemma4.rope.dimension_count_swa", {4, {16}}},
      {"gemma4.final_logit_softcapping", {6, {30}}},
      {"tokenizer.ggml.bos_token_id", {4, {2}}},
      {"tokenizer.ggml.eos_token_id", {4, {1}}},
      {"tokenizer.ggml.padding_token_id", {4, {0}}},
      {"tokenizer.ggml.add_bos_token", {7, {1}}},
      {"tokenizer.ggml.add_eos_token", {7, {0}}},
      {"tokenizer.ggml.add_space_prefix", {7, {0}}},
      {"tokenizer.ggml.suppress_tokens", {5, {14, 11}}},
  };
  // llama_ftype by recipe (llama.h): Q4_0 2, Q8_0 7, Q4_K_M 15.
  nums["general.file_type"] = {4, {recipe == "q4_0" ? 2.0 : recipe == "q8_0" ? 7.0 : 15.0}};
  std::set<std::string> expected_keys = {"general.architecture", "general.name", "tokenizer.ggml.model",
                                         "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
  for (const auto& [k, tv] : nums) {
    expected_keys.insert(k);
    INFO(k);
    REQUIRE(g.kv.count(k) == 1);
    const GgufValue& v = g.kv.at(k);
    const bool array = tv.second.size() > 1 || k == "tokenizer.ggml.suppress_tokens";
    CHECK(v.is_array == array);
    CHECK((array ? v.elem_type : v.type) == tv.first);
    CHECK(v.nums == tv.second);
  }
  CHECK(std::set<std::string>(g.kv_order.begin(), g.kv_order.end()) == expected_keys);
  CHECK(g.kv.at("general.architecture").strs == std::vector<std::string>{"gemma4"});
  CHECK(g.kv.at("general.name").strs == std::vector<std::string>{"q"});
  CHECK(g.kv.at("tokenizer.ggml.model").strs == std::vector<std::string>{"llama"});
  const GgufValue& toks = g.kv.at("tokenizer.ggml.tokens");
  const GgufValue& types = g.kv.at("tokenizer.ggml.token_type");
  REQUIRE(toks.strs.size() == 320);
  REQUIRE(types.nums.size() == 320);
  CHECK(types.elem_type == 5);
  CHECK(g.kv.at("tokenizer.ggml.scores").nums == std::vector<double>(320, 0.0));
  CHECK(g.kv.at("tokenizer.ggml.scores").elem_type == 6);
  CHECK(toks.strs[2] == "<bos>");
  CHECK(types.nums[2] == 3);                     // control
  CHECK(toks.strs[32 + 'a'] == "<0x61>");        // byte b at 32 + b
  CHECK(types.nums[32 + 'a'] == 6);              // byte
  CHECK(types.nums[300] == 5);                   // reserved: unused

  // Tensors: names, dims (ne[0] = cols), types, alignment, and the bytes themselves.
  const model::Checkpoint qck = model::Checkpoint::open(q);
  const nlohmann::json meta = read_json_file(q + "/quantization.json");
  const std::map<std::string, uint32_t> scheme_type = {{"q4_0", 2}, {"q4_1", 3}, {"q8_0", 8}, {"q4_k", 12}, {"q6_k", 14}, {"iq4_nl", 20}};
  std::map<std::string, std::string> source;  // gguf name -> checkpoint name
  const std::string tp = "model.language_model.";
  source["token_embd.weight"] = tp + "embed_tokens.weight";
  source["output_norm.weight"] = tp + "norm.weight";
  for (int l = 0; l < 6; ++l)
    for (const auto& [hf, gg] : gguf_expected_layer_names()) {
      if (hf == "self_attn.v_proj.weight" && (l == 2 || l == 5)) continue;  // full layers: K = V
      source["blk." + std::to_string(l) + "." + gg] = tp + "layers." + std::to_string(l) + "." + hf;
    }
  REQUIRE(g.tensors.size() == source.size() + 1);  // + rope_freqs.weight
  uint64_t prev_end = 0;
  int quantized_seen = 0;
  for (const auto& t : g.tensors) {
    INFO(t.name);
    CHECK(t.offset % 32 == 0);
    CHECK(t.offset >= prev_end);  // in order, no overlap
    prev_end = t.offset + gguf_tensor_bytes(t);
    const std::string data = gguf_tensor_data(g, t);
    if (t.name == "rope_freqs.weight") {
      // head_dim 32 full layers, partial_rotary_factor 0.25 -> 4 of 16 pairs rotate.
      REQUIRE(t.ne == std::vector<uint64_t>{16});
      CHECK(t.type == 0);
      std::vector<float> v(16);
      std::memcpy(v.data(), data.data(), 64);
      for (int i = 0; i < 16; ++i) CHECK(v[i] == (i < 4 ? 1.0f : 1e30f));
      continue;
    }
    REQUIRE(source.count(t.name) == 1);
    const std::string& src = source.at(t.name);
    const model::TensorSpec* spec = nullptr;
    const auto specs = model::model_tensor_specs(cfg);
    for (const auto& s : specs)
      if (s.name == src) spec = &s;
    REQUIRE(spec);
    std::vector<uint64_t> ne(spec->shape.rbegin(), spec->shape.rend());
    CHECK(t.ne == ne);
    if (meta["tensors"].contains(src)) {
      const std::string scheme = meta["tensors"][src]["scheme"];
      CHECK(t.type == scheme_type.at(scheme));
      CHECK(data == gguf_checkpoint_bytes(qck, src + ".qdata"));  // the packed ggml blocks, byte for byte
      ++quantized_seen;
    } else if (spec->shape.size() == 1) {
      CHECK(t.type == 0);  // norms and scalars as F32
      torch::Tensor want = qck.view(src).to(torch::kFloat32).contiguous();
      CHECK(data == std::string(reinterpret_cast<const char*>(want.data_ptr<float>()), want.numel() * 4));
    } else {
      CHECK(t.type == 30);  // bf16 as stored
      CHECK(data == gguf_checkpoint_bytes(qck, src));
    }
  }
  CHECK(quantized_seen == static_cast<int>(meta["tensors"].size()));
  CHECK(g.bytes.size() == g.data_start + (prev_end + 31) / 32 * 32);
  CHECK(summary["file_bytes"] == g.bytes.size());
  // Vision/audio embedders are reported, not written.
  CHECK(summary["skipped"].size() == 11);
  for (const auto& s : summary["skipped"]) CHECK(s["name"].get<std::string>().rfind(tp, 0) != 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("GGUF export: float checkpoint and --alignment", "[unit][gguf]") {
  using namespace g4u;
  const auto dir = gguf_tiny_dir("float");
  const std::string f = (dir / "f").string(), out = (dir / "f.gguf").string();
  quant::GgufExportOptions opt;
  opt.alignment = 64;
  quant::export_gguf(f, out, opt);
  const GgufFile g = gguf_read(out);
  CHECK(g.kv.at("general.alignment").nums == std::vector<double>{64});
  CHECK(g.kv.count("general.quantization_version") == 0);
  CHECK(g.kv.at("general.file_type").nums == std::vector<double>{32});  // MOSTLY_BF16
  CHECK(g.data_start % 64 == 0);
  const model::Checkpoint ck = model::Checkpoint::open(f);
  for (const auto& t : g.tensors) {
    INFO(t.name);
    CHECK(t.offset % 64 == 0);
    if (t.name == "blk.1.ffn_down.weight") {
      CHECK(t.ne == std::vector<uint64_t>{128, 64});
      CHECK(gguf_tensor_data(g, t) == gguf_checkpoint_bytes(ck, "model.language_model.layers.1.mlp.down_proj.weight"));
    }
  }
  opt.alignment = 48;
  g4u::test::expect_input_error([&] { quant::export_gguf(f, (dir / "g.gguf").string(), opt); }, "power of two");
  std::filesystem::remove_all(dir);
}

TEST_CASE("GGUF export: bad input leaves nothing at the output path", "[unit][gguf]") {
  using namespace g4u;
  const auto dir = gguf_tiny_dir("bad");
  const std::string f = (dir / "f").string(), r = (dir / "r").string(), out = (dir / "r.gguf").string();
  quant::QuantizeOptions qo;
  qo.recipe = "rtn4_sym_g32";
  quant::quantize_checkpoint(f, r, qo);
  // A scheme without a ggml type: the error names the tensor and the scheme.
  g4u::test::expect_input_error([&] { quant::export_gguf(r, out); }, "model.language_model.layers.0.self_attn.q_proj.weight");
  g4u::test::expect_input_error([&] { quant::export_gguf(r, out); }, "rtn4_sym_g32");
  CHECK(!std::filesystem::exists(out));
  // Output into a missing directory.
  g4u::test::expect_input_error([&] { quant::export_gguf(f, (dir / "nope" / "x.gguf").string()); }, "does not exist");
  // An existing output is not overwritten.
  { std::ofstream(out) << "keep"; }
  g4u::test::expect_input_error([&] { quant::export_gguf(f, out); }, "already exists");
  {
    std::ifstream in(out);
    std::string text;
    in >> text;
    CHECK(text == "keep");
  }
  std::filesystem::remove(out);
  // Not a checkpoint.
  g4u::test::expect_input_error([&] { quant::export_gguf((dir / "missing").string(), out); }, "not a checkpoint directory");
  // No temp files left behind anywhere in the directory.
  for (const auto& e : std::filesystem::directory_iterator(dir))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  CHECK(!std::filesystem::exists(out));
  std::filesystem::remove_all(dir);
}

TEST_CASE("GGUF export: q4_k_m of the small preset keeps its Q4_K and Q6_K blocks byte for byte", "[unit][gguf]") {
  using namespace g4u;
  // The tiny preset's 64-wide rows cannot hold 256-weight super-blocks; small's 256-wide rows can.
  const auto dir = std::filesystem::temp_directory_path() / ("g4u_gguf_small_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // The same quantization written in ggml's storage order (version 1) and in the kernels' order
  // (version 2, the default), in folders of the same name (the GGUF's general.name).
  const std::string f = (dir / "f").string(), q = (dir / "v1/m").string(), qk = (dir / "v2/m").string();
  const std::string out = (dir / "m.gguf").string(), out_k = (dir / "k.gguf").string();
  model::write_random_checkpoint(*model::model_preset("small"), f, 11);
  quant::QuantizeOptions qo;
  qo.recipe = "q4_k_m";
  qo.kernel_order = false;
  quant::quantize_checkpoint(f, q, qo);
  qo.kernel_order = true;
  quant::quantize_checkpoint(f, qk, qo);
  const nlohmann::json summary = quant::export_gguf(q, out);
  quant::export_gguf(qk, out_k);
  CHECK(g4u::test::read_file(out) == g4u::test::read_file(out_k));  // the exporter writes kernel-order rows back in storage order
  const GgufFile g = gguf_read(out);
  const model::Checkpoint qck = model::Checkpoint::open(q), qck_k = model::Checkpoint::open(qk);
  const nlohmann::json meta = read_json_file(q + "/quantization.json");
  CHECK(meta["version"] == 1);
  CHECK(read_json_file(qk + "/quantization.json")["qdata_order"] == "kernel");
  std::map<std::string, std::string> source;  // gguf name -> checkpoint name, as the writer reports it
  for (const auto& t : summary["tensors"]) source[t["name"]] = t["source"];
  std::map<uint32_t, int> seen;
  for (const auto& t : g.tensors) {
    INFO(t.name);
    if (!source.count(t.name) || !meta["tensors"].contains(source[t.name])) continue;
    const std::string scheme = meta["tensors"][source[t.name]]["scheme"];
    const uint32_t type = scheme == "q4_k" ? 12 : scheme == "q6_k" ? 14 : scheme == "q4_0" ? 2 : scheme == "q8_0" ? 8 : 999;
    CHECK(t.type == type);
    CHECK(gguf_tensor_data(g, t) == gguf_checkpoint_bytes(qck, source[t.name] + ".qdata"));
    // Q4_K rows are rearranged in the kernels' order; Q6_K has one order.
    CHECK((gguf_checkpoint_bytes(qck_k, source[t.name] + ".qdata") == gguf_checkpoint_bytes(qck, source[t.name] + ".qdata")) ==
          (type != 12));
    ++seen[t.type];
  }
  CHECK(seen[12] > 0);  // Q4_K projections
  CHECK(seen[14] > 0);  // Q6_K: token_embd and the use_more_bits v_proj / down_proj
  CHECK(seen[12] + seen[14] + seen[2] + seen[8] == static_cast<int>(meta["tensors"].size()));
  std::filesystem::remove_all(dir);
}
