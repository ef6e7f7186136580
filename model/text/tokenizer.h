// Tokenizers: text <-> token ids.
//
// Two kinds, chosen by ModelConfig::tokenizer:
//   "byte"          ByteTokenizer: the 32 specials of model/text/special_tokens.h, then byte b at
//                   id 32 + b; ids from 288 up to the vocabulary size are further reserved
//                   specials spelled <unused8>, <unused9>, ... (tiny/small presets, no files).
//   "sentencepiece" the checkpoint's own tokenizer: BpeTokenizer from its `tokenizer.json` (HF
//                   tokenizers' format, what released Gemma 4 checkpoints tokenize with) when the
//                   directory has one, else SentencePieceTokenizer from its `tokenizer.model` (the
//                   released Gemma 4 one, or one g4u trained with train_sentencepiece).
//
// Both recognise special-token spellings anywhere in the text given to encode() (longest match
// first, e.g. "<bos><|turn>user\n"), so a rendered chat (model/text/chat.h) encodes to the right ids.
// Neither adds <bos> by itself: the chat format writes it. Decoding never fails on byte sequences
// that are not valid UTF-8: bytes are passed through as they are (streaming output may split a
// character across tokens).
//
// libsentencepiece is never linked into g4u (its embedded protobuf clashes with LibTorch's); the
// SentencePiece tokenizer loads the g4u_sentencepiece shim with dlopen (see tokenizer.cpp).
#pragma once

#include "model/io/config.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::model {

struct BpeVocab;    // model/text/bpe.h
class BpeEncoder;   // model/text/bpe.h

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`; special-token spellings become their ids. Adds no <bos>.
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // Text of `ids`; special tokens are written as their spelling unless skip_special. An id
  // outside [0, vocab_size) is an InputError.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const = 0;
  virtual int64_t vocab_size() const = 0;
  // Id of a special-token spelling ("<|turn>"), if this vocabulary has it as a special token.
  virtual std::optional<int64_t> token_id(std::string_view special) const = 0;
  // The vocabulary entry of `id` as stored (SentencePiece: "▁the", "<0x0A>"; bytes: "a",
  // "<0x0A>"); for display and debugging.
  virtual std::string piece(int64_t id) const = 0;
  virtual bool is_special(int64_t id) const = 0;
};

class ByteTokenizer final : public Tokenizer {
 public:
  explicit ByteTokenizer(int64_t vocab_size);  // InputError if vocab_size < 288
  ~ByteTokenizer() override;

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::optional<int64_t> token_id(std::string_view special) const override;
  std::string piece(int64_t id) const override;
  bool is_special(int64_t id) const override;

 private:
  struct Impl;
  int64_t vocab_size_;
  std::unique_ptr<Impl> impl_;
};

// Loads a SentencePiece `tokenizer.model`. Special tokens are the control, unknown and unused
// pieces plus any piece spelled like an entry of kSpecialTokens or <unusedN>.
// Text segments between special tokens are encoded separately, so a model trained with
// add_dummy_prefix would get a "▁" at the start of each segment (Gemma's and g4u's do not).
class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model_path);  // InputError if unreadable
  ~SentencePieceTokenizer() override;

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const override;
  int64_t vocab_size() const override;
  std::optional<int64_t> token_id(std::string_view special) const override;
  std::string piece(int64_t id) const override;
  bool is_special(int64_t id) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HF tokenizers' BPE (model/text/bpe.h), e.g. from a `tokenizer.json` (model/text/tokenizer_json.h).
// Special tokens are the added tokens marked special. Decoding follows the tokenizer's decoder steps,
// except that a run of byte pieces that is not valid UTF-8 is passed through as bytes (HF writes one
// U+FFFD per byte; BpeEncoder::decode with InvalidBytes::kReplace does that).
class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(BpeVocab vocab, const std::string& where);  // InputError naming `where`
  ~BpeTokenizer() override;
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const std::string& path);

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const override;
  int64_t vocab_size() const override;
  std::optional<int64_t> token_id(std::string_view special) const override;
  std::string piece(int64_t id) const override;
  bool is_special(int64_t id) const override;
  const BpeEncoder& encoder() const { return *bpe_; }

 private:
  std::unique_ptr<BpeEncoder> bpe_;
};

// The tokenizer of a model: "byte" -> ByteTokenizer(c.text.vocab_size); "sentencepiece" ->
// `<model_dir>/tokenizer.json` if present (as HF transformers prefers it), else
// `<model_dir>/tokenizer.model`. InputError if the file is missing, the vocabulary is larger than
// c.text.vocab_size, or a multimodal marker (<|image|>, ...) has a different id than the config.
std::unique_ptr<Tokenizer> load_tokenizer(const ModelConfig& c, const std::string& model_dir);

// Trains a BPE SentencePiece vocabulary of `vocab_size` pieces on `corpus_file` (one sentence per
// line) and writes it atomically to `out_model_path`: byte fallback, identity normalisation, no
// dummy prefix, digits split, <pad>/<eos>/<bos>/<unk> at 0..3 and the rest of kSpecialTokens as
// user-defined symbols at 4..31 (so ids equal model/text/special_tokens.h). Deterministic for a seed.
// vocab_size must leave room for the 32 specials and 256 byte pieces (> 288).
void train_sentencepiece(const std::string& corpus_file, int64_t vocab_size,
                         const std::string& out_model_path, uint64_t seed);

}  // namespace g4u::model
