// Hand-written to match openai/whisper's and EvalAI's Python normalizers char for char; a library would not.
// Text normalizers, each a port of a Python reference that must agree with it character for
// character (leading/trailing spaces included):
//
//   whisper-basic  openai/whisper normalizers/basic.py BasicTextNormalizer()
//   whisper-en     openai/whisper normalizers/english.py EnglishTextNormalizer() (number and
//                  currency normalisation, UK->US spelling map)
//   vqa            the EvalAI / VQA answer processor used for TextVQA (lmms-eval copy)
//   none           identity
//
// plus the ANLS answer normalisation (" ".join(s.strip().lower().split())).
//
// The UK->US spelling map (whisper's english.json, 1,739 entries) is not part of this project; it
// is read from a file: --spellings F, else $G4U_SPELLINGS, else
// <dir>/../shared/data/whisper_english_spellings.json for <dir> in (the current directory and its
// parents, the directory of the g4u executable and its parents).
#pragma once

#include "base/registry.h"
#include "eval/unicode.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::eval {

// --- Whisper -------------------------------------------------------------------------------
// remove_symbols_and_diacritics(s, keep): NFKD; keep chars in `keep`; map œ/ø/æ/ß/đ/ð/þ/ł (and
// capitals); drop Mn; other M*/S*/P* -> " ".
U32 whisper_remove_symbols_and_diacritics(const U32& s, const U32& keep = U32());
// remove_symbols(s): NFKC; M*/S*/P* -> " " (diacritics kept).
U32 whisper_remove_symbols(const U32& s);

struct BasicNormalizerOptions {
  bool remove_diacritics = false;
};
U32 whisper_basic_normalize(const U32& s, const BasicNormalizerOptions& opt = {});

using SpellingMap = std::map<U32, U32>;
// Loads a JSON object {"british": "american", ...}; InputError names the file on any problem.
std::shared_ptr<const SpellingMap> load_spelling_map(const std::string& path);
// Resolves the spelling file: explicit path if non-empty, else the search path above. InputError
// listing every place tried when nothing is found.
std::string find_spelling_file(const std::string& explicit_path);

// EnglishNumberNormalizer: spelled-out numbers -> digits, currencies, ordinals, "percent" -> "%".
U32 whisper_english_numbers(const U32& s);
U32 whisper_english_normalize(const U32& s, const SpellingMap& spellings);

// --- VQA / EvalAI --------------------------------------------------------------------------
U32 vqa_normalize(const U32& s);

// --- ANLS --------------------------------------------------------------------------------------
U32 anls_normalize(const U32& s);  // " ".join(s.strip().lower().split())

// --- registry ------------------------------------------------------------------------------
struct NormalizerOptions {
  std::string spellings_path;  // whisper-en only; empty = search path
};

using NormalizeFn = std::function<U32(const U32&)>;

// One record per normalizer; adding a normalizer = adding one record in normalizer_registry()
// (tests/eval/normalize_test.cpp runs every record on hand-written cases).
struct Normalizer {
  std::string name;         // the --normalizer value (stable: it reaches sample logs)
  std::string description;
  std::function<NormalizeFn(const NormalizerOptions&)> make;  // may read files (InputError)
};
const Registry<Normalizer>& normalizer_registry();
inline std::string normalizer_names() { return normalizer_registry().names(); }  // "none, whisper-basic, ..."
// InputError "unknown normalizer 'x' (known: ...)" for unknown names.
inline NormalizeFn make_normalizer(std::string_view name, const NormalizerOptions& opt = {}) {
  return normalizer_registry().find(name).make(opt);
}

}  // namespace g4u::eval
