#include "quant/io/gguf.h"

#include "model/io/config.h"
#include "base/error.h"
#include "base/json_util.h"
#include "base/temp_files.h"
#include "model/io/safetensors.h"
#include "model/io/tensor_specs.h"
#include "model/mtp/assistant.h"
#include "model/text/special_tokens.h"
#include "model/text/tokenizer.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf_import.h"
#include "quant/io/gguf_reader.h"
#include "quant/formats/interleave.h"
#include "quant/formats/scheme.h"
#include "quant/layer/policy.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF writer emits host-order (little endian) values");

namespace g4u::quant {
namespace fs = std::filesystem;

// Helpers live in a named namespace: quant/*.cpp are combined into one unity translation unit.
namespace gguf_detail {

constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kCopyPiece = uint64_t(64) << 20;  // bytes copied per write

// GGUF metadata value types (gguf.h enum gguf_type).
enum ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9,
  kU64 = 10, kI64 = 11, kF64 = 12,
};

// llama.cpp token types (llama.h enum llama_token_type); SentencePiece's ModelProto uses the same numbers.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Little-endian byte buffer for the header.
struct Buf {
  std::string b;
  template <typename T>
  void put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(std::string_view s) {
    put<uint64_t>(s.size());
    b.append(s.data(), s.size());
  }
};

// The KV section, counted as it is built. Value types follow gguf-py's writer (what llama.cpp's
// own converter emits): counts and sizes u32, hyper-parameters f32, int arrays i32, flags bool.
struct Kv {
  Buf buf;
  uint64_t count = 0;
  std::vector<std::string> keys;

  void key(const std::string& k, ValueType t) {
    buf.str(k);
    buf.put<uint32_t>(t);
    keys.push_back(k);
    ++count;
  }
  void u32(const std::string& k, uint32_t v) { key(k, kU32); buf.put(v); }
  void f32(const std::string& k, float v) { key(k, kF32); buf.put(v); }
  void boolean(const std::string& k, bool v) { key(k, kBool); buf.put<uint8_t>(v ? 1 : 0); }
  void string(const std::string& k, std::string_view v) { key(k, kString); buf.str(v); }
  void array_header(const std::string& k, ValueType elem, uint64_t n) {
    key(k, kArray);
    buf.put<uint32_t>(elem);
    buf.put<uint64_t>(n);
  }
  void i32s(const std::string& k, const std::vector<int32_t>& v) {
    array_header(k, kI32, v.size());
    for (int32_t x : v) buf.put(x);
  }
  void f32s(const std::string& k, const std::vector<float>& v) {
    array_header(k, kF32, v.size());
    for (float x : v) buf.put(x);
  }
  void bools(const std::string& k, const std::vector<bool>& v) {
    array_header(k, kBool, v.size());
    for (bool x : v) buf.put<uint8_t>(x ? 1 : 0);
  }
  void strings(const std::string& k, const std::vector<std::string>& v) {
    array_header(k, kString, v.size());
    for (const auto& s : v) buf.str(s);
  }
};

// One tensor of the output: where its bytes come from and how they are laid out.
struct OutTensor {
  std::string name;          // llama.cpp name
  std::string source;        // checkpoint tensor (or "generated")
  std::vector<uint64_t> ne;  // ggml order: ne[0] innermost
  uint32_t type = ggml_type::kF32;
  uint64_t nbytes = 0;
  uint64_t offset = 0;  // relative to the data section
  // Exactly one of: raw bytes in the checkpoint (copied as they are), or bytes prepared here
  // (1-D tensors converted to F32, generated tensors).
  const model::TensorInfo* raw = nullptr;
  const model::SafetensorsFile* file = nullptr;
  // Raw q4_0 / q4_k rows in the kernels' interleaved order (a version-2 checkpoint): written back
  // in ggml's storage order, row by row.
  const SchemeTraits* interleaved = nullptr;
  int64_t cols = 0;
  std::vector<uint8_t> bytes;
};

const char* type_name(uint32_t t) {
  switch (t) {
    case ggml_type::kF32: return "F32";
    case ggml_type::kF16: return "F16";
    case ggml_type::kBF16: return "BF16";
  }
  for (const SchemeTraits* s : all_schemes())
    if (s->has_ggml_type() && s->ggml.type == t) return s->ggml.type_name.data();
  return "?";
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Drops copied pages of the mapped checkpoint from this process (they stay in the page cache), so
// exporting a checkpoint larger than memory does not grow the resident set.
void drop_pages(const uint8_t* p, uint64_t n) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n + page - 1) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// The output file while it is written: "<out>.tmp.<pid>", removed unless committed.
class TempOutput {
 public:
  TempOutput(std::string final_path)
      : final_(std::move(final_path)), tmp_(final_ + ".tmp." + std::to_string(getpid())) {
    check_replaceable_output(final_);
    remove_stale_temps(final_);
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) throw_input("--out {}: cannot create the file: {}", final_, std::strerror(errno));
  }
  ~TempOutput() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  TempOutput(const TempOutput&) = delete;
  TempOutput& operator=(const TempOutput&) = delete;

  void write(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) throw_input("{}: write failed: {}", tmp_, std::strerror(errno));
    written_ += n;
  }
  void zeros(uint64_t n) {
    static const char z[256] = {};
    while (n > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof z));
      write(z, k);
      n -= k;
    }
  }
  uint64_t written() const { return written_; }
  // Flushes to disk and renames onto the final path.
  void commit() {
    if (std::fflush(f_) != 0 || fsync(fileno(f_)) != 0)
      throw_input("{}: flush failed: {}", tmp_, std::strerror(errno));
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) throw_input("{}: close failed: {}", tmp_, std::strerror(errno));
    std::error_code ec;
    fs::rename(tmp_, final_, ec);
    if (ec) throw_input("{}: cannot rename onto {}: {}", tmp_, final_, ec.message());
    committed_ = true;
  }

 private:
  std::string final_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// ---- tokenizer -----------------------------------------------------------------------------------

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::optional<int64_t> unk;
};

// Minimal protobuf reader for SentencePiece's ModelProto: only `repeated SentencePiece pieces = 1`
// ({string piece = 1; float score = 2; Type type = 3 [default NORMAL]}) is read; other fields
// (trainer/normalizer specs) are skipped by wire type.
struct ProtoReader {
  const uint8_t* p;
  const uint8_t* end;
  std::string where;

  bool done() const { return p >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) throw_input("{}: truncated protobuf varint", where);
      const uint8_t b = *p++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw_input("{}: malformed protobuf varint", where);
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end - p)) throw_input("{}: truncated protobuf field", where);
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  uint32_t fixed32() {
    if (end - p < 4) throw_input("{}: truncated protobuf field", where);
    uint32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1:
        if (end - p < 8) throw_input("{}: truncated protobuf field", where);
        p += 8;
        break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default: throw_input("{}: unsupported protobuf wire type {}", where, wire);
    }
  }
};

Vocab sentencepiece_vocab(const std::string& path, int64_t vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot read the SentencePiece model", path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  const auto* base = reinterpret_cast<const uint8_t*>(data.data());
  ProtoReader model{base, base + data.size(), path};
  Vocab v;
  while (!model.done()) {
    const uint64_t tag = model.varint();
    if ((tag >> 3) != 1 || (tag & 7) != 2) {
      model.skip(static_cast<uint32_t>(tag & 7));
      continue;
    }
    const std::string_view msg = model.bytes();
    const auto* mp = reinterpret_cast<const uint8_t*>(msg.data());
    ProtoReader piece{mp, mp + msg.size(), path};
    std::string text;
    float score = 0.f;
    int32_t type = kNormal;
    while (!piece.done()) {
      const uint64_t t = piece.varint();
      const uint32_t field = static_cast<uint32_t>(t >> 3), wire = static_cast<uint32_t>(t & 7);
      if (field == 1 && wire == 2) {
        text = std::string(piece.bytes());
      } else if (field == 2 && wire == 5) {
        const uint32_t bits = piece.fixed32();
        std::memcpy(&score, &bits, 4);
      } else if (field == 3 && wire == 0) {
        type = static_cast<int32_t>(piece.varint());
      } else {
        piece.skip(wire);
      }
    }
    if (type < kNormal || type > kByte) throw_input("{}: piece {} ('{}') has unknown type {}", path, v.tokens.size(), text, type);
    if (type == kUnknown && !v.unk) v.unk = static_cast<int64_t>(v.tokens.size());
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (v.tokens.empty()) throw_input("{}: no pieces in the SentencePiece model", path);
  if (static_cast<int64_t>(v.tokens.size()) > vocab_size)
    throw_input("{}: {} pieces, more than the config's vocab_size {}", path, v.tokens.size(), vocab_size);
  // llama.cpp sizes token_embd by the token list: pad to the embedding rows like its converter does.
  for (int64_t id = static_cast<int64_t>(v.tokens.size()); id < vocab_size; ++id) {
    v.tokens.push_back("[PAD" + std::to_string(id) + "]");
    v.scores.push_back(0.f);
    v.types.push_back(kUnused);
  }
  return v;
}

// g4u's byte tokenizer as a SentencePiece-style vocabulary: specials as control tokens, byte b at
// 32 + b as the byte piece "<0xBB>", the reserved rest as unused.
Vocab byte_vocab(int64_t vocab_size) {
  model::ByteTokenizer tok(vocab_size);
  Vocab v;
  for (int64_t id = 0; id < vocab_size; ++id) {
    if (id >= 32 && id < 288) {
      v.tokens.push_back(fmt::format("<0x{:02X}>", id - 32));
      v.types.push_back(kByte);
    } else {
      v.tokens.push_back(tok.piece(id));
      v.types.push_back(id < 32 ? kControl : kUnused);
    }
    v.scores.push_back(0.f);
  }
  return v;
}

// A checkpoint without a vocabulary (g4u_tokenizer "none"): placeholder pieces so llama.cpp can load
// it and run token ids. The config's multimodal markers and the usual Gemma specials (<pad> 0,
// <eos> 1, <bos> 2, <unk> 3) are control tokens, the byte pieces <0x00>..<0xFF> (llama.cpp's
// SentencePiece path looks up <0x0A>) take the first 256 ids after them, the rest are unused.
Vocab placeholder_vocab(const model::ModelConfig& cfg) {
  const int64_t n = cfg.text.vocab_size;
  Vocab v;
  v.tokens.resize(static_cast<size_t>(n));
  v.scores.assign(static_cast<size_t>(n), 0.f);
  v.types.assign(static_cast<size_t>(n), kUnused);
  const std::pair<int64_t, const char*> specials[] = {
      {0, "<pad>"}, {1, "<eos>"}, {2, "<bos>"}, {3, "<unk>"},
      {cfg.tokens.boi, "<|image>"}, {cfg.tokens.eoi, "<image|>"}, {cfg.tokens.image, "<|image|>"},
      {cfg.tokens.boa, "<|audio>"}, {cfg.tokens.eoa, "<audio|>"}, {cfg.tokens.audio, "<|audio|>"},
      {cfg.tokens.video, "<|video|>"}};
  for (const auto& [id, piece] : specials) {
    if (id < 0 || id >= n) continue;
    v.tokens[static_cast<size_t>(id)] = piece;
    v.types[static_cast<size_t>(id)] = id == 3 ? kUnknown : kControl;
  }
  v.unk = 3;
  int64_t next_byte = 0;
  for (int64_t id = 0; id < n; ++id) {
    if (!v.tokens[static_cast<size_t>(id)].empty()) continue;
    if (next_byte < 256) {
      v.tokens[static_cast<size_t>(id)] = fmt::format("<0x{:02X}>", next_byte++);
      v.types[static_cast<size_t>(id)] = kByte;
    } else {
      v.tokens[static_cast<size_t>(id)] = "[PAD" + std::to_string(id) + "]";
    }
  }
  if (next_byte < 256) throw_input("vocab_size {} is too small for a placeholder vocabulary (256 byte pieces)", n);
  return v;
}

// ---- tensors -------------------------------------------------------------------------------------

std::optional<uint32_t> float_type(model::DType d) {
  switch (d) {
    case model::DType::kF32: return ggml_type::kF32;
    case model::DType::kF16: return ggml_type::kF16;
    case model::DType::kBF16: return ggml_type::kBF16;
    default: return std::nullopt;
  }
}

// "q4_0, q4_1, q4_k, q6_k, q8_0 and iq4_nl": the schemes that have a ggml type.
std::string ggml_scheme_list() {
  std::vector<std::string> names;
  for (const SchemeTraits* s : all_schemes())
    if (s->has_ggml_type()) names.emplace_back(s->name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}

std::optional<int> llama_file_type(const std::string& recipe) {
  for (const Recipe& r : all_recipes())
    if (r.name == recipe && r.llama_ftype >= 0) return r.llama_ftype;
  return std::nullopt;
}


// ---- shared by the target and the drafter export ---------------------------------------------------

// --out must name a new file in an existing folder.
void check_output_path(const std::string& out_path) {
  if (out_path.empty()) throw_input("--out: empty path");
  fs::path parent = fs::path(out_path).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::is_directory(parent))
    throw_input("--out {}: {} {}", out_path, parent.string(),
                fs::exists(parent) ? "is not a folder" : "does not exist (create the folder first)");
  if (fs::exists(out_path)) throw_input("--out {}: already exists (remove it or choose another path)", out_path);
}

// general.name: the checkpoint folder's name.
std::string general_name(const std::string& model_dir) {
  // fs::path("a/b/").filename() is empty: normalise first.
  const fs::path p = fs::absolute(model_dir).lexically_normal();
  const std::string last = p.filename().string();
  return last.empty() ? p.parent_path().filename().string() : last;
}

// Full-attention layers use proportional RoPE: only the first partial_rotary_factor of each
// head's frequency pairs rotate. llama.cpp's NEOX rope rotates all n_rot dims and takes per-pair
// frequency factors from rope_freqs.weight; a factor of 1e30 makes a pair's angle ~0 (unrotated),
// which is how its converter encodes this (one tensor, shared by all full layers).
OutTensor rope_freqs_tensor(const model::TextConfig& tc) {
  const int64_t pairs = tc.full.head_dim / 2;
  const auto rotated = static_cast<int64_t>(tc.full.head_dim * tc.rope_full.partial_rotary_factor / 2);
  OutTensor t;
  t.name = "rope_freqs.weight";
  t.source = "generated (rope_full.partial_rotary_factor)";
  t.ne = {static_cast<uint64_t>(pairs)};
  t.type = ggml_type::kF32;
  std::vector<float> f(static_cast<size_t>(pairs), 1e30f);
  std::fill(f.begin(), f.begin() + std::min(rotated, pairs), 1.0f);
  t.bytes.resize(f.size() * sizeof(float));
  std::memcpy(t.bytes.data(), f.data(), t.bytes.size());
  t.nbytes = t.bytes.size();
  return t;
}

// A float tensor of the checkpoint as `gguf_name`: 1-D tensors (norms, layer scalars) converted to
// F32 as llama.cpp's converter writes every 1-D tensor, matrices copied in their dtype (F32, F16,
// BF16). InputError naming the tensor when it is missing, misshapen or not floating point.
OutTensor float_tensor(const model::Checkpoint& ck, const model::TensorSpec& spec, const std::string& gguf_name) {
  const std::string& ck_path = ck.path();
  OutTensor t;
  t.name = gguf_name;
  t.source = spec.name;
  for (auto it = spec.shape.rbegin(); it != spec.shape.rend(); ++it) t.ne.push_back(static_cast<uint64_t>(*it));
  if (!ck.contains(spec.name)) throw_input("{}: tensor {} is missing", ck_path, spec.name);
  const auto& info = ck.info(spec.name);
  if (info.shape != spec.shape)
    throw_input("{}: tensor {} has shape [{}], the config needs [{}]", ck_path, ck.disk_name(spec.name),
                fmt::join(info.shape, ", "), fmt::join(spec.shape, ", "));
  const std::optional<uint32_t> ft = float_type(info.dtype);
  if (spec.shape.size() == 1) {
    if (!ft && info.dtype != model::DType::kF64)
      throw_input("{}: tensor {} has dtype {}, expected a floating-point type", ck_path, ck.disk_name(spec.name),
                  model::dtype_name(info.dtype));
    torch::Tensor f = ck.view(spec.name).to(torch::kFloat32).contiguous();
    t.type = ggml_type::kF32;
    t.bytes.resize(static_cast<size_t>(f.numel()) * sizeof(float));
    std::memcpy(t.bytes.data(), f.data_ptr<float>(), t.bytes.size());
    t.nbytes = t.bytes.size();
  } else {
    if (!ft)
      throw_input("{}: tensor {} has dtype {}; GGUF export writes F32, F16 or BF16 matrices", ck_path,
                  ck.disk_name(spec.name), model::dtype_name(info.dtype));
    t.type = *ft;
    t.raw = &info;
    t.file = &ck.file_of(spec.name);
    t.nbytes = info.nbytes;
  }
  return t;
}

// llama_ftype of a float checkpoint from its token table's dtype: ALL_F32, MOSTLY_F16, MOSTLY_BF16.
uint32_t float_file_type(model::DType d) { return d == model::DType::kF32 ? 0 : d == model::DType::kF16 ? 1 : 32; }

// The vocabulary a target checkpoint's own export writes (its g4u_tokenizer).
Vocab checkpoint_vocab(const model::ModelConfig& cfg, const std::string& model_dir) {
  if (cfg.tokenizer == "byte") return byte_vocab(cfg.text.vocab_size);
  if (cfg.tokenizer == "none") return placeholder_vocab(cfg);
  return sentencepiece_vocab((fs::path(model_dir) / "tokenizer.model").string(), cfg.text.vocab_size);
}

// The tokenizer.ggml.* keys of `vocab` with the special ids of `tc` and `suppress`.
void put_tokenizer(Kv& kv, const Vocab& vocab, const model::TextConfig& tc, const std::vector<int64_t>& suppress) {
  kv.string("tokenizer.ggml.model", "llama");  // SentencePiece-style vocabulary (see quant/README.md)
  kv.strings("tokenizer.ggml.tokens", vocab.tokens);
  kv.f32s("tokenizer.ggml.scores", vocab.scores);
  kv.i32s("tokenizer.ggml.token_type", vocab.types);
  kv.u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tc.bos_token_id));
  if (!tc.eos_token_ids.empty()) kv.u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tc.eos_token_ids[0]));
  kv.u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(tc.pad_token_id));
  if (vocab.unk) kv.u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(*vocab.unk));
  kv.boolean("tokenizer.ggml.add_bos_token", true);
  kv.boolean("tokenizer.ggml.add_eos_token", false);
  kv.boolean("tokenizer.ggml.add_space_prefix", false);
  if (!suppress.empty()) {
    std::vector<int32_t> s(suppress.begin(), suppress.end());
    kv.i32s("tokenizer.ggml.suppress_tokens", s);
  }
}

// The decoder hyper-parameters both architectures read under "<arch>.": sizes, attention geometry
// per layer, sliding window and pattern, KV sharing, RoPE.
void put_decoder_keys(Kv& kv, const std::string& a, const model::TextConfig& tc) {
  kv.u32(a + "context_length", static_cast<uint32_t>(tc.max_position_embeddings));
  kv.u32(a + "embedding_length", static_cast<uint32_t>(tc.hidden_size));
  kv.u32(a + "block_count", static_cast<uint32_t>(tc.num_layers));
  kv.u32(a + "feed_forward_length", static_cast<uint32_t>(tc.intermediate_size));
  std::vector<int32_t> heads, kv_heads;
  std::vector<bool> swa;
  for (model::LayerType lt : tc.layer_types) {
    heads.push_back(static_cast<int32_t>(tc.geometry(lt).num_heads));
    kv_heads.push_back(static_cast<int32_t>(tc.geometry(lt).num_kv_heads));
    swa.push_back(lt == model::LayerType::kSliding);
  }
  if (tc.sliding.num_heads == tc.full.num_heads) {
    kv.u32(a + "attention.head_count", static_cast<uint32_t>(tc.sliding.num_heads));
  } else {
    kv.i32s(a + "attention.head_count", heads);
  }
  kv.i32s(a + "attention.head_count_kv", kv_heads);
  kv.u32(a + "attention.key_length", static_cast<uint32_t>(tc.full.head_dim));
  kv.u32(a + "attention.value_length", static_cast<uint32_t>(tc.full.head_dim));
  kv.u32(a + "attention.key_length_swa", static_cast<uint32_t>(tc.sliding.head_dim));
  kv.u32(a + "attention.value_length_swa", static_cast<uint32_t>(tc.sliding.head_dim));
  kv.f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(tc.rms_norm_eps));
  kv.u32(a + "attention.sliding_window", static_cast<uint32_t>(tc.sliding_window));
  kv.bools(a + "attention.sliding_window_pattern", swa);
  kv.u32(a + "attention.shared_kv_layers", static_cast<uint32_t>(tc.num_kv_shared_layers));
  kv.f32(a + "rope.freq_base", static_cast<float>(tc.rope_full.theta));
  kv.f32(a + "rope.freq_base_swa", static_cast<float>(tc.rope_sliding.theta));
  // Full layers: all head dims go through rope, the partial factor is in rope_freqs.weight.
  kv.u32(a + "rope.dimension_count", static_cast<uint32_t>(tc.full.head_dim));
  kv.u32(a + "rope.dimension_count_swa",
         static_cast<uint32_t>(tc.sliding.head_dim * tc.rope_sliding.partial_rotary_factor));
}

// The summary export_gguf returns (gguf.h), for the target and the drafter alike.
nlohmann::json export_summary(const std::string& out_path, const std::string& model_dir, const std::string& arch,
                              uint32_t align, size_t tensor_count, const Kv& kv, uint64_t file_bytes,
                              const nlohmann::json& listed, const nlohmann::json& skipped, const std::string& tokenizer,
                              const nlohmann::json& notes) {
  return {{"out", out_path},
          {"source", model_dir},
          {"architecture", arch},
          {"version", kGgufVersion},
          {"alignment", align},
          {"tensor_count", tensor_count},
          {"kv_count", kv.count},
          {"kv_keys", kv.keys},
          {"file_bytes", file_bytes},
          {"tensors", listed},
          {"skipped", skipped},
          {"tokenizer", tokenizer},
          {"notes", notes}};
}

// Lays out `tensors` after the header of `kv`, streams everything into a temp file beside
// `out_path` and renames it there. Returns the per-tensor listing of the summary and the file size.
std::pair<nlohmann::json, uint64_t> write_gguf(std::vector<OutTensor>& tensors, const Kv& kv, uint32_t align,
                                               const std::string& out_path, const GgufExportOptions& opt) {
  uint64_t cursor = 0;
  for (auto& t : tensors) {
    t.offset = align_up(cursor, align);
    cursor = t.offset + t.nbytes;
  }
  const uint64_t data_bytes = align_up(cursor, align);
  Buf head;
  head.b.append("GGUF", 4);
  head.put<uint32_t>(kGgufVersion);
  head.put<uint64_t>(tensors.size());
  head.put<uint64_t>(kv.count);
  head.b += kv.buf.b;
  for (const auto& t : tensors) {
    head.str(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) head.put<uint64_t>(d);
    head.put<uint32_t>(t.type);
    head.put<uint64_t>(t.offset);
  }
  const uint64_t data_start = align_up(head.b.size(), align);

  TempOutput out(out_path);
  out.write(head.b.data(), head.b.size());
  out.zeros(data_start - head.b.size());
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& t : tensors) {
    out.zeros(data_start + t.offset - out.written());
    if (t.raw && t.interleaved) {
      const uint8_t* p = t.file->data(*t.raw);
      const uint64_t row_bytes = static_cast<uint64_t>(t.interleaved->storage(*t.interleaved, 1, t.cols).data);
      const uint64_t rows_per_piece = std::max<uint64_t>(1, kCopyPiece / row_bytes);
      std::vector<uint8_t> piece;
      for (uint64_t off = 0; off < t.nbytes; off += rows_per_piece * row_bytes) {
        const uint64_t len = std::min(rows_per_piece * row_bytes, t.nbytes - off);
        piece.resize(static_cast<size_t>(len));
        for (uint64_t r = 0; r < len; r += row_bytes) detail::deinterleave_row(*t.interleaved, t.cols, p + off + r, piece.data() + r);
        out.write(piece.data(), piece.size());
        drop_pages(p + off, len);
      }
    } else if (t.raw) {
      const uint8_t* p = t.file->data(*t.raw);
      for (uint64_t off = 0; off < t.nbytes; off += kCopyPiece) {
        const uint64_t len = std::min(kCopyPiece, t.nbytes - off);
        out.write(p + off, static_cast<size_t>(len));
        drop_pages(p + off, len);
      }
    } else {
      out.write(t.bytes.data(), t.bytes.size());
    }
    listed.push_back({{"name", t.name}, {"source", t.source}, {"type", type_name(t.type)}, {"dims", t.ne},
                      {"offset", t.offset}, {"bytes", t.nbytes}});
    if (opt.progress)
      opt.progress(fmt::format("{} <- {} ({}, [{}])", t.name, t.source, type_name(t.type), fmt::join(t.ne, ", ")));
  }
  out.zeros(data_start + data_bytes - out.written());
  const uint64_t file_bytes = out.written();
  out.commit();
  return {listed, file_bytes};
}

// Copies one metadata value of another GGUF as it is encoded there.
void copy_value(Kv& kv, const std::string& key, const GgufValue& v) {
  kv.key(key, static_cast<ValueType>(v.type));
  if (v.type == GgufType::kString) {
    kv.buf.str(v.data);
  } else if (v.type == GgufType::kArray) {
    kv.buf.put<uint32_t>(static_cast<uint32_t>(v.elem));
    kv.buf.put<uint64_t>(v.count);
    kv.buf.b.append(v.data.data(), v.data.size());
  } else {
    kv.buf.b.append(v.data.data(), v.data.size());
  }
}

}  // namespace gguf_detail

namespace {

// llama.cpp's name of a decoder layer's tensor, from the name after "<layers prefix>.N.";
// `q_only`: the assistant drafter's layers, whose attention has no K/V of its own.
std::optional<std::string> gguf_layer_tensor_name(const std::string& name, const std::regex& layer_re, bool q_only) {
  static const std::map<std::string, std::string> per_layer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"post_attention_layernorm.weight", "post_attention_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"layer_scalar", "layer_output_scale.weight"},
  };
  std::smatch m;
  if (!std::regex_match(name, m, layer_re)) return std::nullopt;
  const std::string sub = m[2];
  if (q_only && (sub == "self_attn.k_proj.weight" || sub == "self_attn.v_proj.weight" || sub == "self_attn.k_norm.weight"))
    return std::nullopt;
  auto it = per_layer.find(sub);
  if (it == per_layer.end()) return std::nullopt;
  return "blk." + m[1].str() + "." + it->second;
}

}  // namespace

std::optional<std::string> gguf_tensor_name(const std::string& name) {
  const std::string text = model::kTextPrefix;
  if (name == text + "embed_tokens.weight") return "token_embd.weight";
  if (name == text + "norm.weight") return "output_norm.weight";
  static const std::regex re(R"(^model\.language_model\.layers\.(\d+)\.(.+)$)");
  return gguf_layer_tensor_name(name, re, /*q_only=*/false);
}

std::optional<std::string> gguf_drafter_tensor_name(const std::string& name) {
  if (name == "model.embed_tokens.weight") return "token_embd.weight";
  if (name == "model.norm.weight") return "output_norm.weight";
  if (name == "pre_projection.weight") return "nextn.pre_projection.weight";
  if (name == "post_projection.weight") return "nextn.post_projection.weight";
  static const std::regex re(R"(^model\.layers\.(\d+)\.(.+)$)");
  // llama.cpp's gemma4-assistant layer: Q-only attention (no attn_k/attn_v/attn_k_norm).
  return gguf_layer_tensor_name(name, re, /*q_only=*/true);
}

namespace gguf_detail {

// The drafter (gemma4_unified_assistant) as llama.cpp's gemma4-assistant architecture.
nlohmann::json export_drafter_gguf(const std::string& model_dir, const std::string& out_path,
                                   const GgufExportOptions& opt) {
  const uint32_t align = opt.alignment;
  const model::AssistantConfig cfg = model::load_assistant_config(model_dir);
  const model::TextConfig& tc = cfg.text;
  if (is_quantized_checkpoint(model_dir))
    throw_input("--model {}: a quantized drafter checkpoint; g4u quantize writes none and export-gguf exports drafters "
                "in float (F32/F16/BF16) only",
                model_dir);
  // llama.cpp's loader refuses these (src/models/gemma4-assistant.cpp): say so before writing a file it cannot load.
  if (cfg.backbone_hidden_size == tc.hidden_size)
    throw_input("--model {}: backbone_hidden_size {} equals hidden_size: llama.cpp's gemma4-assistant loader requires "
                "embedding_length_out (the target width) to differ from embedding_length",
                model_dir, cfg.backbone_hidden_size);

  nlohmann::json notes = nlohmann::json::array();

  // ---- vocabulary: the target's, so that llama.cpp pairs the two ----
  Vocab vocab;
  std::string tokenizer_kind;
  std::vector<std::pair<std::string, const GgufValue*>> copied;  // tokenizer keys of a target GGUF
  std::shared_ptr<GgufFile> target_gguf;
  model::TextConfig special = tc;  // where bos/eos/pad come from
  std::vector<int64_t> suppress;
  std::optional<model::TextConfig> target_text;
  if (!opt.target.empty()) {
    const std::string where = "--target " + opt.target;
    if (fs::is_directory(opt.target)) {
      const model::ModelConfig tcfg = model::load_model_config(opt.target);
      model::check_assistant_fits(cfg, tcfg.text, where);
      vocab = checkpoint_vocab(tcfg, opt.target);
      tokenizer_kind = tcfg.tokenizer;
      special = tcfg.text;
      suppress = tcfg.suppress_tokens;
      target_text = tcfg.text;
      notes.push_back(fmt::format("vocabulary and special tokens of the target checkpoint {}, as its own export writes them",
                                  opt.target));
    } else if (is_gguf_file(opt.target)) {
      target_gguf = GgufFile::open(opt.target);
      const model::ModelConfig tcfg = gguf_model_config(*target_gguf);
      model::check_assistant_fits(cfg, tcfg.text, where);
      for (const auto& [k, v] : target_gguf->metadata())
        if (k.rfind("tokenizer.", 0) == 0) copied.emplace_back(std::string(k), &v);
      const GgufValue* toks = target_gguf->find("tokenizer.ggml.tokens");
      if (!toks || toks->type != GgufType::kArray || toks->elem != GgufType::kString)
        throw_input("{}: tokenizer.ggml.tokens: missing (the target GGUF has no vocabulary to copy)", where);
      if (static_cast<int64_t>(toks->count) != tc.vocab_size)
        throw_input("{}: tokenizer.ggml.tokens has {} tokens, the drafter's vocab_size is {}", where, toks->count,
                    tc.vocab_size);
      tokenizer_kind = "copied";
      target_text = tcfg.text;
      notes.push_back(fmt::format("tokenizer.* keys copied verbatim from the target GGUF {}", opt.target));
    } else {
      throw_input("{}: neither a target checkpoint folder nor a GGUF file", where);
    }
  } else if (fs::exists(fs::path(model_dir) / "tokenizer.model")) {
    vocab = sentencepiece_vocab((fs::path(model_dir) / "tokenizer.model").string(), tc.vocab_size);
    tokenizer_kind = "sentencepiece";
  } else {
    if (tc.vocab_size < model::kMinByteVocab)
      throw_input("--model {}: no tokenizer.model beside the drafter and vocab_size {} is too small for g4u's byte "
                  "vocabulary; pass --target <target checkpoint or .gguf> to take the target's",
                  model_dir, tc.vocab_size);
    vocab = byte_vocab(tc.vocab_size);
    tokenizer_kind = "byte";
    notes.push_back("no --target and no tokenizer.model: g4u's byte vocabulary is written (the tokenizer of the "
                    "tiny/small/medium targets); pass --target to take another target's vocabulary");
  }
  if (target_text) {
    // llama.cpp shares the target's K/V of layer n_layer-2 with sliding drafter layers and n_layer-1 with
    // full ones (src/llama-model.cpp, LLM_ARCH_GEMMA4_ASSISTANT); g4u takes the last layer of each type.
    const int64_t n = target_text->num_layers;
    const bool same = (!tc.count_layers(model::LayerType::kSliding) ||
                       target_text->last_layer_of(model::LayerType::kSliding) == n - 2) &&
                      (!tc.count_layers(model::LayerType::kFull) ||
                       target_text->last_layer_of(model::LayerType::kFull) == n - 1);
    if (!same)
      notes.push_back("the target's last two layers are not (sliding, full): llama.cpp shares K/V from layers n-2 "
                      "(sliding) and n-1 (full), g4u from the last layer of each type, so the two draft differently");
  }

  // ---- tensors: every one mapped, nothing else in the checkpoint ----
  const std::vector<model::TensorSpec> specs = model::assistant_tensor_specs(cfg);
  model::Checkpoint ck = model::Checkpoint::open(model_dir);
  const std::string ck_path = ck.path();
  std::vector<OutTensor> tensors;
  std::set<std::string> used;
  if (tc.count_layers(model::LayerType::kFull) > 0) tensors.push_back(rope_freqs_tensor(tc));
  for (const auto& spec : specs) {
    const std::optional<std::string> gname = gguf_drafter_tensor_name(spec.name);
    if (!gname) throw_input("{}: tensor {} has no llama.cpp gemma4-assistant counterpart", ck_path, spec.name);
    tensors.push_back(float_tensor(ck, spec, *gname));
    used.insert(spec.name);
  }
  for (const auto& n : ck.names())
    if (!used.count(n)) throw_input("{}: unexpected tensor {} (not part of this drafter config)", ck_path, ck.disk_name(n));

  // ---- metadata ----
  const std::string arch = kGgufDrafterArchitecture;
  const std::string a = arch + ".";
  Kv kv;
  kv.string("general.architecture", arch);
  kv.string("general.name", general_name(model_dir));
  kv.u32("general.alignment", align);
  kv.u32("general.file_type", float_file_type(ck.info("model.embed_tokens.weight").dtype));
  put_decoder_keys(kv, a, tc);
  kv.u32(a + "embedding_length_out", static_cast<uint32_t>(cfg.backbone_hidden_size));  // the target's width
  kv.u32(a + "nextn_predict_layers", static_cast<uint32_t>(tc.num_layers));              // every layer drafts
  if (target_gguf) {
    for (const auto& [k, v] : copied) copy_value(kv, k, *v);
  } else {
    put_tokenizer(kv, vocab, special, suppress);
  }

  const auto [listed, file_bytes] = write_gguf(tensors, kv, align, out_path, opt);

  notes.push_back("the Gemma 4 assistant drafter: llama.cpp loads it as a draft model beside its gemma4 target "
                  "(a context needs the target's context as ctx_other; it reads the target's embeddings and K/V)");
  notes.push_back("tied head: no output.weight, llama.cpp uses token_embd (the drafter's own table)");
  notes.push_back("node-llama-cpp loads it but cannot pair it (no ctx_other); llama.cpp's C API drafts the same tokens as "
                  "g4u (bench/peer/: peer_bench.py interop, drafter section)");
  if (special.eos_token_ids.size() > 1 && !target_gguf)
    notes.push_back(fmt::format("eos_token_id: only the first of [{}] is written", fmt::join(special.eos_token_ids, ", ")));
  return export_summary(out_path, model_dir, arch, align, tensors.size(), kv, file_bytes, listed,
                        nlohmann::json::array(), tokenizer_kind, notes);
}

}  // namespace gguf_detail

nlohmann::json export_gguf(const std::string& model_dir, const std::string& out_path, const GgufExportOptions& opt) {
  using namespace gguf_detail;
  const uint32_t align = opt.alignment;
  if (align == 0 || (align & (align - 1)) != 0) throw_input("alignment {}: must be a power of two", align);

  // ---- inputs, all checked before anything is written ----
  if (!fs::is_directory(model_dir)) throw_input("--model {}: not a checkpoint directory", model_dir);
  check_output_path(out_path);
  if (fs::exists(fs::path(model_dir) / "config.json") && model::is_assistant_config(model_dir))
    return export_drafter_gguf(model_dir, out_path, opt);
  if (!opt.target.empty())
    throw_input("--target {}: only a drafter (gemma4_unified_assistant) export takes a target; {} is a target model",
                opt.target, model_dir);
  const model::ModelConfig cfg = model::load_model_config(model_dir);
  const model::TextConfig& tc = cfg.text;
  const std::vector<model::TensorSpec> specs = model::model_tensor_specs(cfg);
  const bool quantized = is_quantized_checkpoint(model_dir);
  nlohmann::json meta;
  std::string meta_path;
  bool kernel_order = false;  // q4_0 / q4_k qdata in the kernels' interleaved order
  if (quantized) {
    meta_path = (fs::path(model_dir) / kQuantMetadataFile).string();
    meta = read_json_file(meta_path);
    kernel_order = qdata_in_kernel_order(meta, meta_path);
    if (!meta.contains("tensors") || !meta["tensors"].is_object())
      throw_input("{}: tensors: expected an object", meta_path);
  }
  model::Checkpoint ck = model::Checkpoint::open(model_dir);
  if (!quantized) ck.rename(model::canonical_model_tensor_name);
  const std::string ck_path = ck.path();

  std::vector<OutTensor> tensors;
  nlohmann::json skipped = nlohmann::json::array();
  std::set<std::string> used;  // checkpoint tensors accounted for
  bool any_quantized = false;

  if (tc.count_layers(model::LayerType::kFull) > 0) tensors.push_back(rope_freqs_tensor(tc));

  for (const auto& spec : specs) {
    const std::optional<std::string> gname = spec.component == "text" ? gguf_tensor_name(spec.name) : std::nullopt;
    if (!gname) {
      skipped.push_back({{"name", spec.name},
                         {"reason", spec.component == "text" ? "no llama.cpp gemma4 counterpart"
                                                             : spec.component + ": not part of llama.cpp's text GGUF (mmproj)"}});
      // Mark its arrays as accounted for so the completeness check below does not trip.
      used.insert(spec.name);
      for (const char* a : {".qdata", ".qscales", ".qzeros", ".qmeta"}) used.insert(spec.name + a);
      continue;
    }
    if (quantized && meta["tensors"].contains(spec.name)) {
      OutTensor t;
      t.name = *gname;
      t.source = spec.name;
      for (auto it = spec.shape.rbegin(); it != spec.shape.rend(); ++it) t.ne.push_back(static_cast<uint64_t>(*it));
      const std::string where = meta_path + ": tensors." + spec.name;
      const nlohmann::json& tj = meta["tensors"][spec.name];
      if (!tj.is_object() || !tj.contains("scheme") || !tj["scheme"].is_string())
        throw_input("{}: scheme: expected a string", where);
      const std::string scheme_name = tj["scheme"].get<std::string>();
      const SchemeTraits* scheme = lookup_scheme(scheme_name);
      if (!scheme) throw_input("{}: scheme '{}' unknown", where, scheme_name);
      if (!scheme->has_ggml_type())
        throw_input("{}: tensor {} is quantized with scheme {}, which has no ggml type; GGUF export supports "
                    "{} (re-quantize with one of those)",
                    model_dir, spec.name, scheme_name, ggml_scheme_list());
      if (!tj.contains("shape") || tj["shape"] != nlohmann::json(spec.shape))
        throw_input("{}: shape does not match the config's [{}]", where, fmt::join(spec.shape, ", "));
      const StorageSizes ss = scheme->storage(*scheme, spec.shape[0], spec.shape[1]);
      G4U_CHECK(ss.scales == 0 && ss.zeros == 0 && ss.meta == 0, "ggml scheme {} has side arrays", scheme_name);
      const std::string arr = spec.name + ".qdata";
      if (!ck.contains(arr)) throw_input("{}: tensor {} is missing", ck_path, arr);
      const auto& info = ck.info(arr);
      if (info.dtype != model::DType::kU8 || info.shape.size() != 1 || info.shape[0] != ss.data)
        throw_input("{}: tensor {} is {} [{}], scheme {} for [{}] needs U8 [{}]", ck_path, arr,
                    model::dtype_name(info.dtype), fmt::join(info.shape, ", "), scheme_name, fmt::join(spec.shape, ", "),
                    ss.data);
      for (const char* a : {".qscales", ".qzeros", ".qmeta"})
        if (ck.contains(spec.name + a)) throw_input("{}: unexpected tensor {}{} for ggml scheme {}", ck_path, spec.name, a, scheme_name);
      t.type = scheme->ggml.type;
      t.raw = &info;
      t.file = &ck.file_of(arr);
      t.nbytes = info.nbytes;
      if (kernel_order && has_interleaved_order(*scheme)) {
        t.interleaved = scheme;
        t.cols = spec.shape[1];
      }
      used.insert(arr);
      any_quantized = true;
      tensors.push_back(std::move(t));
    } else {
      tensors.push_back(float_tensor(ck, spec, *gname));
      used.insert(spec.name);
    }
  }
  for (const auto& n : ck.names())
    if (!used.count(n)) throw_input("{}: unexpected tensor {} (not part of this config)", ck_path, ck.disk_name(n));

  // ---- tokenizer ----
  const Vocab vocab = checkpoint_vocab(cfg, model_dir);

  // ---- metadata ----
  const std::string arch = "gemma4";
  const std::string a = arch + ".";
  Kv kv;
  kv.string("general.architecture", arch);
  kv.string("general.name", general_name(model_dir));
  kv.u32("general.alignment", align);
  if (any_quantized) kv.u32("general.quantization_version", 2);  // GGML_QNT_VERSION
  {
    // llama_ftype: informative (llama.cpp guesses it from the tensor types when absent).
    std::optional<int> ftype;
    if (quantized) {
      ftype = llama_file_type(meta.value("recipe", ""));
    } else {
      ftype = static_cast<int>(float_file_type(ck.info(model::kTextEmbeddingName).dtype));
    }
    if (ftype) kv.u32("general.file_type", static_cast<uint32_t>(*ftype));
  }
  put_decoder_keys(kv, a, tc);
  kv.u32(a + "embedding_length_per_layer_input", 0);  // no per-layer embeddings; llama.cpp requires the key
  // Always written: llama.cpp applies a cap of 30 when the key is absent; 0 means none.
  kv.f32(a + "final_logit_softcapping", static_cast<float>(std::max(0.0, tc.final_logit_softcapping)));
  put_tokenizer(kv, vocab, tc, cfg.suppress_tokens);

  const auto [listed, file_bytes] = write_gguf(tensors, kv, align, out_path, opt);

  nlohmann::json notes = nlohmann::json::array();
  notes.push_back("text decoder only: llama.cpp keeps vision/audio encoders in a separate mmproj GGUF, not written here");
  notes.push_back("tokenizer.ggml.model is 'llama' (SentencePiece-style vocabulary); llama.cpp's own Gemma 4 "
                  "converter writes 'gemma4' from tokenizer.json, which g4u checkpoints do not have");
  if (cfg.tokenizer == "byte")
    notes.push_back("byte tokenizer exported as byte pieces <0xNN>: llama.cpp's SentencePiece path escapes spaces as "
                    "U+2581 before byte fallback, so its token ids for spaces differ from g4u's");
  if (cfg.tokenizer == "none")
    notes.push_back("the checkpoint has no vocabulary: placeholder pieces (specials, byte pieces, [PADn]); run it on token ids");
  if (tc.eos_token_ids.size() > 1)
    notes.push_back(fmt::format("eos_token_id: only the first of [{}] is written", fmt::join(tc.eos_token_ids, ", ")));
  notes.push_back("llama.cpp loads it (bench/peer/: node-llama-cpp, same greedy tokens as g4u); layout also checked with independent parsers");
  return export_summary(out_path, model_dir, arch, align, tensors.size(), kv, file_bytes, listed, skipped,
                        cfg.tokenizer, notes);
}

}  // namespace g4u::quant
