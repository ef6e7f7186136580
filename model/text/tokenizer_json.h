// HF tokenizers' `tokenizer.json` (the file transformers' fast tokenizers save) read into a
// BpeVocab (model/text/bpe.h). Torch-free.
//
// What is read: "version" "1.0"; "model" of type "BPE" (vocab, merges as "a b" strings or as
// ["a", "b"] pairs, unk_token, fuse_unk, byte_fallback, ignore_merges; dropout must be null or 0,
// continuing_subword_prefix / end_of_word_suffix null or empty); "added_tokens" (id, content,
// special, normalized, lstrip, rstrip, single_word), ids resolved as HF does (the model's id when
// the content is a piece, else the next id after the vocabulary); "normalizer" null, Replace with a
// String pattern, Prepend, Strip, or a Sequence of these; "pre_tokenizer" null, Split with a String
// pattern, or a Sequence of Splits; "decoder" null, Replace with a String pattern, ByteFallback,
// Fuse, Strip, or a Sequence of these. "post_processor", "truncation" and "padding" are ignored (g4u
// adds <bos> through its chat format). Anything else — another model type, a Regex pattern, NFKC,
// ByteLevel, Metaspace — is an InputError naming the file and the field, as are invalid JSON or
// UTF-8, a missing field, a merge naming an unknown piece, and ids that leave gaps.
#pragma once

#include "model/text/bpe.h"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace g4u::model {

BpeVocab read_tokenizer_json(const std::string& path);
// The same from a parsed document; `where` names it in messages.
BpeVocab parse_tokenizer_json(const nlohmann::json& j, const std::string& where);

}  // namespace g4u::model
