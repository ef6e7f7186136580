// Hand-written to match MATH-Vision's official Python answer extraction (mathllm/MATH-V
// evaluation/evaluate.py and utils.py) step by step; a library would not.
#include "eval/extract.h"

#include "eval/pynum.h"

#include <string>

namespace g4u::eval {
namespace {

U32 remove_all(const U32& s, const U32& what) { return replace_all(s, what, U""); }

size_t count_of(const U32& hay, const U32& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != U32::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

bool starts_with(const U32& s, const U32& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const U32& s, const U32& p) { return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0; }

// _fix_sqrt: "\sqrt2" -> "\sqrt{2}" (the first character after \sqrt gets braces).
U32 fix_sqrt(const U32& s) {
  std::vector<U32> parts = py_split_sep(s, U"\\sqrt");
  U32 out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    const U32& p = parts[i];
    if (!p.empty() && p[0] != U'{') out += U"\\sqrt{" + U32(1, p[0]) + U"}" + p.substr(1);
    else out += U"\\sqrt" + p;
  }
  return out;
}

// _fix_fracs: "\frac12" -> "\frac{1}{2}", "\frac1{2}" -> "\frac{1}{2}".
U32 fix_fracs(const U32& s) {
  std::vector<U32> parts = py_split_sep(s, U"\\frac");
  U32 out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    const U32& p = parts[i];
    out += U"\\frac";
    if (!p.empty() && p[0] == U'{') {
      out += p;
      continue;
    }
    if (p.size() < 2) return s;
    U32 a(1, p[0]), b(1, p[1]);
    if (b != U"{") out += U"{" + a + U"}{" + b + U"}" + p.substr(2);
    else out += U"{" + a + U"}" + b + p.substr(2);
  }
  return out;
}

// _fix_a_slash_b: "3/4" -> "\frac{3}{4}" when both sides are integers written canonically.
U32 fix_a_slash_b(const U32& s) {
  std::vector<U32> parts = py_split_sep(s, U"/");
  if (parts.size() != 2) return s;
  std::optional<std::string> a = py_int(parts[0]), b = py_int(parts[1]);
  if (!a || !b || u32(*a + "/" + *b) != s) return s;
  return u32("\\frac{" + *a + "}{" + *b + "}");
}

// _strip_string.
U32 strip_string(U32 s) {
  for (const char32_t* w : {U"\n", U"\\!"}) s = remove_all(s, w);
  s = replace_all(s, U"\\\\", U"\\");
  s = replace_all(s, U"tfrac", U"frac");
  s = replace_all(s, U"dfrac", U"frac");
  for (const char32_t* w : {U"\\left", U"\\right", U"^{\\circ}", U"^\\circ", U"\\$", U"$"}) s = remove_all(s, w);
  s = py_split_sep(s, U"\\text{ ")[0];  // _remove_right_units
  s = remove_all(s, U"\\%");
  s = replace_all(s, U" .", U" 0.");
  s = replace_all(s, U"{.", U"{0.");
  if (s.empty()) return s;
  if (s[0] == U'.') s = U"0" + s;
  if (py_split_sep(s, U"=").size() == 2) s = py_split_sep(s, U"=").back();
  if (py_split_sep(s, U"\\approx").size() == 2) s = py_split_sep(s, U"\\approx").back();
  if (contains(s, U"sqrt")) s = fix_sqrt(s);
  s = remove_all(s, U" ");
  if (contains(s, U"sqrt")) s = fix_fracs(s);  // the official script gates this on "sqrt" too
  if (s == U"0.5") s = U"\\frac{1}{2}";
  return fix_a_slash_b(s);
}

// The numeric value of a plain number or \frac{a}{b} of plain numbers (what latex2sympy + eval
// would give for them); nullopt for anything else.
std::optional<double> numeric_value(const U32& s) {
  if (auto f = py_float(s)) return f;
  bool negative = starts_with(s, U"-");
  U32 body = negative ? s.substr(1) : s;
  if (!starts_with(body, U"\\frac{") || !ends_with(body, U"}")) return std::nullopt;
  size_t mid = body.find(U"}{");
  if (mid == U32::npos) return std::nullopt;
  auto num = py_float(body.substr(6, mid - 6));
  auto den = py_float(body.substr(mid + 2, body.size() - mid - 3));
  if (!num || !den || *den == 0) return std::nullopt;
  return (negative ? -1 : 1) * *num / *den;
}

// eval_tuple: "(1, 2.345)" -> "(1,2.35)" when every element is a number; otherwise unchanged.
U32 eval_tuple(const U32& s) {
  if (s.size() < 2) return s;
  bool paren = s.front() == U'(' && s.back() == U')', bracket = s.front() == U'[' && s.back() == U']';
  std::vector<U32> items = py_split_sep(s.substr(1, s.size() - 2), U",");
  if ((!paren && !bracket) || items.size() < 2) return s;
  std::vector<U32> out;
  for (const U32& item : items) {
    if (contains(item, U"infty") || item == U"a" || item == U"-a") {
      out.push_back(item);
      continue;
    }
    auto v = numeric_value(py_strip(item));
    if (!v) return s;
    bool integral = py_int(py_strip(item)).has_value();
    out.push_back(integral ? py_strip(item) : u32(py_float_repr(py_round(*v, 2))));
  }
  U32 joined = py_join(out, U",");
  return paren ? U"(" + joined + U")" : U"[" + joined + U"]";
}

}  // namespace

U32 mathvision_find_math_answer(const U32& in) {
  U32 s = remove_all(py_lower(in), U"{}");
  U32 ans = s;
  size_t open = s.find(U"oxed{");
  size_t close = s.rfind(U'}');
  if (open != U32::npos && close != U32::npos && close >= open + 5) ans = s.substr(open + 5, close - open - 5);
  size_t first_close = ans.find(U'}'), first_open = ans.find(U'{');
  if (first_close != U32::npos && (first_open == U32::npos || first_close < first_open)) ans = ans.substr(0, first_close);
  ans = py_split_sep(ans, U"=").back();
  ans = py_split_sep(ans, U"\\approx").back();
  for (const char32_t* w : {U" ", U"\\,"}) ans = remove_all(ans, w);
  ans = replace_all(ans, U"∞", U"\\infty");
  ans = replace_all(ans, U"+\\infty", U"\\infty");
  ans = replace_all(ans, U"\\\\", U"\\");
  for (const char32_t* w : {U"\n", U"\\text", U"\\mbox"}) ans = remove_all(ans, w);
  ans = replace_all(ans, U"bmatrix", U"pmatrix");
  for (const char32_t* w : {U"\\left", U"\\right", U"^{\\circ}", U"^\\circ", U"{m}^3", U"m^3", U"{units}", U"units",
                            U"{km}", U"km"})
    ans = remove_all(ans, w);
  return strip_string(ans);
}

bool mathvision_is_equal(const U32& a_in, const U32& b_in) {
  U32 a = py_lower(a_in), b = py_lower(b_in);
  if (remove_all(a, U" ").empty() || remove_all(b, U" ").empty()) return false;
  if (py_strip(a) == py_strip(b)) return true;
  a = eval_tuple(a);
  b = eval_tuple(b);
  if (a == b) return true;
  auto va = numeric_value(a), vb = numeric_value(b);
  return va && vb && py_round(*va, 2) == py_round(*vb, 2);
}

MathVisionResult mathvision_score(const U32& response, const U32& answer, const std::vector<U32>& options) {
  MathVisionResult r;
  U32 m = py_strip(response);
  r.rule = "whole-response";
  for (char32_t c : U32(U"ABCDE")) {
    U32 l(1, c);
    if (ends_with(m, U" " + l + U".") || ends_with(m, U" (" + l + U").") || starts_with(m, l + U"\n") ||
        starts_with(m, U"(" + l + U")\n") || starts_with(m, U"(" + l + U") " + l + U"\n")) {
      m = l;
      r.rule = "letter-pattern";
    }
  }
  U32 after_is = py_rstrip_chars(py_split_sep(m, U"is ").back(), U".");
  if (py_float(after_is)) {
    m = after_is;
    r.rule = "is-number";
  }
  if (!contains(m, U"oxed{")) {
    for (U32 phrase : {U32(U"the final answer is"), U32(U"the answer is"), U32(U"the correct answer is"),
                       U32(U"the answer should be")}) {
      for (int pass = 0; pass < 2; ++pass) {  // the phrase as written, then with "The"
        if (pass == 1) phrase = replace_all(phrase, U"the", U"The");
        bool had = contains(m, phrase);
        m = py_strip(py_split_sep(m, phrase).back());
        if (had) {
          m = py_split_sep(py_split_sep(m, U"\n")[0], U". ")[0];
          r.rule = "answer-phrase";
        }
      }
    }
  } else {
    if (count_of(m, U"oxed{") > 1) m = U"\\boxed{" + py_split_sep(m, U"oxed{").back();
    r.rule = "boxed";
  }
  m = mathvision_find_math_answer(m);
  for (char32_t c : U32(U"abcde")) {
    m = replace_all(m, U"(" + U32(1, c) + U")", U32(1, c));
    m = replace_all(m, U"{" + U32(1, c) + U"}", U32(1, c));
  }
  m = py_rstrip_chars(m, U".");
  m.erase(0, m.find_first_not_of(U':') == U32::npos ? m.size() : m.find_first_not_of(U':'));  // lstrip(':')
  r.answer = py_strip(m);
  if (r.answer.empty()) r.rule = "empty";
  U32 gold_value;  // the text of the gold option, for multiple choice
  if (!options.empty() && answer.size() == 1 && answer[0] >= U'A' && answer[0] < U'A' + options.size())
    gold_value = options[answer[0] - U'A'];
  r.correct = mathvision_is_equal(answer, r.answer) || mathvision_is_equal(gold_value, r.answer);
  return r;
}

}  // namespace g4u::eval
