// GGUF export of the Gemma 4 assistant drafter (quant/io/gguf.h, llama.cpp's `gemma4-assistant`
// architecture), read back with g4u's GGUF reader (quant/io/gguf_reader.h). The expected keys and
// tensor shapes are written here by hand from llama.cpp's loader (src/llama-model.cpp
// llama_model_base::load_hparams, src/models/gemma4-assistant.cpp load_arch_hparams /
// load_arch_tensors) and the tiny-assistant preset's numbers, not from the writer's code.
#include "cli_runner.h"
#include "base/json_util.h"
#include "model/io/config.h"
#include "model/io/loader.h"
#include "model/io/safetensors.h"
#include "model/io/tensor_specs.h"
#include "model/mtp/drafter.h"
#include "quant/io/gguf.h"
#include "quant/io/gguf_import.h"
#include "quant/io/gguf_reader.h"
#include "quant/quant_test_util.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

// The raw bytes of a checkpoint tensor as stored.
std::string drafter_gguf_ck_bytes(const g4u::model::Checkpoint& ck, const std::string& name) {
  const auto& info = ck.info(name);
  return std::string(reinterpret_cast<const char*>(ck.file_of(name).data(info)), info.nbytes);
}

std::string drafter_gguf_bytes(const g4u::quant::GgufFile& f, const g4u::quant::GgufTensor& t) {
  return std::string(reinterpret_cast<const char*>(f.data(t)), t.nbytes);
}

// Copies the checkpoint in `from` to `to` with `drop` left out and `extra` tensors (F32) added.
void drafter_gguf_rewrite(const std::string& from, const std::string& to, const std::string& drop,
                          const std::map<std::string, torch::Tensor>& extra = {}) {
  std::filesystem::create_directories(to);
  std::filesystem::copy_file(std::filesystem::path(from) / "config.json", std::filesystem::path(to) / "config.json");
  const g4u::model::Checkpoint ck = g4u::model::Checkpoint::open(from);
  std::vector<g4u::model::TensorInfo> infos;
  for (const auto& n : ck.names())
    if (n != drop) infos.push_back({n, ck.info(n).dtype, ck.info(n).shape});
  for (const auto& [n, t] : extra) infos.push_back({n, g4u::model::DType::kF32, t.sizes().vec()});
  g4u::model::SafetensorsWriter w((std::filesystem::path(to) / "model.safetensors").string(), infos, {{"format", "pt"}});
  for (const auto& n : ck.names())
    if (n != drop) w.write_raw(n, ck.file_of(n).data(ck.info(n)), ck.info(n).nbytes);
  for (const auto& [n, t] : extra) w.write(n, t);
  w.finish();
}

// No "<x>.tmp.<pid>" leftovers in `dir`.
void drafter_gguf_no_temps(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    INFO(e.path());
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
}

}  // namespace

TEST_CASE("GGUF drafter export: tiny-assistant as llama.cpp's gemma4-assistant (keys, shapes, bytes)", "[unit][gguf]") {
  namespace q = g4u::quant;
  namespace m = g4u::model;
  g4u::test::ScratchDir dir("gguf_drafter");
  const std::string d = dir / "d", out = dir / "d.gguf";
  m::write_random_drafter_checkpoint("tiny-assistant", d, 5);  // bf16
  const nlohmann::json summary = q::export_gguf(d, out);
  const auto g = q::GgufFile::open(out);

  CHECK(summary["architecture"] == "gemma4-assistant");
  CHECK(summary["tokenizer"] == "byte");
  CHECK(summary["skipped"].empty());
  CHECK(summary["tensor_count"] == g->tensors().size());
  CHECK(summary["kv_count"] == g->metadata().size());
  CHECK(summary["file_bytes"] == g->file_size());
  CHECK(g->version() == 3);
  CHECK(g->get_string("general.architecture") == std::optional<std::string_view>("gemma4-assistant"));
  CHECK(g->get_string("general.name") == std::optional<std::string_view>("d"));

  // tiny-assistant: vocab 320, hidden 32, MLP 64, layers "SF", sliding 4 heads (2 kv) x 16, full 4 heads
  // (1 kv) x 32, window 8, RoPE 1e4 (sliding) / 1e6 proportional 0.25 (full), 4096 positions, backbone 64.
  using T = q::GgufType;
  struct Want {
    T type;
    std::vector<double> values;  // one value, or the array
    bool array = false;
  };
  const std::string a = "gemma4-assistant.";
  const std::map<std::string, Want> want = {
      // llama_model_base::load_hparams
      {a + "context_length", {T::kU32, {4096}}},
      {a + "embedding_length", {T::kU32, {32}}},
      {a + "embedding_length_out", {T::kU32, {64}}},    // the target's width: n_embd_inp of the drafter
      {a + "block_count", {T::kU32, {2}}},
      {a + "nextn_predict_layers", {T::kU32, {2}}},     // the layers llama.cpp builds: all of them
      {a + "feed_forward_length", {T::kU32, {64}}},
      {a + "attention.head_count", {T::kU32, {4}}},
      {a + "attention.head_count_kv", {T::kI32, {2, 1}, true}},
      {a + "attention.key_length", {T::kU32, {32}}},
      {a + "attention.value_length", {T::kU32, {32}}},
      {a + "rope.dimension_count", {T::kU32, {32}}},
      {a + "rope.dimension_count_swa", {T::kU32, {16}}},
      {a + "rope.freq_base", {T::kF32, {1e6}}},
      // llama_model_gemma4_assistant::load_arch_hparams
      {a + "attention.sliding_window_pattern", {T::kBool, {1, 0}, true}},
      {a + "attention.shared_kv_layers", {T::kU32, {2}}},
      {a + "rope.freq_base_swa", {T::kF32, {1e4}}},
      {a + "attention.sliding_window", {T::kU32, {8}}},
      {a + "attention.layer_norm_rms_epsilon", {T::kF32, {static_cast<double>(1e-6f)}}},
      {a + "attention.key_length_swa", {T::kU32, {16}}},
      {a + "attention.value_length_swa", {T::kU32, {16}}},
      // general / tokenizer (llama_vocab::impl::load)
      {"general.alignment", {T::kU32, {32}}},
      {"general.file_type", {T::kU32, {32}}},  // MOSTLY_BF16
      {"tokenizer.ggml.bos_token_id", {T::kU32, {2}}},
      {"tokenizer.ggml.eos_token_id", {T::kU32, {1}}},
      {"tokenizer.ggml.padding_token_id", {T::kU32, {0}}},
      {"tokenizer.ggml.add_bos_token", {T::kBool, {1}}},
      {"tokenizer.ggml.add_eos_token", {T::kBool, {0}}},
      {"tokenizer.ggml.add_space_prefix", {T::kBool, {0}}},
  };
  std::set<std::string> keys = {"general.architecture", "general.name", "tokenizer.ggml.model", "tokenizer.ggml.tokens",
                                "tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
  for (const auto& [k, w] : want) {
    INFO(k);
    keys.insert(k);
    const q::GgufValue* v = g->find(k);
    REQUIRE(v);
    if (w.array) {
      CHECK(v->type == T::kArray);
      CHECK(v->elem == w.type);
      const auto got = g->get_int_array(k);
      REQUIRE(got);
      CHECK(std::vector<double>(got->begin(), got->end()) == w.values);
    } else {
      CHECK(v->type == w.type);
      if (w.type == T::kF32) CHECK(g->get_float(k) == w.values[0]);
      else if (w.type == T::kBool) CHECK(g->get_bool(k) == (w.values[0] != 0));
      else CHECK(static_cast<double>(*g->get_int(k)) == w.values[0]);
    }
  }
  std::set<std::string> got_keys;
  for (const auto& [k, v] : g->metadata()) got_keys.insert(std::string(k));
  CHECK(got_keys == keys);
  CHECK(g->get_string("tokenizer.ggml.model") == std::optional<std::string_view>("llama"));
  const auto toks = g->get_string_array("tokenizer.ggml.tokens");
  REQUIRE(toks);
  CHECK(toks->size() == 320);  // llama.cpp sizes token_embd by the token list
  CHECK((*toks)[2] == "<bos>");

  // Tensors as llama.cpp's load_arch_tensors creates them (ne order), and where each comes from.
  struct Expect {
    std::vector<uint64_t> ne;
    std::string source;  // checkpoint tensor; "" = generated
  };
  std::map<std::string, Expect> expect = {
      {"rope_freqs.weight", {{16}, ""}},  // n_embd_head/2 of the full layer
      {"token_embd.weight", {{32, 320}, "model.embed_tokens.weight"}},
      {"output_norm.weight", {{32}, "model.norm.weight"}},
      {"nextn.pre_projection.weight", {{128, 32}, "pre_projection.weight"}},   // {2*n_embd_backbone, n_embd}
      {"nextn.post_projection.weight", {{32, 64}, "post_projection.weight"}},  // {n_embd, n_embd_backbone}
  };
  for (int l = 0; l < 2; ++l) {
    const uint64_t qd = l == 0 ? 4 * 16 : 4 * 32, hd = l == 0 ? 16 : 32;
    const std::string b = "blk." + std::to_string(l) + ".", s = "model.layers." + std::to_string(l) + ".";
    expect[b + "attn_norm.weight"] = {{32}, s + "input_layernorm.weight"};
    expect[b + "attn_q.weight"] = {{32, qd}, s + "self_attn.q_proj.weight"};
    expect[b + "attn_output.weight"] = {{qd, 32}, s + "self_attn.o_proj.weight"};
    expect[b + "attn_q_norm.weight"] = {{hd}, s + "self_attn.q_norm.weight"};
    expect[b + "post_attention_norm.weight"] = {{32}, s + "post_attention_layernorm.weight"};
    expect[b + "layer_output_scale.weight"] = {{1}, s + "layer_scalar"};
    expect[b + "ffn_norm.weight"] = {{32}, s + "pre_feedforward_layernorm.weight"};
    expect[b + "ffn_gate.weight"] = {{32, 64}, s + "mlp.gate_proj.weight"};
    expect[b + "ffn_up.weight"] = {{32, 64}, s + "mlp.up_proj.weight"};
    expect[b + "ffn_down.weight"] = {{64, 32}, s + "mlp.down_proj.weight"};
    expect[b + "post_ffw_norm.weight"] = {{32}, s + "post_feedforward_layernorm.weight"};
  }
  const m::Checkpoint ck = m::Checkpoint::open(d);
  REQUIRE(g->tensors().size() == expect.size());
  REQUIRE(ck.size() + 1 == expect.size());  // every checkpoint tensor is in the file, plus rope_freqs
  for (const auto& t : g->tensors()) {
    const std::string name(t.name);
    INFO(name);
    REQUIRE(expect.count(name) == 1);
    const Expect& e = expect.at(name);
    CHECK(t.ne == e.ne);
    const std::string data = drafter_gguf_bytes(*g, t);
    if (e.source.empty()) {
      CHECK(t.type == 0);
      std::vector<float> v(16);
      std::memcpy(v.data(), data.data(), 64);
      for (int i = 0; i < 16; ++i) CHECK(v[i] == (i < 4 ? 1.0f : 1e30f));  // 32 * 0.25 / 2 = 4 pairs rotate
    } else if (e.ne.size() == 1) {
      CHECK(t.type == 0);  // F32, as stored values (Gemma 4 norms: no +1 shift)
      torch::Tensor w = ck.view(e.source).to(torch::kFloat32).contiguous();
      CHECK(data == std::string(reinterpret_cast<const char*>(w.data_ptr<float>()), w.numel() * 4));
    } else {
      CHECK(t.type == 30);  // BF16 as stored, byte for byte
      CHECK(data == drafter_gguf_ck_bytes(ck, e.source));
    }
  }
}

TEST_CASE("GGUF drafter export: the tensor name map", "[unit][gguf]") {
  using g4u::quant::gguf_drafter_tensor_name;
  CHECK(gguf_drafter_tensor_name("pre_projection.weight") == std::optional<std::string>("nextn.pre_projection.weight"));
  CHECK(gguf_drafter_tensor_name("model.layers.3.layer_scalar") == std::optional<std::string>("blk.3.layer_output_scale.weight"));
  CHECK(!gguf_drafter_tensor_name("model.layers.0.self_attn.k_proj.weight").has_value());  // Q-only attention
  CHECK(!gguf_drafter_tensor_name("model.language_model.embed_tokens.weight").has_value());
  CHECK(!gguf_drafter_tensor_name("masked_embedding.centroids.weight").has_value());
  // Every tensor of every assistant preset has a name.
  for (const auto& p : g4u::model::assistant_preset_names())
    for (const auto& s : g4u::model::assistant_tensor_specs(*g4u::model::assistant_preset(p))) {
      INFO(p << " " << s.name);
      CHECK(gguf_drafter_tensor_name(s.name).has_value());
    }
}

TEST_CASE("GGUF drafter export: --target writes the target's vocabulary and checks the fit", "[unit][gguf]") {
  namespace q = g4u::quant;
  namespace m = g4u::model;
  g4u::test::ScratchDir dir("gguf_drafter_target");
  const std::string t = dir / "t", d = dir / "d", tg = dir / "t.gguf";
  m::write_random_checkpoint(*m::model_preset("small"), t, 3);
  m::write_random_drafter_checkpoint("small-assistant", d, 4);
  q::export_gguf(t, tg);
  const auto target = q::GgufFile::open(tg);
  for (const std::string& from : {t, tg}) {
    INFO(from);
    const std::string out = dir / (from == t ? "d1.gguf" : "d2.gguf");
    q::GgufExportOptions opt;
    opt.target = from;
    const nlohmann::json s = q::export_gguf(d, out, opt);
    CHECK(s["tokenizer"] == (from == t ? "byte" : "copied"));
    const auto g = q::GgufFile::open(out);
    // Every tokenizer key of the target's own GGUF, encoded identically (type, count, bytes), and no other.
    std::set<std::string> mine, theirs;
    for (const auto& [k, v] : g->metadata())
      if (k.rfind("tokenizer.", 0) == 0) mine.insert(std::string(k));
    for (const auto& [k, v] : target->metadata()) {
      if (k.rfind("tokenizer.", 0) != 0) continue;
      theirs.insert(std::string(k));
      INFO(k);
      const q::GgufValue* mv = g->find(k);
      REQUIRE(mv);
      CHECK(mv->type == v.type);
      CHECK(mv->elem == v.elem);
      CHECK(mv->count == v.count);
      CHECK(mv->data == v.data);
    }
    CHECK(mine == theirs);
    CHECK(g->get_int("gemma4-assistant.embedding_length_out") == 256);  // small's hidden size
  }
  // A drafter that does not fit the target: named, nothing written.
  const std::string tiny = dir / "tiny", out = dir / "bad.gguf";
  m::write_random_checkpoint(*m::model_preset("tiny"), tiny, 3);
  q::GgufExportOptions opt;
  opt.target = tiny;
  g4u::test::expect_input_error([&] { q::export_gguf(d, out, opt); }, "backbone_hidden_size 256");
  CHECK(!std::filesystem::exists(out));
  // --target is for drafters only.
  opt.target = d;
  g4u::test::expect_input_error([&] { q::export_gguf(t, out, opt); }, "only a drafter");
  opt.target = dir / "nothing";
  g4u::test::expect_input_error([&] { q::export_gguf(d, out, opt); }, "neither a target checkpoint folder nor a GGUF");
  CHECK(!std::filesystem::exists(out));
  drafter_gguf_no_temps(dir.path);
}

TEST_CASE("GGUF drafter export: bad drafter checkpoints are named and leave no output", "[unit][gguf]") {
  namespace q = g4u::quant;
  namespace m = g4u::model;
  g4u::test::ScratchDir dir("gguf_drafter_bad");
  const std::string d = dir / "d", out = dir / "x.gguf";
  m::write_random_drafter_checkpoint("tiny-assistant", d, 6, torch::kFloat32);
  // A missing tensor.
  drafter_gguf_rewrite(d, dir / "missing", "post_projection.weight");
  g4u::test::expect_input_error([&] { q::export_gguf(dir / "missing", out); }, "tensor post_projection.weight is missing");
  // A tensor the drafter has no use for (no llama.cpp counterpart either).
  drafter_gguf_rewrite(d, dir / "extra", "", {{"model.layers.0.self_attn.k_proj.weight", torch::zeros({32, 32})}});
  g4u::test::expect_input_error([&] { q::export_gguf(dir / "extra", out); },
                                "unexpected tensor model.layers.0.self_attn.k_proj.weight");
  // A misshapen tensor.
  drafter_gguf_rewrite(d, dir / "shape", "model.norm.weight", {{"model.norm.weight", torch::ones({31})}});
  g4u::test::expect_input_error([&] { q::export_gguf(dir / "shape", out); }, "model.norm.weight has shape [31]");
  // A drafter as wide as its target: llama.cpp's loader refuses it, so nothing is written.
  {
    std::filesystem::create_directories(dir / "wide");
    auto cfg = g4u::read_json_file(d + "/config.json");
    cfg["backbone_hidden_size"] = 32;
    g4u::write_file_atomic(dir / "wide/config.json", cfg.dump());
    std::filesystem::copy_file(d + "/model.safetensors", dir / "wide/model.safetensors");
    g4u::test::expect_input_error([&] { q::export_gguf(dir / "wide", out); }, "embedding_length_out");
  }
  CHECK(!std::filesystem::exists(out));
  drafter_gguf_no_temps(dir.path);

  // fp32 drafter: fp32 matrices and ALL_F32; a good export then refuses to overwrite.
  const nlohmann::json s = q::export_gguf(d, out);
  const auto g = q::GgufFile::open(out);
  CHECK(g->get_int("general.file_type") == 0);
  CHECK(g->tensor("nextn.pre_projection.weight")->type == 0);
  CHECK(s["tensor_count"] == 27);
  g4u::test::expect_input_error([&] { q::export_gguf(d, out); }, "already exists");

  // g4u's GGUF import takes gemma4 targets only and names the drafter.
  g4u::test::expect_input_error([&] { q::load_gguf_model(out); }, "'gemma4-assistant' is not supported");
  g4u::test::expect_input_error([&] { q::load_gguf_model(out); }, "the assistant drafter GGUF is not a --model");
}

TEST_CASE("CLI: export-gguf of a drafter checkpoint", "[integration]") {
  g4u::test::ScratchDir dir("gguf_drafter_cli");
  const std::string d = dir / "d", t = dir / "t";
  REQUIRE(run_g4u("init --model tiny-assistant --out " + d).code == 0);
  REQUIRE(run_g4u("init --model tiny --out " + t).code == 0);
  using g4u::test::run_g4u;
  const nlohmann::json s = g4u::test::run_g4u_json("export-gguf --model " + d + " --target " + t + " --out " + (dir / "d.gguf") + " --json");
  CHECK(s["architecture"] == "gemma4-assistant");
  CHECK(s["tensor_count"] == 27);
  auto r = run_g4u("export-gguf -q --model " + t + " --target " + d + " --out " + (dir / "x.gguf"));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("only a drafter"));
  CHECK(!std::filesystem::exists(dir / "x.gguf"));
}
