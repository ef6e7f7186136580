// Byte-pair-encoding tokenization as HF tokenizers does it (the "BPE" model of a tokenizer.json),
// torch-free: a vocabulary description (BpeVocab) and the encoder/decoder built from it (BpeEncoder).
//
// The pipeline of encode(), in HF's order:
//   1. added tokens whose `normalized` is false are found in the raw text (leftmost, longest
//      first; lstrip/rstrip/single_word as HF defines them) and become their ids, never split;
//   2. each remaining segment goes through the normalizer steps (Replace of a literal string,
//      Prepend, Strip), then added tokens with `normalized` true are found in the normalized text;
//   3. the pre-tokenizer steps (Split on a literal string, any behaviour, inverted or not) cut each
//      segment into words;
//   4. each word is BPE-encoded: one symbol per character (a character missing from the vocabulary
//      becomes its <0xNN> byte pieces with byte_fallback, else <unk>, fused into one <unk> per run
//      with fuse_unk), then merges are applied lowest rank first, leftmost first among equals.
//      With ignore_merges a word that is itself a piece is that piece.
// decode() maps ids to pieces (added tokens as their content, skipped when special and asked to)
// and runs the decoder steps (Replace, ByteFallback, Fuse, Strip) on the list of pieces.
//
// The post-processor of a tokenizer.json (e.g. adding <bos>) is not applied: g4u's Tokenizer
// interface adds no <bos>. Regular-expression patterns, Unicode normalization forms, the
// ByteLevel/Metaspace steps and dropout are not supported (InputError when a file asks for them).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace g4u::model {

struct BpeAddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = true;  // matched in the normalized text (true) or the raw text (false)
  bool lstrip = false;      // the match takes the whitespace on its left
  bool rstrip = false;      // ... and on its right
  bool single_word = false;  // matches only where no word character touches it
};

struct BpeNormalizerStep {
  enum class Kind { kReplace, kPrepend, kStrip };
  Kind kind = Kind::kReplace;
  std::string pattern;  // kReplace: the literal string replaced
  std::string content;  // kReplace: its replacement; kPrepend: what is put before a non-empty text
  bool left = false, right = false;  // kStrip: which ends lose their whitespace
};

// HF's SplitDelimiterBehavior.
enum class BpeSplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct BpeSplitStep {  // pre-tokenizer "Split" with a literal string pattern
  std::string pattern;
  BpeSplitBehavior behavior = BpeSplitBehavior::kIsolated;
  bool invert = false;
};

struct BpeDecoderStep {
  enum class Kind { kReplace, kByteFallback, kFuse, kStrip };
  Kind kind = Kind::kFuse;
  std::string pattern, content;  // kReplace: literal pattern and replacement; kStrip: content is one character
  int64_t start = 0, stop = 0;   // kStrip: how many `content` characters to cut at each end, at most
};

struct BpeVocab {
  std::vector<std::string> pieces;                          // id -> piece; ids 0..n-1 all present
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  std::optional<std::string> unk_token;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  // Added tokens, in the order HF adds them. Their ids index `pieces` (an added token that is not
  // a model piece is appended to `pieces` by whoever builds the vocabulary).
  std::vector<BpeAddedToken> added_tokens;
  std::vector<BpeNormalizerStep> normalizer;
  std::vector<BpeSplitStep> pre_tokenizer;
  // Decoder steps; nullopt: no decoder, pieces joined with " " (HF's behaviour without one).
  std::optional<std::vector<BpeDecoderStep>> decoder;
};

// What decode() does with a run of byte pieces that is not valid UTF-8.
enum class InvalidBytes {
  kReplace,  // one U+FFFD per byte of the run, as HF's ByteFallback decoder
  kKeep,     // the bytes as they are (g4u's Tokenizer::decode contract: streaming may split a character)
};

class BpeEncoder {
 public:
  // Checks the vocabulary: unique pieces, merges naming known pieces whose concatenation is a
  // piece, unk_token a piece, added-token ids in range. InputError "<where>: ..." otherwise.
  BpeEncoder(BpeVocab vocab, std::string where);
  ~BpeEncoder();
  BpeEncoder(BpeEncoder&&) noexcept;
  BpeEncoder& operator=(BpeEncoder&&) noexcept;

  // Ids of `text` (valid UTF-8, else InputError naming the byte offset). Adds no <bos>.
  std::vector<int64_t> encode(std::string_view text) const;
  // Text of `ids`; InputError for an id outside the vocabulary.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special,
                     InvalidBytes invalid = InvalidBytes::kReplace) const;

  int64_t size() const { return static_cast<int64_t>(vocab_.pieces.size()); }
  const BpeVocab& vocab() const { return vocab_; }
  const std::string& piece(int64_t id) const;  // the vocabulary entry; InputError if out of range
  std::optional<int64_t> piece_id(std::string_view piece) const;
  const BpeAddedToken* added_token(int64_t id) const;  // nullptr if `id` is no added token
  bool is_special(int64_t id) const;                   // an added token marked special
  std::optional<int64_t> special_id(std::string_view content) const;  // special added token by content

 private:
  struct Impl;
  BpeVocab vocab_;
  std::string where_;
  std::unique_ptr<Impl> impl_;  // freed also when the constructor refuses the vocabulary
};

// The text pipeline of Gemma's tokenizer.json (transformers' GemmaConverter): normalizer
// Replace(" " -> "▁"), pre-tokenizer Split(" ", merged with previous), decoder Replace("▁" -> " ") +
// ByteFallback + Fuse. Replaces whatever steps `v` had.
void set_gemma_text_pipeline(BpeVocab& v);

// A merges line "a b" split as HF reads it (exactly one space); InputError "<where>: ..." otherwise.
std::pair<std::string, std::string> split_merge_line(const std::string& line, const std::string& where);

// A SentencePiece BPE vocabulary (as stored in a tokenizer.model or in GGUF metadata
// tokenizer.ggml.tokens / .scores / .token_type) converted the way HF transformers' slow->fast
// converter does for Gemma: merges derived from the scores (every split of a piece into two pieces
// of the vocabulary is a merge, ordered by the piece's score descending, then by the code-point
// lengths of the left and right halves descending, ties in vocabulary order), unk_token the
// UNKNOWN piece with fuse_unk, byte_fallback when BYTE pieces exist, CONTROL (3) and USER_DEFINED (4)
// pieces as added tokens matched in the raw text (special: control, unknown, and the spellings of
// model/text/special_tokens.h and <unusedN>), and set_gemma_text_pipeline. (The converter's fix for
// old Gemma vocabularies without a "\t" piece, renaming <0x09> to "\t", is not applied.)
// Piece types as SentencePiece numbers them: 1 normal, 2 unknown, 3 control, 4 user defined,
// 5 unused, 6 byte. InputError "<where>: ..." on mismatched lengths or duplicate pieces.
BpeVocab bpe_vocab_from_sentencepiece(const std::vector<std::string>& pieces,
                                      const std::vector<float>& scores,
                                      const std::vector<int32_t>& types, const std::string& where);

}  // namespace g4u::model
