// Hand-written to match sacreBLEU 2.x (13a tokenizer, BLEU, chrF) bit for bit; a library would not.
#include "eval/sacrebleu.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace g4u::eval {

namespace {
bool is_d(char32_t c) { return c >= '0' && c <= '9'; }
bool in_13a_class(char32_t c) {
  // [\{-\~\[-\` -\&\(-\+\:-\@\/]
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}
}  // namespace

U32 tokenize_13a(const U32& in) {
  U32 line = replace_all(in, U"<skipped>", U"");
  line = replace_all(line, U"-\n", U"");
  line = replace_all(line, U"\n", U" ");
  line = replace_all(line, U"&quot;", U"\"");
  line = replace_all(line, U"&amp;", U"&");
  line = replace_all(line, U"&lt;", U"<");
  line = replace_all(line, U"&gt;", U">");
  line = U" " + line + U" ";
  U32 s;
  for (char32_t c : line) {
    if (in_13a_class(c)) {
      s.push_back(' ');
      s.push_back(c);
      s.push_back(' ');
    } else {
      s.push_back(c);
    }
  }
  auto is_period_or_comma = [](char32_t c) { return c == '.' || c == ','; };
  // ([^0-9])([\.,]) -> "\1 \2 "
  s = sub_char_pairs(
      s, [&](char32_t a, char32_t b) { return !is_d(a) && is_period_or_comma(b); },
      [](char32_t a, char32_t b) { return U32{a, U' ', b, U' '}; });
  // ([\.,])([^0-9]) -> " \1 \2"
  s = sub_char_pairs(
      s, [&](char32_t a, char32_t b) { return is_period_or_comma(a) && !is_d(b); },
      [](char32_t a, char32_t b) { return U32{U' ', a, U' ', b}; });
  // ([0-9])(-) -> "\1 \2 "
  s = sub_char_pairs(
      s, [](char32_t a, char32_t b) { return is_d(a) && b == '-'; },
      [](char32_t a, char32_t b) { return U32{a, U' ', b, U' '}; });
  return py_join(py_split(s), U" ");
}

BleuStats& BleuStats::operator+=(const BleuStats& o) {
  hyp_len += o.hyp_len;
  ref_len += o.ref_len;
  for (int n = 0; n < kBleuOrder; ++n) {
    correct[n] += o.correct[n];
    total[n] += o.total[n];
  }
  return *this;
}

namespace {
using NgramCounts = std::unordered_map<U32, int>;
// n-grams of 1..max_order tokens, keyed by the tokens joined with ' ' (tokens never contain
// whitespace); size() of the key's token count is recovered from the order loop.
std::array<NgramCounts, kBleuOrder> word_ngrams(const std::vector<U32>& toks) {
  std::array<NgramCounts, kBleuOrder> out;
  for (int n = 1; n <= kBleuOrder; ++n) {
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      U32 key = toks[i];
      for (int k = 1; k < n; ++k) key += U" " + toks[i + k];
      ++out[n - 1][key];
    }
  }
  return out;
}
}  // namespace

BleuStats bleu_segment_stats(const U32& hyp, const std::vector<U32>& refs) {
  std::array<NgramCounts, kBleuOrder> ref_max;
  std::vector<size_t> ref_lens;
  for (const U32& r : refs) {
    if (r.empty()) continue;
    std::vector<U32> toks = py_split(tokenize_13a(py_rstrip(r)));
    ref_lens.push_back(toks.size());
    auto ng = word_ngrams(toks);
    for (int n = 0; n < kBleuOrder; ++n)
      for (auto& [k, c] : ng[n]) ref_max[n][k] = std::max(ref_max[n][k], c);
  }
  G4U_CHECK(!ref_lens.empty(), "bleu_segment_stats: no non-empty reference");
  std::vector<U32> htoks = py_split(tokenize_13a(py_rstrip(hyp)));
  BleuStats s;
  s.hyp_len = static_cast<double>(htoks.size());
  // closest reference length, ties -> shorter
  long best_diff = -1, best_len = -1;
  for (size_t rl : ref_lens) {
    long diff = std::labs(static_cast<long>(htoks.size()) - static_cast<long>(rl));
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best_len = static_cast<long>(rl);
    } else if (diff == best_diff && static_cast<long>(rl) < best_len) {
      best_len = static_cast<long>(rl);
    }
  }
  s.ref_len = static_cast<double>(best_len);
  auto hng = word_ngrams(htoks);
  for (int n = 0; n < kBleuOrder; ++n) {
    for (auto& [k, c] : hng[n]) {
      s.total[n] += c;
      auto it = ref_max[n].find(k);
      if (it != ref_max[n].end()) s.correct[n] += std::min(c, it->second);
    }
  }
  return s;
}

BleuScore bleu_from_stats(const BleuStats& s, bool effective_order) {
  BleuScore r;
  if (s.hyp_len < s.ref_len) r.bp = s.hyp_len > 0 ? std::exp(1 - s.ref_len / s.hyp_len) : 0.0;
  else r.bp = 1.0;
  bool any = false;
  for (double c : s.correct) any = any || c != 0;
  if (!any) return r;  // score 0
  double smooth = 1;
  int eff = kBleuOrder;
  for (int n = 1; n <= kBleuOrder; ++n) {
    if (s.total[n - 1] == 0) break;
    if (effective_order) eff = n;
    if (s.correct[n - 1] == 0) {
      smooth *= 2;
      r.precisions[n - 1] = 100.0 / (smooth * s.total[n - 1]);
    } else {
      r.precisions[n - 1] = 100.0 * s.correct[n - 1] / s.total[n - 1];
    }
  }
  double sum = 0;
  for (int n = 0; n < eff; ++n) sum += r.precisions[n] == 0 ? -9999999999.0 : std::log(r.precisions[n]);
  r.score = r.bp * std::exp(sum / eff);
  return r;
}

ChrfStats& ChrfStats::operator+=(const ChrfStats& o) {
  for (size_t i = 0; i < v.size(); ++i) v[i] += o.v[i];
  return *this;
}

namespace {
std::array<NgramCounts, kChrfOrder> char_ngrams(const U32& text) {
  U32 s;
  for (char32_t c : text)
    if (!py_isspace(c)) s.push_back(c);
  std::array<NgramCounts, kChrfOrder> out;
  for (int n = 1; n <= kChrfOrder; ++n)
    for (size_t i = 0; i + n <= s.size(); ++i) ++out[n - 1][s.substr(i, n)];
  return out;
}
}  // namespace

double chrf_from_stats(const ChrfStats& s) {
  const double factor = 4.0;  // beta^2
  double avg_p = 0, avg_r = 0;
  int eff = 0;
  for (int i = 0; i < kChrfOrder; ++i) {
    double nh = s.v[3 * i], nr = s.v[3 * i + 1], nm = s.v[3 * i + 2];
    if (nh > 0 && nr > 0) {
      avg_p += nm / nh;
      avg_r += nm / nr;
      ++eff;
    }
  }
  if (eff == 0) return 0.0;
  avg_p /= eff;
  avg_r /= eff;
  if (avg_p + avg_r == 0) return 0.0;
  double score = (1 + factor) * avg_p * avg_r;
  score /= factor * avg_p + avg_r;
  return 100 * score;
}

ChrfStats chrf_segment_stats(const U32& hyp, const std::vector<U32>& refs) {
  auto h = char_ngrams(hyp);
  ChrfStats best;
  double best_f = -1;
  bool any = false;
  for (const U32& r : refs) {
    if (r.empty()) continue;
    any = true;
    auto rn = char_ngrams(r);
    ChrfStats st;
    for (int n = 0; n < kChrfOrder; ++n) {
      double hyp_count = 0, match = 0, ref_count = 0;
      for (auto& [k, c] : h[n]) {
        hyp_count += c;
        auto it = rn[n].find(k);
        if (it != rn[n].end()) match += std::min(c, it->second);
      }
      for (auto& [k, c] : rn[n]) ref_count += c;
      st.v[3 * n] = rn[n].empty() ? 0 : hyp_count;  // no reference n-grams: hypothesis not counted
      st.v[3 * n + 1] = ref_count;
      st.v[3 * n + 2] = match;
    }
    double f = chrf_from_stats(st);
    if (f > best_f) {
      best_f = f;
      best = st;
    }
  }
  G4U_CHECK(any, "chrf_segment_stats: no non-empty reference");
  return best;
}

}  // namespace g4u::eval
