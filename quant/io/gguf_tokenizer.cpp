#include "quant/io/gguf_tokenizer.h"

#include "base/error.h"
#include "model/text/bpe.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace g4u::quant {
namespace gguf_tokenizer_detail {

// llama.cpp token types (llama.h enum llama_token_type); SentencePiece's piece types use the same numbers.
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// The byte vocabulary `g4u export-gguf` writes for model::ByteTokenizer.
bool is_byte_vocabulary(const std::vector<std::string_view>& tokens, const std::vector<int64_t>& types) {
  const auto n = static_cast<int64_t>(tokens.size());
  if (n < 288) return false;
  model::ByteTokenizer byte(n);
  for (int64_t id = 0; id < n; ++id) {
    if (id >= 32 && id < 288) {
      if (types[id] != kByte || tokens[id] != fmt::format("<0x{:02X}>", id - 32)) return false;
    } else if (types[id] != (id < 32 ? kControl : kUnused) || tokens[id] != byte.piece(id)) {
      return false;
    }
  }
  return true;
}

// Protocol-buffer encoding of SentencePiece's ModelProto (sentencepiece_model.proto): only the
// fields the encoder reads.
struct Proto {
  std::string b;
  void varint(uint64_t v) {
    while (v >= 0x80) {
      b.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    b.push_back(static_cast<char>(v));
  }
  void tag(uint32_t field, uint32_t wire) { varint((uint64_t(field) << 3) | wire); }
  void int_field(uint32_t field, int64_t v) {
    tag(field, 0);
    varint(static_cast<uint64_t>(v));  // negative int32: ten bytes, two's complement
  }
  void bytes_field(uint32_t field, std::string_view s) {
    tag(field, 2);
    varint(s.size());
    b.append(s.data(), s.size());
  }
  void float_field(uint32_t field, float f) {
    tag(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
};

// ModelProto { pieces = 1 {piece = 1, score = 2, type = 3}; trainer_spec = 2 {model_type = 3 (BPE = 2),
// vocab_size = 4, byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43};
// normalizer_spec = 3 {name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5} }.
std::string sentencepiece_model_proto(const std::vector<std::string_view>& tokens, const std::vector<double>& scores,
                                      const std::vector<int64_t>& types, int64_t unk_id, bool add_dummy_prefix,
                                      bool remove_extra_whitespaces) {
  Proto model;
  bool has_bytes = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    Proto piece;
    piece.bytes_field(1, tokens[i]);
    piece.float_field(2, static_cast<float>(scores[i]));
    piece.int_field(3, types[i]);
    model.bytes_field(1, piece.b);
    has_bytes = has_bytes || types[i] == kByte;
  }
  Proto trainer;
  trainer.int_field(3, 2);  // BPE
  trainer.int_field(4, static_cast<int64_t>(tokens.size()));
  trainer.int_field(35, has_bytes ? 1 : 0);
  trainer.int_field(40, unk_id);
  trainer.int_field(41, -1);
  trainer.int_field(42, -1);
  trainer.int_field(43, -1);
  model.bytes_field(2, trainer.b);
  Proto normalizer;
  normalizer.bytes_field(1, "identity");
  normalizer.int_field(3, add_dummy_prefix ? 1 : 0);
  normalizer.int_field(4, remove_extra_whitespaces ? 1 : 0);
  normalizer.int_field(5, 1);
  model.bytes_field(3, normalizer.b);
  return model.b;
}

// An anonymous in-memory file (memfd) holding `bytes`, readable through /proc/self/fd/N.
class MemoryFile {
 public:
  MemoryFile(const std::string& bytes, const std::string& where) {
    fd_ = ::memfd_create("g4u-gguf-tokenizer", MFD_CLOEXEC);
    if (fd_ < 0) throw_input("{}: cannot create an in-memory tokenizer file: {}", where, std::strerror(errno));
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n <= 0) throw_input("{}: cannot write the in-memory tokenizer file: {}", where, std::strerror(errno));
      done += static_cast<size_t>(n);
    }
  }
  ~MemoryFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

// llama.cpp's Gemma 4 converter writes the tokenizer.json's BPE: tokens in id order, their types,
// and the merges ("left right", rank order). Its added tokens come back as CONTROL (special) or
// USER_DEFINED pieces, matched in the raw text as HF matches them; the text pipeline is Gemma's
// (model/text/bpe.h set_gemma_text_pipeline).
model::BpeVocab gemma4_bpe_vocab(const GgufFile& f, const std::vector<std::string_view>& tokens,
                                 const std::vector<int64_t>& types) {
  const std::string& path = f.path();
  auto merges = f.get_string_array("tokenizer.ggml.merges");
  if (!merges) throw_input("{}: tokenizer.ggml.merges: missing (a 'gemma4' BPE vocabulary needs its merges)", path);
  model::BpeVocab v;
  v.pieces.assign(tokens.begin(), tokens.end());
  v.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i)
    v.merges.push_back(model::split_merge_line(std::string((*merges)[i]), fmt::format("{}: tokenizer.ggml.merges[{}]", path, i)));
  for (size_t id = 0; id < tokens.size(); ++id) {
    const int64_t type = types[id];
    if (type == kByte) v.byte_fallback = true;
    if (type == kUnknown && !v.unk_token) {
      v.unk_token = v.pieces[id];
      v.fuse_unk = true;
    }
    if (type == kControl || type == kUserDefined || type == kUnknown) {
      model::BpeAddedToken t;
      t.id = static_cast<int64_t>(id);
      t.content = v.pieces[id];
      t.special = type != kUserDefined;
      t.normalized = false;
      v.added_tokens.push_back(std::move(t));
    }
  }
  model::set_gemma_text_pipeline(v);
  return v;
}

}  // namespace gguf_tokenizer_detail

GgufTokenizer gguf_tokenizer(const GgufFile& f, int64_t vocab_size) {
  using namespace gguf_tokenizer_detail;
  const std::string& path = f.path();
  const auto model = f.get_string("tokenizer.ggml.model");
  if (!model) throw_input("{}: tokenizer.ggml.model: missing (the file has no tokenizer; run token-id commands)", path);
  if (*model != "llama" && *model != "gemma4")
    throw_input("{}: tokenizer.ggml.model: '{}' is not supported (g4u reads 'llama', SentencePiece-style, and "
                "'gemma4', the BPE of Gemma 4's tokenizer.json)",
                path, *model);

  const GgufValue* tv = f.find("tokenizer.ggml.tokens");
  if (!tv) throw_input("{}: tokenizer.ggml.tokens: missing", path);
  if (tv->type != GgufType::kArray || static_cast<int64_t>(tv->count) != vocab_size)
    throw_input("{}: tokenizer.ggml.tokens: {} tokens, token_embd.weight has {} rows", path,
                tv->type == GgufType::kArray ? tv->count : 1, vocab_size);
  const std::vector<std::string_view> tokens = *f.get_string_array("tokenizer.ggml.tokens");
  std::vector<double> scores(tokens.size(), 0.0);
  if (auto s = f.get_float_array("tokenizer.ggml.scores")) {
    if (s->size() != tokens.size())
      throw_input("{}: tokenizer.ggml.scores: {} values for {} tokens", path, s->size(), tokens.size());
    scores = std::move(*s);
  }
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (auto t = f.get_int_array("tokenizer.ggml.token_type")) {
    if (t->size() != tokens.size())
      throw_input("{}: tokenizer.ggml.token_type: {} values for {} tokens", path, t->size(), tokens.size());
    types = std::move(*t);
  }
  std::optional<int64_t> unk;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] < kNormal || types[i] > kByte)
      throw_input("{}: tokenizer.ggml.token_type[{}]: unknown token type {} (token '{}')", path, i, types[i], tokens[i]);
    if (tokens[i].empty()) throw_input("{}: tokenizer.ggml.tokens[{}]: empty token", path, i);
    if (types[i] == kUnknown && !unk) unk = static_cast<int64_t>(i);
  }

  GgufTokenizer out;
  if (*model == "gemma4") {
    out.tokenizer = std::make_unique<model::BpeTokenizer>(gemma4_bpe_vocab(f, tokens, types), path + ": tokenizer.ggml.*");
    out.kind = "sentencepiece";
    return out;
  }
  if (is_byte_vocabulary(tokens, types)) {
    out.tokenizer = std::make_unique<model::ByteTokenizer>(vocab_size);
    out.kind = "byte";
    return out;
  }
  if (!unk)
    throw_input("{}: tokenizer.ggml.token_type: no unknown-type token (a SentencePiece vocabulary needs one)", path);
  const bool add_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  const bool remove_ws = f.get_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
  MemoryFile proto(sentencepiece_model_proto(tokens, scores, types, *unk, add_prefix, remove_ws), path);
  try {
    out.tokenizer = std::make_unique<model::SentencePieceTokenizer>(proto.path());
  } catch (const InputError& e) {
    throw_input("{}: tokenizer.ggml.*: the vocabulary does not load as a SentencePiece model: {}", path, e.what());
  }
  out.kind = "sentencepiece";
  return out;
}

}  // namespace g4u::quant
