// The tokenizer of a GGUF file, from its `tokenizer.ggml.*` metadata.
//
//   tokenizer.ggml.model = "llama" (a SentencePiece vocabulary: tokens, scores, token_type):
//     * exactly g4u's byte vocabulary as `g4u export-gguf` writes it (control specials at 0..31,
//       byte pieces <0xNN> at 32..287, the rest unused, names as model::ByteTokenizer spells them)
//       -> model::ByteTokenizer;
//     * otherwise a SentencePiece BPE model rebuilt from the pieces, scores and types (byte
//       fallback when byte pieces exist; identity normalisation, spaces escaped as U+2581, a dummy
//       prefix as tokenizer.ggml.add_space_prefix says (llama.cpp's default: true), extra spaces
//       removed as tokenizer.ggml.remove_extra_whitespaces says (default: false)) and loaded by
//       model::SentencePieceTokenizer from an in-memory file. A SentencePiece model trained with
//       those settings (g4u's train_sentencepiece, Gemma's tokenizer.model) encodes the same.
//   tokenizer.ggml.model = "gemma4" (llama.cpp's converter for Gemma 4: a BPE over raw UTF-8 with
//     "▁" for spaces, byte fallback and rank-ordered tokenizer.ggml.merges): InputError until g4u
//     has a native BPE engine with merges (the tokenizer.json work); token-id commands (bench,
//     forward --tokens) do not load a tokenizer and run such files.
// Anything else is an InputError naming the key.
#pragma once

#include "model/io/config.h"
#include "model/text/tokenizer.h"
#include "quant/io/gguf_reader.h"

#include <memory>
#include <string>

namespace g4u::quant {

struct GgufTokenizer {
  std::unique_ptr<model::Tokenizer> tokenizer;
  std::string kind;  // ModelConfig::tokenizer: "byte" or "sentencepiece"
};

// InputError naming the file and key for a missing or inconsistent vocabulary (its size must equal
// `vocab_size`, the rows of token_embd).
GgufTokenizer gguf_tokenizer(const GgufFile& f, int64_t vocab_size);

}  // namespace g4u::quant
