// Levenshtein distance on code points (ANLS, MathVista's nearest option) and word/character
// alignments with substitution / deletion / insertion / hit counts (WER, CER).
#pragma once

#include "eval/unicode.h"

#include <cstddef>
#include <vector>

namespace g4u::eval {

size_t levenshtein(const U32& a, const U32& b);

struct EditCounts {
  size_t substitutions = 0, deletions = 0, insertions = 0, hits = 0;
  size_t errors() const { return substitutions + deletions + insertions; }
  size_t ref_len() const { return substitutions + deletions + hits; }
  EditCounts& operator+=(const EditCounts& o) {
    substitutions += o.substitutions;
    deletions += o.deletions;
    insertions += o.insertions;
    hits += o.hits;
    return *this;
  }
};

// Minimum-edit alignment of hyp against ref. The total (S+D+I) is the Levenshtein distance; when
// several alignments reach it, the backtrace from the end prefers match/substitution, then
// deletion, then insertion (jiwer/rapidfuzz may split ties differently; WER itself is identical).
EditCounts align(const std::vector<U32>& ref, const std::vector<U32>& hyp);
EditCounts align_chars(const U32& ref, const U32& hyp);

}  // namespace g4u::eval
