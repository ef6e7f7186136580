// Hand-written to match sacreBLEU 2.x (13a tokenizer, BLEU, chrF) bit for bit; a library would not.
// sacreBLEU 2.x defaults, reimplemented: corpus BLEU (13a tokenizer, case-sensitive, exp
// smoothing, max order 4, no effective order) and chrF2 (character 6-grams, whitespace removed,
// beta 2, effective-order averaging), both on the 0-100 scale, from summed segment statistics.
#pragma once

#include "eval/unicode.h"

#include <array>
#include <vector>

namespace g4u::eval {

U32 tokenize_13a(const U32& line);

constexpr int kBleuOrder = 4;
// [hyp_len, ref_len, correct_1..4, total_1..4], summed over segments.
struct BleuStats {
  double hyp_len = 0, ref_len = 0;
  std::array<double, kBleuOrder> correct{}, total{};
  BleuStats& operator+=(const BleuStats& o);
};
// One segment: hypothesis and its references (empty references are ignored, as sacreBLEU does;
// at least one must be non-empty).
BleuStats bleu_segment_stats(const U32& hyp, const std::vector<U32>& refs);

struct BleuScore {
  double score = 0;
  double bp = 0;
  std::array<double, kBleuOrder> precisions{};
};
BleuScore bleu_from_stats(const BleuStats& s, bool effective_order = false);

constexpr int kChrfOrder = 6;
struct ChrfStats {
  std::array<double, 3 * kChrfOrder> v{};  // per order: hyp n-grams, ref n-grams, matches
  ChrfStats& operator+=(const ChrfStats& o);
};
// Best reference by segment F-score (first wins ties), as sacreBLEU does.
ChrfStats chrf_segment_stats(const U32& hyp, const std::vector<U32>& refs);
double chrf_from_stats(const ChrfStats& s);

}  // namespace g4u::eval
