// Hand-written to match the Python answer parsers of MMMU, VLMEvalKit, MathVista and MMAU; a library would not.
#include "eval/extract.h"

#include "eval/edit_distance.h"
#include "eval/pynum.h"
#include "base/error.h"

#include <algorithm>
#include <set>

namespace g4u::eval {

// ================================================================================================
// Reasoning traces
// ================================================================================================

ReasoningTags reasoning_tags(const std::string& name) {
  if (name == "gemma4") return {name, U"<|channel>thought", U"<channel|>"};
  if (name == "think") return {name, U"<think>", U"</think>"};
  if (name == "none") return {name, U"", U""};
  throw_input("unknown reasoning tag pair '{}' (known: {})", name, reasoning_tag_names());
}

std::string reasoning_tag_names() { return "gemma4, think, none"; }

StrippedOutput strip_reasoning(const U32& raw, const ReasoningTags& tags) {
  StrippedOutput out;
  if (tags.close.empty()) {
    out.text = raw;
    return out;
  }
  size_t close = raw.rfind(tags.close);
  if (close != U32::npos) {
    out.had_reasoning = true;
    out.text = py_strip(raw.substr(close + tags.close.size()));
    return out;
  }
  if (!tags.open.empty() && raw.find(tags.open) != U32::npos) {
    out.had_reasoning = true;
    out.truncated = true;
    return out;
  }
  out.text = raw;
  return out;
}

// ================================================================================================
// MMMU
// ================================================================================================

McParse mmmu_parse_mc(const U32& response, const std::vector<U32>& choices, PyRandom* fallback) {
  U32 r = response;
  for (char32_t ch : U32(U",.!?;:'")) r = py_strip_chars(r, U32(1, ch));
  r = U" " + r + U" ";
  std::vector<char32_t> letters;
  for (size_t i = 0; i < choices.size(); ++i) letters.push_back(static_cast<char32_t>(U'A' + i));

  std::vector<size_t> cands;
  bool index_ans = true, with_brack = false;
  std::string rule;
  for (size_t i = 0; i < letters.size(); ++i)
    if (contains(r, U32(U"(") + letters[i] + U")")) cands.push_back(i);
  if (!cands.empty()) {
    with_brack = true;
    rule = "bracket";
  }
  if (cands.empty()) {
    for (size_t i = 0; i < letters.size(); ++i)
      if (contains(r, U32(1, letters[i]) + U" ")) cands.push_back(i);
    if (!cands.empty()) rule = "letter-space";
  }
  if (cands.empty()) {
    for (size_t i = 0; i < letters.size(); ++i)
      if (contains(r, U32(1, letters[i]) + U".")) cands.push_back(i);
    if (!cands.empty()) rule = "letter-dot";
  }
  U32 r_lower;
  if (cands.empty() && py_split(r).size() > 5) {
    r_lower = py_lower(r);
    for (size_t i = 0; i < letters.size(); ++i)
      if (contains(r_lower, py_lower(choices[i]))) cands.push_back(i);
    if (!cands.empty()) {
      index_ans = false;
      rule = "content";
    }
  }
  McParse out;
  if (cands.empty()) {
    if (fallback && !letters.empty()) {
      out.letter = utf8_encode(letters[static_cast<size_t>(fallback->randbelow(letters.size()))]);
      out.rule = "random-fallback";
    } else {
      out.rule = "none";
    }
    return out;
  }
  size_t best = cands[0];
  if (cands.size() > 1) {
    long best_pos = 0;
    bool first = true;
    for (size_t c : cands) {
      long pos;
      if (index_ans) {
        pos = with_brack ? py_rfind(r, U32(U"(") + letters[c] + U")") : py_rfind(r, U32(U" ") + letters[c] + U" ");
      } else {
        pos = py_rfind(r_lower, py_lower(choices[c]));
      }
      if (first || pos > best_pos) {  // numpy argmax: the first maximum wins
        best_pos = pos;
        best = c;
        first = false;
      }
    }
  }
  out.letter = utf8_encode(letters[best]);
  out.rule = rule;
  return out;
}

namespace {

bool dig(const U32& s, size_t i) { return i < s.size() && py_isdecimal(s[i]); }
size_t digit_run(const U32& s, size_t i) {
  size_t j = i;
  while (j < s.size() && py_isdecimal(s[j])) ++j;
  return j - i;
}
bool word_boundary(const U32& s, size_t i) {
  bool before = i > 0 && py_isword(s[i - 1]);
  bool after = i < s.size() && py_isword(s[i]);
  return before != after;
}

// -?\b\d{1,3}(?:,\d{3})+\b
size_t match_commas_body(const U32& s, size_t j) {
  if (!dig(s, j) || !word_boundary(s, j)) return U32::npos;
  size_t d = digit_run(s, j);
  if (d > 3) return U32::npos;
  size_t p = j + d;
  std::vector<size_t> ends;
  while (p < s.size() && s[p] == ',' && digit_run(s, p + 1) >= 3) {
    p += 4;
    ends.push_back(p);
  }
  for (auto it = ends.rbegin(); it != ends.rend(); ++it)
    if (word_boundary(s, *it)) return *it;
  return U32::npos;
}
// -?\d+(?:\.\d+)?[eE][+-]?\d+
size_t match_exp(const U32& s, size_t q) {
  if (q >= s.size() || (s[q] != 'e' && s[q] != 'E')) return U32::npos;
  if (q + 1 < s.size() && (s[q + 1] == '+' || s[q + 1] == '-')) {
    size_t r = digit_run(s, q + 2);
    return r > 0 ? q + 2 + r : U32::npos;
  }
  size_t r = digit_run(s, q + 1);
  return r > 0 ? q + 1 + r : U32::npos;
}
size_t match_sci_body(const U32& s, size_t j) {
  size_t d = digit_run(s, j);
  if (d == 0) return U32::npos;
  size_t p = j + d;
  if (p < s.size() && s[p] == '.') {
    size_t f = digit_run(s, p + 1);
    if (f > 0) {
      size_t r = match_exp(s, p + 1 + f);
      if (r != U32::npos) return r;
    }
  }
  return match_exp(s, p);
}
// -?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])
bool simple_lookahead_ok(const U32& s, size_t e) {
  if (e < s.size() && (s[e] == 'e' || s[e] == 'E')) {
    if (dig(s, e + 1)) return false;
    if (e + 1 < s.size() && (s[e + 1] == '+' || s[e + 1] == '-') && dig(s, e + 2)) return false;
  }
  if (e < s.size() && (s[e] == ',' || py_isdecimal(s[e]))) return false;
  return true;
}
size_t match_simple_body(const U32& s, size_t j) {
  size_t d = digit_run(s, j);
  if (d > 0 && j + d < s.size() && s[j + d] == '.') {
    size_t f = digit_run(s, j + d + 1);
    if (f > 0 && simple_lookahead_ok(s, j + d + 1 + f)) return j + d + 1 + f;
  }
  if (j < s.size() && s[j] == '.') {
    size_t f = digit_run(s, j + 1);
    if (f > 0 && simple_lookahead_ok(s, j + 1 + f)) return j + 1 + f;
  }
  if (d > 0 && word_boundary(s, j + d) && simple_lookahead_ok(s, j + d)) return j + d;
  return U32::npos;
}

template <typename Body>
std::vector<U32> findall_signed(const U32& s, Body body) {
  std::vector<U32> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t e = U32::npos;
    if (s[i] == '-') e = body(s, i + 1);
    if (e == U32::npos) e = body(s, i);
    if (e != U32::npos && e > i) {
      out.push_back(s.substr(i, e - i));
      i = e;
    } else {
      ++i;
    }
  }
  return out;
}

bool same_candidate(const OpenCandidate& a, const OpenCandidate& b) {
  if (a.index() != b.index()) return false;
  if (std::holds_alternative<double>(a)) return std::get<double>(a) == std::get<double>(b);
  return std::get<U32>(a) == std::get<U32>(b);
}

}  // namespace

McParse mmmu_pro_parse_mc(const U32& response, const std::vector<U32>& choices, PyRandom* fallback) {
  long pos = py_rfind(response, U"Answer:");
  if (pos >= 0) {
    U32 tail = py_strip(response.substr(static_cast<size_t>(pos) + 7));
    std::vector<char32_t> found;
    for (size_t i = 0; i < choices.size(); ++i) {
      char32_t letter = static_cast<char32_t>(U'A' + i);
      if (tail.find(letter) != U32::npos) found.push_back(letter);
    }
    if (found.size() == 1) return {utf8_encode(U32(1, found[0])), "answer-colon"};
  }
  return mmmu_parse_mc(response, choices, fallback);
}

std::vector<U32> mmmu_extract_numbers(const U32& s) {
  std::vector<U32> out = findall_signed(s, match_commas_body);
  for (auto& x : findall_signed(s, match_sci_body)) out.push_back(x);
  for (auto& x : findall_signed(s, match_simple_body)) out.push_back(x);
  return out;
}

std::vector<OpenCandidate> mmmu_normalize_str(const U32& in) {
  U32 s = py_strip(in);
  if (auto f = py_float(replace_all(s, U",", U""))) return {py_round(*f, 2)};
  s = py_lower(s);
  if (s.size() == 1) return {U32(U" ") + s, s + U" "};
  return {s};
}

std::vector<OpenCandidate> mmmu_parse_open(const U32& response) {
  U32 r = py_lower(py_strip_chars(py_strip(response), U"."));
  std::vector<U32> subs = py_split_sep(r, U"\n");  // ". " + uppercase never survives lower()
  std::vector<U32> indicators = {U"could be ", U"so ", U"is ", U"thus ", U"therefore ", U"final ", U"answer ", U"result "};
  static const std::set<U32> trivial = {U":", U",", U".", U"!", U"?", U";", U"'"};
  std::vector<U32> keys;
  for (size_t idx = 0; idx < subs.size(); ++idx) {
    const U32& resp = subs[idx];
    if (idx + 1 == subs.size()) indicators.push_back(U"=");
    std::optional<U32> shortest;
    for (const U32& ind : indicators) {
      if (!contains(resp, ind)) continue;
      U32 tail = py_strip(py_split_sep(resp, ind).back());
      if (!shortest || shortest->empty()) shortest = tail;
      else if (tail.size() < shortest->size()) shortest = tail;
    }
    if (shortest && !shortest->empty() && !trivial.count(py_strip(*shortest))) keys.push_back(*shortest);
  }
  if (keys.empty()) keys.push_back(r);
  std::vector<U32> pred_list = keys;
  for (const U32& k : keys)
    for (auto& n : mmmu_extract_numbers(k)) pred_list.push_back(n);
  std::vector<OpenCandidate> out;
  for (const U32& p : pred_list)
    for (auto& c : mmmu_normalize_str(p))
      if (std::none_of(out.begin(), out.end(), [&](const OpenCandidate& o) { return same_candidate(o, c); }))
        out.push_back(c);
  return out;
}

bool mmmu_eval_open(const std::vector<U32>& golds, const std::vector<OpenCandidate>& preds) {
  std::vector<OpenCandidate> norm;
  for (const U32& g : golds)
    for (auto& c : mmmu_normalize_str(g)) norm.push_back(c);
  for (const OpenCandidate& p : preds) {
    if (std::holds_alternative<U32>(p)) {
      for (const OpenCandidate& a : norm)
        if (std::holds_alternative<U32>(a) && contains(std::get<U32>(p), std::get<U32>(a))) return true;
    } else {
      for (const OpenCandidate& a : norm)
        if (std::holds_alternative<double>(a) && std::get<double>(a) == std::get<double>(p)) return true;
    }
  }
  return false;
}

// ================================================================================================
// can_infer
// ================================================================================================
namespace {

// Case-insensitive char match against a lower-case ASCII pattern letter, as Python's `re`
// IGNORECASE does it (simple case folding plus its extra equivalences i/ı and s/ſ).
bool ci_eq(char32_t c, char32_t p) {
  if (simple_lower(c) == p) return true;
  if (p == 'i' && c == 0x131) return true;
  if (p == 's' && c == 0x17F) return true;
  return false;
}
size_t ci_lit(const U32& s, size_t i, const char32_t* lit) {
  for (; *lit; ++lit, ++i)
    if (i >= s.size() || !ci_eq(s[i], *lit)) return U32::npos;
  return i;
}
size_t ws_run(const U32& s, size_t i) {
  size_t j = i;
  while (j < s.size() && py_isspace(s[j])) ++j;
  return j > i ? j : U32::npos;
}

// (?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**  -> the letter, upper-cased
std::optional<char32_t> answer_is_letter(const U32& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    size_t p = ci_lit(s, i, U"answer");
    if (p == U32::npos || (p = ws_run(s, p)) == U32::npos) continue;
    if ((p = ci_lit(s, p, U"is")) == U32::npos || (p = ws_run(s, p)) == U32::npos) continue;
    while (p < s.size() && s[p] == '*') ++p;
    if (p < s.size()) {
      char32_t l = simple_lower(s[p]);
      if (l >= 'a' && l <= 'd') return static_cast<char32_t>(l - 'a' + 'A');
    }
  }
  return std::nullopt;
}

}  // namespace

CanInfer can_infer(const U32& answer, const std::vector<U32>& choices) {
  if (contains(answer, U"Failed to obtain answer via API")) return {"", "api-failure"};
  static const std::vector<U32> refusals = {
      U"Sorry, I can't help with images of people yet.", U"I can't process this file.",
      U"I'm sorry, but without the image provided", U"Cannot determine the answer"};
  for (const U32& r : refusals)
    if (contains(answer, r)) return {"Z", "refusal"};
  U32 mod = answer;
  for (char32_t c : U32(U".()[],:;!*#{}")) mod = replace_all(mod, U32(1, c), U" ");
  std::vector<U32> splits = py_split(mod);
  std::vector<U32> letters;
  for (size_t i = 0; i < choices.size(); ++i) letters.push_back(U32(1, static_cast<char32_t>(U'A' + i)));
  size_t count = 0;
  for (const U32& l : letters)
    if (std::find(splits.begin(), splits.end(), l) != splits.end()) ++count;
  if (count == 1) {
    for (const U32& l : letters) {
      auto it = std::find(splits.begin(), splits.end(), l);
      if (it != splits.end() && static_cast<long>(it - splits.begin()) > static_cast<long>(splits.size()) - 5)
        return {utf8_encode(l), "letter-token"};
    }
  } else if (count == 0 && std::find(splits.begin(), splits.end(), U32(U"Z")) != splits.end()) {
    return {"Z", "z-token"};
  }
  if (auto l = answer_is_letter(answer)) {
    if (std::find(letters.begin(), letters.end(), U32(1, *l)) != letters.end()) return {utf8_encode(*l), "answer-is"};
  }
  // can_infer_text
  U32 low = py_lower(answer);
  size_t total = 0;
  for (const U32& c : choices) total += c.size();
  if (low.size() > 2 * total) return {"", "none"};
  std::vector<size_t> cands;
  for (size_t i = 0; i < choices.size(); ++i)
    if (contains(low, py_lower(choices[i]))) cands.push_back(i);
  if (cands.size() == 1) return {utf8_encode(letters[cands[0]]), "text"};
  return {"", "none"};
}

// ================================================================================================
// MMAU
// ================================================================================================
namespace {
std::set<U32> word_tokens(const U32& text) {
  U32 s = py_lower(text);
  std::set<U32> out;
  size_t i = 0;
  while (i < s.size()) {
    if (py_isword(s[i])) {
      size_t j = i;
      while (j < s.size() && py_isword(s[j])) ++j;
      out.insert(s.substr(i, j - i));
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}
}  // namespace

bool mmau_string_match(const U32& answer, const U32& prediction, const std::vector<U32>& choices) {
  std::set<U32> pred = word_tokens(prediction), ans = word_tokens(answer);
  if (pred.empty()) return false;
  std::set<U32> incorrect;
  for (const U32& c : choices) {
    std::set<U32> ct = word_tokens(c);
    if (ct != ans)
      for (const U32& t : ct)
        if (!ans.count(t)) incorrect.insert(t);
  }
  for (const U32& t : ans)
    if (!pred.count(t)) return false;
  for (const U32& t : pred)
    if (incorrect.count(t)) return false;
  return true;
}

// ================================================================================================
// MathVista
// ================================================================================================
namespace {

// The answer is "(.*)"\.   (greedy, "." does not cross a newline)
std::optional<U32> quick_extract(const U32& s) {
  const U32 head = U"The answer is \"";
  for (size_t p = s.find(head); p != U32::npos; p = s.find(head, p + 1)) {
    size_t start = p + head.size();
    size_t eol = s.find(U'\n', start);
    if (eol == U32::npos) eol = s.size();
    // last `".` whose quote lies within [start, eol)
    for (size_t q = eol; q > start; --q) {
      size_t k = q - 1;
      if (s[k] == '"' && k + 1 < s.size() && s[k + 1] == '.' && k + 1 <= eol) return s.substr(start, k - start);
    }
  }
  return std::nullopt;
}

// last match of -?\d+(?:,\d{3})*(?:\.\d+)? with the commas removed
std::optional<U32> last_number(const U32& s) {
  std::optional<U32> last;
  size_t i = 0;
  while (i < s.size()) {
    size_t b = i;
    if (s[i] == '-' && dig(s, i + 1)) ++i;
    if (!dig(s, i)) {
      i = b + 1;
      continue;
    }
    size_t p = i + digit_run(s, i);
    while (p < s.size() && s[p] == ',' && digit_run(s, p + 1) == 3 && !dig(s, p + 4)) p += 4;
    if (p < s.size() && s[p] == '.' && dig(s, p + 1)) p += 1 + digit_run(s, p + 1);
    last = replace_all(s.substr(b, p - b), U",", U"");
    i = p;
  }
  return last;
}

std::optional<U32> last_list(const U32& s) {
  size_t open = s.rfind(U'[');
  if (open == U32::npos) return std::nullopt;
  size_t close = s.find(U']', open);
  if (close == U32::npos) return std::nullopt;
  return s.substr(open, close - open + 1);
}

}  // namespace

MathVistaResult mathvista_score(const U32& response_raw, const U32& answer, const MathVistaProblem& p) {
  MathVistaResult r;
  U32 response = py_strip(response_raw);
  // --- extraction
  if (response.empty()) {
    r.rule = "empty";
  } else if (p.multi_choice && std::find(p.choices.begin(), p.choices.end(), response) != p.choices.end()) {
    r.extraction = response;
    r.rule = "choice-text";
  } else if (p.answer_type == "integer" && py_int(response)) {
    r.extraction = u32(*py_int(response));
    r.rule = "int";
  } else if (p.answer_type == "float" && py_float(response)) {
    r.extraction = u32(py_float_repr(*py_float(response)));
    r.rule = "float";
  } else if (auto q = quick_extract(response)) {
    r.extraction = *q;
    r.rule = "quick";
  } else if (p.multi_choice) {
    CanInfer ci = can_infer(response, p.choices);
    if (!ci.letter.empty() && ci.letter != "Z") {
      r.extraction = u32(ci.letter);
      r.rule = "can-infer";
    } else {
      r.rule = "none";
    }
  } else if (p.answer_type == "integer" || p.answer_type == "float") {
    if (auto n = last_number(response)) {
      r.extraction = *n;
      r.rule = "last-number";
    } else {
      r.rule = "none";
    }
  } else if (p.answer_type == "list") {
    if (auto l = last_list(response)) {
      r.extraction = *l;
      r.rule = "last-list";
    } else {
      r.rule = "none";
    }
  } else {
    r.extraction = response;
    r.rule = "text";
  }
  if (!r.extraction) return r;
  // --- normalisation (official normalize_extracted_answer)
  U32 x = *r.extraction;
  if (p.multi_choice) {
    x = py_strip(x);
    for (size_t i = 0; i + 2 < x.size(); ++i) {  // \(([a-zA-Z])\) -> first letter, upper-cased
      char32_t c = x[i + 1];
      if (x[i] == '(' && x[i + 2] == ')' && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        x = U32(1, c >= 'a' ? c - 32 : c);
        break;
      }
    }
    size_t idx = p.choices.size();
    if (x.size() == 1 && x[0] >= 'A' && x[0] < static_cast<char32_t>('A' + p.choices.size())) idx = x[0] - 'A';
    if (idx < p.choices.size()) {
      r.prediction = p.choices[idx];
    } else if (!p.choices.empty()) {
      size_t best = 0, best_d = levenshtein(x, p.choices[0]);
      for (size_t i = 1; i < p.choices.size(); ++i) {
        size_t d = levenshtein(x, p.choices[i]);
        if (d < best_d) {
          best_d = d;
          best = i;
        }
      }
      r.prediction = p.choices[best];
    }
  } else if (p.answer_type == "integer") {
    if (auto f = py_float(x))
      if (auto s = py_int_of_float(*f)) r.prediction = u32(*s);
  } else if (p.answer_type == "float") {
    if (auto f = py_float(x)) r.prediction = u32(py_float_repr(py_round(*f, p.precision)));
  } else {
    r.prediction = x;
  }
  r.correct = r.prediction && py_strip(*r.prediction) == py_strip(answer);
  return r;
}

}  // namespace g4u::eval
