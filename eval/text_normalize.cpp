// Hand-written to match openai/whisper's and EvalAI's Python normalizers char for char; a library would not.
#include "eval/text_normalize.h"

#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <unistd.h>

namespace g4u::eval {

// ================================================================================================
// Small regex equivalents. Each function documents the Python pattern it stands for and follows
// `re.sub` semantics: leftmost match, scan resumes after the end of the previous match.
// ================================================================================================
namespace {

bool is_digit09(char32_t c) { return c >= '0' && c <= '9'; }
bool is_az(char32_t c) { return c >= 'a' && c <= 'z'; }

// `\b` at position i of s (Unicode \w).
bool boundary(const U32& s, size_t i) {
  bool before = i > 0 && py_isword(s[i - 1]);
  bool after = i < s.size() && py_isword(s[i]);
  return before != after;
}

// The scan of Python's re.sub: at each position i, `match(s, i, out)` either appends the
// replacement of a match that starts at i and returns the position after the match, or returns
// kNoMatch, and then s[i] is copied and the scan moves on by one.
constexpr size_t kNoMatch = U32::npos;

template <typename Match>
U32 substitute(const U32& s, Match match) {
  U32 out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t end = match(s, i, out);
    if (end != kNoMatch) i = end;
    else out.push_back(s[i++]);
  }
  return out;
}

// `(A)\s+(B)` -> "\1\2" for one-character classes A and B.
template <typename First, typename Second>
U32 join_across_spaces(const U32& s, First first, Second second) {
  return substitute(s, [first, second](const U32& t, size_t i, U32& out) {
    if (!first(t[i])) return kNoMatch;
    size_t j = i + 1;
    while (j < t.size() && py_isspace(t[j])) ++j;
    if (j == i + 1 || j == t.size() || !second(t[j])) return kNoMatch;
    out.push_back(t[i]);
    out.push_back(t[j]);
    return j + 1;
  });
}

// `\s+` -> " "
U32 collapse_ws(const U32& s) {
  return substitute(s, [](const U32& t, size_t i, U32& out) {
    if (!py_isspace(t[i])) return kNoMatch;
    while (i < t.size() && py_isspace(t[i])) ++i;
    out.push_back(' ');
    return i;
  });
}

// `[<\[][^>\]]*[>\]]` -> ""
U32 remove_bracketed(const U32& s) {
  return substitute(s, [](const U32& t, size_t i, U32&) {
    if (t[i] != '<' && t[i] != '[') return kNoMatch;
    size_t j = i + 1;
    while (j < t.size() && t[j] != '>' && t[j] != ']') ++j;
    return j < t.size() ? j + 1 : kNoMatch;
  });
}

// `\(([^)]+?)\)` -> ""
U32 remove_parenthesized(const U32& s) {
  return substitute(s, [](const U32& t, size_t i, U32&) {
    if (t[i] != '(' || i + 1 == t.size() || t[i + 1] == ')') return kNoMatch;
    size_t j = i + 1;
    while (j < t.size() && t[j] != ')') ++j;
    return j < t.size() ? j + 1 : kNoMatch;
  });
}

// `[\b]LITERAL[\b]` -> repl (word boundaries optional at each end).
U32 sub_literal(const U32& s, const U32& lit, const U32& repl, bool b_start, bool b_end) {
  return substitute(s, [&](const U32& t, size_t i, U32& out) {
    if (t.compare(i, lit.size(), lit) != 0 || (b_start && !boundary(t, i)) || (b_end && !boundary(t, i + lit.size())))
      return kNoMatch;
    out += repl;
    return i + lit.size();
  });
}

}  // namespace

// ================================================================================================
// Whisper basic
// ================================================================================================

namespace {
const std::map<char32_t, U32>& additional_diacritics() {
  static const std::map<char32_t, U32> m = {
      {U'œ', U"oe"}, {U'Œ', U"OE"}, {U'ø', U"o"}, {U'Ø', U"O"}, {U'æ', U"ae"}, {U'Æ', U"AE"},
      {U'ß', U"ss"}, {U'ẞ', U"SS"}, {U'đ', U"d"},  {U'Đ', U"D"}, {U'ð', U"d"},  {U'Ð', U"D"},
      {U'þ', U"th"}, {U'Þ', U"th"}, {U'ł', U"l"},  {U'Ł', U"L"},
  };
  return m;
}
bool is_msp(char32_t c) {
  char k = py_category(c)[0];
  return k == 'M' || k == 'S' || k == 'P';
}
}  // namespace

U32 whisper_remove_symbols_and_diacritics(const U32& s, const U32& keep) {
  U32 out;
  const auto& extra = additional_diacritics();
  for (char32_t c : nfkd(s)) {
    if (keep.find(c) != U32::npos) {
      out.push_back(c);
    } else if (auto it = extra.find(c); it != extra.end()) {
      out += it->second;
    } else if (std::string_view(py_category(c)) == "Mn") {
      // dropped
    } else if (is_msp(c)) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

U32 whisper_remove_symbols(const U32& s) {
  U32 out;
  for (char32_t c : nfkc(s)) out.push_back(is_msp(c) ? U' ' : c);
  return out;
}

U32 whisper_basic_normalize(const U32& in, const BasicNormalizerOptions& opt) {
  U32 s = py_lower(in);
  s = remove_bracketed(s);
  s = remove_parenthesized(s);
  s = opt.remove_diacritics ? whisper_remove_symbols_and_diacritics(s) : whisper_remove_symbols(s);
  s = py_lower(s);
  return collapse_ws(s);
}

// ================================================================================================
// Whisper English number normalizer
// ================================================================================================
namespace {

// Non-negative integers as canonical decimal strings (Python ints are unbounded: "one decillion"
// has 34 digits).
std::string big_strip(const std::string& d) {
  size_t nz = d.find_first_not_of('0');
  return nz == std::string::npos ? "0" : d.substr(nz);
}
std::string big_add(const std::string& a, const std::string& b) {
  std::string r;
  int carry = 0;
  size_t i = a.size(), j = b.size();
  while (i > 0 || j > 0 || carry) {
    int s = carry;
    if (i > 0) s += a[--i] - '0';
    if (j > 0) s += b[--j] - '0';
    r.push_back(static_cast<char>('0' + s % 10));
    carry = s / 10;
  }
  std::reverse(r.begin(), r.end());
  return big_strip(r);
}
int big_mod(const std::string& a, int digits) {  // a % 10^digits
  std::string t = a.size() > static_cast<size_t>(digits) ? a.substr(a.size() - digits) : a;
  return std::atoi(t.c_str());
}
std::string big_floor1000_times1000(const std::string& a) {
  if (a.size() <= 3) return "0";
  return a.substr(0, a.size() - 3) + "000";
}
std::string big_times_pow10(const std::string& a, int k) {
  if (a == "0") return "0";
  return a + std::string(static_cast<size_t>(k), '0');
}
U32 ascii_u32(const std::string& s) { return U32(s.begin(), s.end()); }

// Fraction(s) for the strings the normalizer builds. Returns the value as digits * 10^-scale
// (digits canonical), nullopt where Fraction() raises ValueError.
struct Decimal {
  bool neg = false;
  std::string digits;  // ASCII, canonical
  int scale = 0;       // value = digits * 10^-scale
};
std::optional<Decimal> parse_fraction(const U32& s) {
  // \A\s*[+-]?(?=\d|\.\d)(\d*|\d+(_\d+)*)((\s*/\s*\d+(_\d+)*)?|(\.(\d*|\d+(_\d+)*))?(E[+-]?\d+(_\d+)*)?)\s*\Z
  size_t i = 0, n = s.size();
  while (i < n && py_isspace(s[i])) ++i;
  size_t e = n;
  while (e > i && py_isspace(s[e - 1])) --e;
  Decimal d;
  if (i < e && (s[i] == '+' || s[i] == '-')) d.neg = s[i++] == '-';
  auto digit_run = [&](size_t& p, std::string& out) -> bool {  // \d+(_\d+)*
    if (p >= e || decimal_value(s[p]) < 0) return false;
    while (p < e) {
      int v = decimal_value(s[p]);
      if (v >= 0) {
        out.push_back(static_cast<char>('0' + v));
        ++p;
      } else if (s[p] == '_' && p + 1 < e && decimal_value(s[p + 1]) >= 0) {
        ++p;
      } else {
        break;
      }
    }
    return true;
  };
  bool lookahead = i < e && (decimal_value(s[i]) >= 0 || (s[i] == '.' && i + 1 < e && decimal_value(s[i + 1]) >= 0));
  if (!lookahead) return std::nullopt;
  std::string num, frac, denom;
  digit_run(i, num);
  if (i < e && s[i] == '/') return std::nullopt;  // not produced by the normalizer; treat as failure
  if (i < e && s[i] == '.') {
    ++i;
    digit_run(i, frac);
  }
  int exp = 0;
  if (i < e && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < e && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    std::string ed;
    if (!digit_run(i, ed)) return std::nullopt;
    if (ed.size() > 6) return std::nullopt;  // absurd exponents never occur here
    exp = std::atoi(ed.c_str()) * (eneg ? -1 : 1);
  }
  if (i != e) return std::nullopt;
  d.digits = big_strip(num + frac);
  d.scale = static_cast<int>(frac.size()) - exp;
  while (d.scale > 0 && d.digits.size() > 1 && d.digits.back() == '0') {
    d.digits.pop_back();
    --d.scale;
  }
  if (d.digits == "0") d.scale = 0;
  if (d.scale < 0) {
    d.digits = big_times_pow10(d.digits, -d.scale);
    d.scale = 0;
  }
  return d;
}

// Python's `value`: None, int or str.
struct Val {
  enum Kind { kNone, kInt, kStr } kind = kNone;
  std::string i;  // kInt: canonical digits
  U32 s;          // kStr
  static Val none() { return {}; }
  static Val integer(std::string d) { Val v; v.kind = kInt; v.i = big_strip(d); return v; }
  static Val str(U32 t) { Val v; v.kind = kStr; v.s = std::move(t); return v; }
  bool is_none() const { return kind == kNone; }
  bool is_int() const { return kind == kInt; }
  bool is_str() const { return kind == kStr; }
  U32 to_str() const { return kind == kInt ? ascii_u32(i) : s; }  // str(value)
  bool truthy() const { return kind == kInt ? i != "0" : kind == kStr ? !s.empty() : false; }
};

struct NumberWords {
  std::set<U32> zeros;
  std::map<U32, int> ones;
  std::map<U32, std::pair<int, U32>> ones_suffixed;
  std::map<U32, int> tens;
  std::map<U32, std::pair<int, U32>> tens_suffixed;
  std::map<U32, int> multipliers;  // name -> power of ten
  std::map<U32, std::pair<int, U32>> multipliers_suffixed;
  std::set<U32> decimals;
  std::map<U32, U32> preceding_prefixers, following_prefixers;
  std::set<char32_t> prefixes;
  std::set<U32> specials;
  std::set<U32> words;

  NumberWords() {
    zeros = {U"o", U"oh", U"zero"};
    const char* one_names[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                               "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
                               "eighteen", "nineteen"};
    for (int k = 0; k < 19; ++k) ones[u32(one_names[k])] = k + 1;
    for (auto& [name, value] : ones) {
      U32 plural = name == U"six" ? U32(U"sixes") : name + U"s";
      ones_suffixed[plural] = {value, U"s"};
    }
    // ordinals overwrite plurals with the same key (none collide)
    ones_suffixed[U"zeroth"] = {0, U"th"};
    ones_suffixed[U"first"] = {1, U"st"};
    ones_suffixed[U"second"] = {2, U"nd"};
    ones_suffixed[U"third"] = {3, U"rd"};
    ones_suffixed[U"fifth"] = {5, U"th"};
    ones_suffixed[U"twelfth"] = {12, U"th"};
    for (auto& [name, value] : ones) {
      if (value > 3 && value != 5 && value != 12)
        ones_suffixed[name + (name.back() == 't' ? U32(U"h") : U32(U"th"))] = {value, U"th"};
    }
    const char* ten_names[] = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
    for (int k = 0; k < 8; ++k) tens[u32(ten_names[k])] = 20 + 10 * k;
    for (auto& [name, value] : tens) {
      tens_suffixed[replace_all(name, U"y", U"ies")] = {value, U"s"};
    }
    for (auto& [name, value] : tens) {
      tens_suffixed[replace_all(name, U"y", U"ieth")] = {value, U"th"};
    }
    const char* mult_names[] = {"hundred",     "thousand",   "million",    "billion",
                                "trillion",    "quadrillion", "quintillion", "sextillion",
                                "septillion",  "octillion",  "nonillion",  "decillion"};
    const int mult_pow[] = {2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33};
    for (int k = 0; k < 12; ++k) multipliers[u32(mult_names[k])] = mult_pow[k];
    for (auto& [name, p] : multipliers) multipliers_suffixed[name + U"s"] = {p, U"s"};
    for (auto& [name, p] : multipliers) multipliers_suffixed[name + U"th"] = {p, U"th"};
    for (auto& [k, v] : ones) decimals.insert(k);
    for (auto& [k, v] : tens) decimals.insert(k);
    for (auto& k : zeros) decimals.insert(k);
    preceding_prefixers = {{U"minus", U"-"}, {U"negative", U"-"}, {U"plus", U"+"}, {U"positive", U"+"}};
    following_prefixers = {{U"pound", U"£"}, {U"pounds", U"£"}, {U"euro", U"€"},  {U"euros", U"€"},
                           {U"dollar", U"$"}, {U"dollars", U"$"}, {U"cent", U"¢"}, {U"cents", U"¢"}};
    for (auto& [k, v] : preceding_prefixers) prefixes.insert(v[0]);
    for (auto& [k, v] : following_prefixers) prefixes.insert(v[0]);
    specials = {U"and", U"double", U"triple", U"point"};
    for (auto& k : zeros) words.insert(k);
    for (auto& [k, v] : ones) words.insert(k);
    for (auto& [k, v] : ones_suffixed) words.insert(k);
    for (auto& [k, v] : tens) words.insert(k);
    for (auto& [k, v] : tens_suffixed) words.insert(k);
    for (auto& [k, v] : multipliers) words.insert(k);
    for (auto& [k, v] : multipliers_suffixed) words.insert(k);
    for (auto& [k, v] : preceding_prefixers) words.insert(k);
    for (auto& [k, v] : following_prefixers) words.insert(k);
    words.insert(U"per");
    words.insert(U"percent");
    for (auto& k : specials) words.insert(k);
  }
};

const NumberWords& number_words() {
  static const NumberWords w;
  return w;
}

// ^\d+(\.\d+)?$ (Unicode digits)
bool is_numeric_token(const U32& t) {
  size_t i = 0, n = t.size();
  size_t a = i;
  while (i < n && py_isdecimal(t[i])) ++i;
  if (i == a) return false;
  if (i == n) return true;
  if (t[i] != '.') return false;
  ++i;
  size_t b = i;
  while (i < n && py_isdecimal(t[i])) ++i;
  return i > b && i == n;
}

std::vector<U32> process_words(const std::vector<U32>& words) {
  const NumberWords& W = number_words();
  std::vector<U32> out;
  std::optional<U32> prefix;
  Val value;
  bool skip = false;
  auto output = [&](const U32& result) {
    U32 r = prefix ? *prefix + result : result;
    value = Val::none();
    prefix.reset();
    out.push_back(r);
  };
  auto output_val = [&](const Val& v) { output(v.to_str()); };
  auto in_ones = [&](const U32* w) { return w && W.ones.count(*w); };
  auto in_tens = [&](const U32* w) { return w && W.tens.count(*w); };
  auto in_words = [&](const U32* w) { return w && W.words.count(*w); };
  auto itos = [](long v) { return ascii_u32(std::to_string(v)); };

  if (words.empty()) return out;
  for (size_t idx = 0; idx < words.size(); ++idx) {
    const U32* prev = idx > 0 ? &words[idx - 1] : nullptr;
    const U32& current = words[idx];
    const U32* next = idx + 1 < words.size() ? &words[idx + 1] : nullptr;
    if (skip) {
      skip = false;
      continue;
    }
    bool next_is_numeric = next && is_numeric_token(*next);
    bool has_prefix = W.prefixes.count(current[0]) > 0;
    U32 cwp = has_prefix ? current.substr(1) : current;
    if (is_numeric_token(cwp)) {
      auto f = parse_fraction(cwp);
      G4U_CHECK(f.has_value(), "numeric token must parse as a fraction");
      if (!value.is_none()) {
        if (value.is_str() && !value.s.empty() && value.s.back() == '.') {
          value = Val::str(value.s + current);
          continue;
        }
        output_val(value);
      }
      if (has_prefix) prefix = U32(1, current[0]);
      if (f->scale == 0) value = Val::integer(f->digits);
      else value = Val::str(cwp);
    } else if (!W.words.count(current)) {
      if (!value.is_none()) output_val(value);
      output(current);
    } else if (W.zeros.count(current)) {
      value = Val::str((value.truthy() ? value.to_str() : U32()) + U"0");
    } else if (W.ones.count(current)) {
      int ones = W.ones.at(current);
      if (value.is_none()) {
        value = Val::integer(std::to_string(ones));
      } else if (value.is_str() || in_ones(prev)) {
        if (in_tens(prev) && ones < 10) {
          G4U_CHECK(value.is_str() && !value.s.empty() && value.s.back() == '0', "tens value must end in 0");
          value = Val::str(value.s.substr(0, value.s.size() - 1) + itos(ones));
        } else {
          value = Val::str(value.to_str() + itos(ones));
        }
      } else if (ones < 10) {
        if (big_mod(value.i, 1) == 0) value = Val::integer(big_add(value.i, std::to_string(ones)));
        else value = Val::str(value.to_str() + itos(ones));
      } else {
        if (big_mod(value.i, 2) == 0) value = Val::integer(big_add(value.i, std::to_string(ones)));
        else value = Val::str(value.to_str() + itos(ones));
      }
    } else if (W.ones_suffixed.count(current)) {
      auto [ones, suffix] = W.ones_suffixed.at(current);
      if (value.is_none()) {
        output(itos(ones) + suffix);
      } else if (value.is_str() || in_ones(prev)) {
        if (in_tens(prev) && ones < 10) {
          G4U_CHECK(value.is_str() && !value.s.empty() && value.s.back() == '0', "tens value must end in 0");
          output(value.s.substr(0, value.s.size() - 1) + itos(ones) + suffix);
        } else {
          output(value.to_str() + itos(ones) + suffix);
        }
      } else if (ones < 10) {
        if (big_mod(value.i, 1) == 0) output(ascii_u32(big_add(value.i, std::to_string(ones))) + suffix);
        else output(value.to_str() + itos(ones) + suffix);
      } else {
        if (big_mod(value.i, 2) == 0) output(ascii_u32(big_add(value.i, std::to_string(ones))) + suffix);
        else output(value.to_str() + itos(ones) + suffix);
      }
      value = Val::none();
    } else if (W.tens.count(current)) {
      int tens = W.tens.at(current);
      if (value.is_none()) {
        value = Val::integer(std::to_string(tens));
      } else if (value.is_str()) {
        value = Val::str(value.s + itos(tens));
      } else {
        if (big_mod(value.i, 2) == 0) value = Val::integer(big_add(value.i, std::to_string(tens)));
        else value = Val::str(value.to_str() + itos(tens));
      }
    } else if (W.tens_suffixed.count(current)) {
      auto [tens, suffix] = W.tens_suffixed.at(current);
      if (value.is_none()) {
        output(itos(tens) + suffix);
      } else if (value.is_str()) {
        output(value.s + itos(tens) + suffix);
      } else {
        if (big_mod(value.i, 2) == 0) output(ascii_u32(big_add(value.i, std::to_string(tens))) + suffix);
        else output(value.to_str() + itos(tens) + suffix);
      }
    } else if (W.multipliers.count(current)) {
      int p = W.multipliers.at(current);
      std::string multiplier = big_times_pow10("1", p);
      if (value.is_none()) {
        value = Val::integer(multiplier);
      } else if (value.is_str() || value.i == "0") {
        std::optional<Decimal> f = value.is_str() ? parse_fraction(value.s) : Decimal{false, "0", 0};
        if (f && f->scale <= p) {
          // p.denominator == 1: the numerator is digits * 10^(p - scale), with the sign
          std::string num = big_times_pow10(f->digits, p - f->scale);
          if (f->neg && num != "0") value = Val::str(U"-" + ascii_u32(num));  // never produced in practice
          else value = Val::integer(num);
        } else {
          output_val(value);
          value = Val::integer(multiplier);
        }
      } else {
        std::string before = big_floor1000_times1000(value.i);
        int residual = big_mod(value.i, 3);
        value = Val::integer(big_add(before, big_times_pow10(std::to_string(residual), p)));
      }
    } else if (W.multipliers_suffixed.count(current)) {
      auto [p, suffix] = W.multipliers_suffixed.at(current);
      std::string multiplier = big_times_pow10("1", p);
      if (value.is_none()) {
        output(ascii_u32(multiplier) + suffix);
      } else if (value.is_str()) {
        auto f = parse_fraction(value.s);
        if (f && f->scale <= p) {
          std::string num = big_times_pow10(f->digits, p - f->scale);
          output((f->neg && num != "0" ? U32(U"-") : U32()) + ascii_u32(num) + suffix);
        } else {
          output_val(value);
          output(ascii_u32(multiplier) + suffix);
        }
      } else {
        std::string before = big_floor1000_times1000(value.i);
        int residual = big_mod(value.i, 3);
        value = Val::integer(big_add(before, big_times_pow10(std::to_string(residual), p)));
        output(ascii_u32(value.i) + suffix);
      }
      value = Val::none();
    } else if (W.preceding_prefixers.count(current)) {
      if (!value.is_none()) output_val(value);
      if (in_words(next) || next_is_numeric) prefix = W.preceding_prefixers.at(current);
      else output(current);
    } else if (W.following_prefixers.count(current)) {
      if (!value.is_none()) {
        prefix = W.following_prefixers.at(current);
        output_val(value);
      } else {
        output(current);
      }
    } else if (current == U"per" || current == U"percent") {
      if (!value.is_none()) {
        if (current == U"per") {
          if (next && *next == U"cent") {
            output(value.to_str() + U"%");
            skip = true;
          } else {
            output_val(value);
            output(current);
          }
        } else {
          output(value.to_str() + U"%");
        }
      } else {
        output(current);
      }
    } else if (W.specials.count(current)) {
      if (!in_words(next) && !next_is_numeric) {
        if (!value.is_none()) output_val(value);
        output(current);
      } else if (current == U"and") {
        if (!(prev && W.multipliers.count(*prev))) {
          if (!value.is_none()) output_val(value);
          output(current);
        }
      } else if (current == U"double" || current == U"triple") {
        if (next && (W.ones.count(*next) || W.zeros.count(*next))) {
          int repeats = current == U"double" ? 2 : 3;
          int ones = W.ones.count(*next) ? W.ones.at(*next) : 0;
          U32 rep;
          for (int k = 0; k < repeats; ++k) rep += itos(ones);
          value = Val::str((value.truthy() ? value.to_str() : U32()) + rep);
          skip = true;
        } else {
          if (!value.is_none()) output_val(value);
          output(current);
        }
      } else {  // point
        if ((next && W.decimals.count(*next)) || next_is_numeric)
          value = Val::str((value.truthy() ? value.to_str() : U32()) + U".");
      }
    } else {
      G4U_CHECK(false, "unexpected token in number normalizer");
    }
  }
  if (!value.is_none()) output_val(value);
  return out;
}

// \band\s+a\s+half\b at i -> end of match, or npos
size_t match_and_a_half(const U32& s, size_t i) {
  auto lit = [&](size_t p, const char32_t* w) -> size_t {
    U32 t(w);
    return s.compare(p, t.size(), t) == 0 ? p + t.size() : U32::npos;
  };
  auto ws = [&](size_t p) -> size_t {
    size_t q = p;
    while (q < s.size() && py_isspace(s[q])) ++q;
    return q > p ? q : U32::npos;
  };
  if (!boundary(s, i)) return U32::npos;
  size_t p = lit(i, U"and");
  if (p == U32::npos || (p = ws(p)) == U32::npos || (p = lit(p, U"a")) == U32::npos || (p = ws(p)) == U32::npos ||
      (p = lit(p, U"half")) == U32::npos || !boundary(s, p))
    return U32::npos;
  return p;
}

U32 number_preprocess(const U32& s0) {
  const NumberWords& W = number_words();
  // re.split(r"\band\s+a\s+half\b", s)
  std::vector<U32> segments;
  size_t start = 0, i = 0;
  while (i <= s0.size()) {
    size_t e = i < s0.size() ? match_and_a_half(s0, i) : U32::npos;
    if (e != U32::npos) {
      segments.push_back(s0.substr(start, i - start));
      start = e;
      i = e;
    } else {
      ++i;
    }
  }
  segments.push_back(s0.substr(start));
  std::vector<U32> results;
  for (size_t k = 0; k < segments.size(); ++k) {
    const U32& segment = segments[k];
    if (py_strip(segment).empty()) continue;
    results.push_back(segment);
    if (k != segments.size() - 1) {
      U32 last_word = py_split(segment).back();
      if (W.decimals.count(last_word) || W.multipliers.count(last_word)) results.push_back(U"point five");
      else results.push_back(U"and a half");
    }
  }
  U32 s = py_join(results, U" ");

  // \b(?:a\s+half\s+|half\s+(?:a\s+)?)(MULTIPLIER)\b -> "0.5 \1"
  {
    auto ws = [&](size_t p) -> size_t {
      size_t q = p;
      while (q < s.size() && py_isspace(s[q])) ++q;
      return q > p ? q : U32::npos;
    };
    auto lit = [&](size_t p, const U32& t) -> size_t {
      return p != U32::npos && s.compare(p, t.size(), t) == 0 ? p + t.size() : U32::npos;
    };
    auto mult = [&](size_t p, U32* name) -> size_t {
      if (p == U32::npos) return U32::npos;
      // longest first; none is a prefix of another, so any order with the \b check is the same
      for (auto& [m, pw] : W.multipliers) {
        size_t e = lit(p, m);
        if (e != U32::npos && boundary(s, e)) {
          *name = m;
          return e;
        }
      }
      return U32::npos;
    };
    U32 out;
    size_t j = 0;
    while (j < s.size()) {
      U32 name;
      size_t e = U32::npos;
      if (boundary(s, j)) {
        // alternative 1: a\s+half\s+
        size_t p = lit(j, U"a");
        if (p != U32::npos) p = ws(p);
        p = lit(p, U"half");
        if (p != U32::npos) p = ws(p);
        e = mult(p, &name);
        if (e == U32::npos) {
          // alternative 2: half\s+(?:a\s+)?
          size_t q = lit(j, U"half");
          if (q != U32::npos) q = ws(q);
          if (q != U32::npos) {
            size_t qa = lit(q, U"a");
            if (qa != U32::npos) qa = ws(qa);
            if (qa != U32::npos) e = mult(qa, &name);
            if (e == U32::npos) e = mult(q, &name);
          }
        }
      }
      if (e != U32::npos) {
        out += U"0.5 " + name;
        j = e;
      } else {
        out.push_back(s[j++]);
      }
    }
    s = out;
  }
  // ([a-z])([0-9]) -> "\1 \2", then ([0-9])([a-z]) -> "\1 \2"
  auto spaced = [](char32_t a, char32_t b) { return U32{a, U' ', b}; };
  s = sub_char_pairs(s, [](char32_t a, char32_t b) { return is_az(a) && is_digit09(b); }, spaced);
  s = sub_char_pairs(s, [](char32_t a, char32_t b) { return is_digit09(a) && is_az(b); }, spaced);
  // ([0-9])\s+(st|nd|rd|th|s)\b -> "\1\2"
  s = substitute(s, [](const U32& t, size_t j, U32& out) {
    static const U32 sfx[] = {U"st", U"nd", U"rd", U"th", U"s"};
    if (!is_digit09(t[j])) return kNoMatch;
    size_t p = j + 1;
    while (p < t.size() && py_isspace(t[p])) ++p;
    if (p == j + 1) return kNoMatch;
    for (const U32& x : sfx) {
      if (t.compare(p, x.size(), x) == 0 && boundary(t, p + x.size())) {
        out.push_back(t[j]);
        out += x;
        return p + x.size();
      }
    }
    return kNoMatch;
  });
  return s;
}

bool is_currency3(char32_t c) { return c == U'€' || c == U'£' || c == U'$'; }

U32 number_postprocess(const U32& s0) {
  U32 s = s0;
  // ([€£$])([0-9]+) (?:and )?¢([0-9]{1,2})\b -> "{currency}{integer}.{cents:02d}"
  {
    U32 out;
    size_t j = 0;
    while (j < s.size()) {
      if (is_currency3(s[j])) {
        size_t p = j + 1;
        while (p < s.size() && is_digit09(s[p])) ++p;
        if (p > j + 1 && p < s.size() && s[p] == ' ') {
          U32 integer = s.substr(j + 1, p - j - 1);
          size_t starts[2] = {U32::npos, p + 1};
          if (s.compare(p + 1, 4, U"and ") == 0) starts[0] = p + 5;
          bool done = false;
          for (size_t st : starts) {
            if (st == U32::npos || st >= s.size() || s[st] != U'¢') continue;
            size_t d = st + 1;
            for (int len = 2; len >= 1 && !done; --len) {
              bool ok = d + len <= s.size();
              for (int k = 0; ok && k < len; ++k) ok = is_digit09(s[d + k]);
              if (ok && boundary(s, d + len)) {
                int cents = std::atoi(utf8_encode(s.substr(d, len)).c_str());
                out.push_back(s[j]);
                out += integer + U"." + ascii_u32(fmt::format("{:02d}", cents));
                j = d + len;
                done = true;
              }
            }
            if (done) break;
          }
          if (done) continue;
        }
      }
      out.push_back(s[j++]);
    }
    s = out;
  }
  // [€£$]0.([0-9]{1,2})\b -> "¢{int(cents)}"   ("." is any character but a newline)
  s = substitute(s, [](const U32& t, size_t j, U32& out) {
    if (!is_currency3(t[j]) || j + 2 >= t.size() || t[j + 1] != '0' || t[j + 2] == '\n') return kNoMatch;
    const size_t d = j + 3;
    for (size_t len = 2; len >= 1; --len) {
      bool ok = d + len <= t.size();
      for (size_t k = 0; ok && k < len; ++k) ok = is_digit09(t[d + k]);
      if (ok && boundary(t, d + len)) {
        int cents = std::atoi(utf8_encode(t.substr(d, len)).c_str());
        out += U"¢" + ascii_u32(std::to_string(cents));
        return d + len;
      }
    }
    return kNoMatch;
  });
  // \b1(s?)\b -> "one\1"
  s = substitute(s, [](const U32& t, size_t j, U32& out) {
    if (t[j] != '1' || !boundary(t, j)) return kNoMatch;
    if (j + 1 < t.size() && t[j + 1] == 's' && boundary(t, j + 2)) {
      out += U"ones";
      return j + 2;
    }
    if (!boundary(t, j + 1)) return kNoMatch;
    out += U"one";
    return j + 1;
  });
  return s;
}

}  // namespace

U32 whisper_english_numbers(const U32& s) {
  U32 t = number_preprocess(s);
  std::vector<U32> words = process_words(py_split(t));
  return number_postprocess(py_join(words, U" "));
}

// ================================================================================================
// Whisper English
// ================================================================================================

std::shared_ptr<const SpellingMap> load_spelling_map(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw_input("{}: expected a JSON object mapping British to American spellings", path);
  auto m = std::make_shared<SpellingMap>();
  for (auto& [k, v] : j.items()) {
    if (!v.is_string()) throw_input("{}: {}: expected a string value", path, k);
    (*m)[u32(k)] = u32(v.get<std::string>());
  }
  if (m->empty()) throw_input("{}: the spelling map is empty", path);
  return m;
}

std::string find_spelling_file(const std::string& explicit_path) {
  namespace fs = std::filesystem;
  const char* kRel = "shared/data/whisper_english_spellings.json";
  if (!explicit_path.empty()) {
    if (!fs::is_regular_file(explicit_path)) throw_input("--spellings {}: no such file", explicit_path);
    return explicit_path;
  }
  std::vector<std::string> tried;
  if (const char* env = std::getenv("G4U_SPELLINGS"); env && *env) {
    if (fs::is_regular_file(env)) return env;
    tried.push_back(std::string("$G4U_SPELLINGS=") + env);
  }
  std::vector<fs::path> roots;
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (!ec) roots.push_back(cwd);
  char exe[4096];
  ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    roots.push_back(fs::path(exe).parent_path());
  }
  for (const fs::path& root : roots) {
    for (fs::path dir = root;; dir = dir.parent_path()) {
      fs::path cand = dir / ".." / kRel;
      if (fs::is_regular_file(cand, ec)) return fs::weakly_canonical(cand, ec).string();
      tried.push_back(cand.lexically_normal().string());
      if (dir == dir.parent_path() || dir.empty()) break;
    }
  }
  std::string list;
  for (auto& t : tried) list += "\n  " + t;
  throw_input(
      "whisper-en needs the UK->US spelling map (openai/whisper english.json, 1,739 entries), which is not "
      "shipped with g4u: pass --spellings FILE or set G4U_SPELLINGS. Looked in:{}",
      list);
}

namespace {

struct Replacer {
  U32 lit;
  U32 repl;
  bool b_start;
};

const std::vector<Replacer>& english_replacers() {
  // All patterns end with \b; the first group also starts with \b.
  static const std::vector<Replacer> r = {
      {U"won't", U"will not", true},
      {U"can't", U"can not", true},
      {U"let's", U"let us", true},
      {U"ain't", U"aint", true},
      {U"y'all", U"you all", true},
      {U"wanna", U"want to", true},
      {U"gotta", U"got to", true},
      {U"gonna", U"going to", true},
      {U"i'ma", U"i am going to", true},
      {U"imma", U"i am going to", true},
      {U"woulda", U"would have", true},
      {U"coulda", U"could have", true},
      {U"shoulda", U"should have", true},
      {U"ma'am", U"madam", true},
      {U"mr", U"mister ", true},
      {U"mrs", U"missus ", true},
      {U"st", U"saint ", true},
      {U"dr", U"doctor ", true},
      {U"prof", U"professor ", true},
      {U"capt", U"captain ", true},
      {U"gov", U"governor ", true},
      {U"ald", U"alderman ", true},
      {U"gen", U"general ", true},
      {U"sen", U"senator ", true},
      {U"rep", U"representative ", true},
      {U"pres", U"president ", true},
      {U"rev", U"reverend ", true},
      {U"hon", U"honorable ", true},
      {U"asst", U"assistant ", true},
      {U"assoc", U"associate ", true},
      {U"lt", U"lieutenant ", true},
      {U"col", U"colonel ", true},
      {U"jr", U"junior ", true},
      {U"sr", U"senior ", true},
      {U"esq", U"esquire ", true},
      {U"'d been", U" had been", false},
      {U"'s been", U" has been", false},
      {U"'d gone", U" had gone", false},
      {U"'s gone", U" has gone", false},
      {U"'d done", U" had done", false},
      {U"'s got", U" has got", false},
      {U"n't", U" not", false},
      {U"'re", U" are", false},
      {U"'s", U" is", false},
      {U"'d", U" would", false},
      {U"'ll", U" will", false},
      {U"'t", U" not", false},
      {U"'ve", U" have", false},
      {U"'m", U" am", false},
  };
  return r;
}

bool is_currency4(char32_t c) { return c == U'$' || c == U'¢' || c == U'€' || c == U'£'; }

}  // namespace

U32 whisper_english_normalize(const U32& in, const SpellingMap& spellings) {
  U32 s = py_lower(in);
  s = remove_bracketed(s);
  s = remove_parenthesized(s);
  // \b(hmm|mm|mhm|mmm|uh|um)\b -> "": whole \w runs equal to a filler word
  static const std::set<U32> fillers = {U"hmm", U"mm", U"mhm", U"mmm", U"uh", U"um"};
  s = substitute(s, [](const U32& t, size_t i, U32& out) {
    if (!py_isword(t[i])) return kNoMatch;
    size_t j = i;
    while (j < t.size() && py_isword(t[j])) ++j;
    U32 w = t.substr(i, j - i);
    if (!fillers.count(w)) out += w;
    return j;
  });
  // \s+' -> "'"
  s = substitute(s, [](const U32& t, size_t i, U32& out) {
    if (!py_isspace(t[i])) return kNoMatch;
    size_t j = i;
    while (j < t.size() && py_isspace(t[j])) ++j;
    if (j == t.size() || t[j] != '\'') out.append(t, i, j - i);
    return j;
  });
  for (const Replacer& r : english_replacers()) s = sub_literal(s, r.lit, r.repl, r.b_start, true);
  // (\d),(\d) -> "\1\2"
  s = substitute(s, [](const U32& t, size_t i, U32& out) {
    if (i + 2 >= t.size() || !py_isdecimal(t[i]) || t[i + 1] != ',' || !py_isdecimal(t[i + 2])) return kNoMatch;
    out.push_back(t[i]);
    out.push_back(t[i + 2]);
    return i + 3;
  });
  // \.([^0-9]|$) -> " \1"
  s = substitute(s, [](const U32& t, size_t i, U32& out) {
    if (t[i] != '.' || (i + 1 < t.size() && is_digit09(t[i + 1]))) return kNoMatch;
    out.push_back(' ');
    if (i + 1 == t.size()) return i + 1;
    out.push_back(t[i + 1]);
    return i + 2;
  });
  s = whisper_remove_symbols_and_diacritics(s, U".%$¢€£");
  s = whisper_english_numbers(s);
  {
    std::vector<U32> words = py_split(s);
    for (U32& w : words) {
      auto it = spellings.find(w);
      if (it != spellings.end()) w = it->second;
    }
    s = py_join(words, U" ");
  }
  auto is_percent = [](char32_t c) { return c == '%'; };
  // ([$¢€£])\s+([0-9]) -> "\1\2"
  s = join_across_spaces(s, is_currency4, is_digit09);
  // ([0-9])\s+% -> "\1%"
  s = join_across_spaces(s, is_digit09, is_percent);
  // [.$¢€£]([^0-9]) -> " \1"
  s = sub_char_pairs(
      s, [](char32_t a, char32_t b) { return (a == '.' || is_currency4(a)) && !is_digit09(b); },
      [](char32_t, char32_t b) { return U32{U' ', b}; });
  // ([^0-9])% -> "\1 "
  s = sub_char_pairs(
      s, [](char32_t a, char32_t b) { return !is_digit09(a) && b == '%'; },
      [](char32_t a, char32_t) { return U32{a, U' '}; });
  return collapse_ws(s);
}

// ================================================================================================
// VQA / EvalAI answer processor
// ================================================================================================
namespace {

const std::map<U32, U32>& vqa_contractions() {
  static const std::map<U32, U32> m = [] {
    const char* pairs[][2] = {
        {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
        {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
        {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
        {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"}, {"havent", "haven't"},
        {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"}, {"howd", "how'd"},
        {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"},
        {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
        {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
        {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
        {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"},
        {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"},
        {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
        {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
        {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
        {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
        {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
        {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
        {"somethingd", "something'd"}, {"somethingd've", "something'd've"},
        {"something'dve", "something'd've"}, {"somethingll", "something'll"}, {"thats", "that's"},
        {"thered", "there'd"}, {"thered've", "there'd've"}, {"there'dve", "there'd've"},
        {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
        {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"}, {"theyve", "they've"},
        {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
        {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"},
        {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"},
        {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"}, {"whod've", "who'd've"},
        {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"},
        {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
        {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"},
        {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
        {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"},
        {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"},
        {"youre", "you're"}, {"youve", "you've"},
    };
    std::map<U32, U32> r;
    for (auto& p : pairs) r[u32(p[0])] = u32(p[1]);
    return r;
  }();
  return m;
}

}  // namespace

U32 vqa_normalize(const U32& in) {
  // word_tokenize: lower; delete "," and "?"; "'s" -> " 's"; strip
  U32 s = py_lower(in);
  s = replace_all(s, U",", U"");
  s = replace_all(s, U"?", U"");
  s = replace_all(s, U"'s", U" 's");
  s = py_strip(s);
  // newlines / tabs -> spaces; strip
  s = replace_all(s, U"\n", U" ");
  s = replace_all(s, U"\t", U" ");
  s = py_strip(s);
  // process_punctuation: the conditions look at the text as it was before this step
  {
    const U32 in_text = s;
    bool comma_digit = false;  // (?<=\d)(\,)+(?=\d)
    for (size_t i = 1; i + 1 < in_text.size() && !comma_digit; ++i) {
      if (in_text[i] == ',' && py_isdecimal(in_text[i - 1])) {
        size_t j = i;
        while (j < in_text.size() && in_text[j] == ',') ++j;
        if (j < in_text.size() && py_isdecimal(in_text[j])) comma_digit = true;
      }
    }
    static const char32_t order[] = {';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+',
                                     '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'};
    U32 out = in_text;
    for (char32_t p : order) {
      U32 ps(1, p);
      bool space_adjacent = contains(in_text, ps + U" ") || contains(in_text, U" " + ps);
      out = replace_all(out, ps, (space_adjacent || comma_digit) ? U"" : U" ");
    }
    // PERIOD_STRIP.sub("", out, re.UNICODE): "(?!<=\d)(\.)(?!\d)" with count=re.UNICODE (32)
    U32 o2;
    int removed = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == '.' && removed < 32 && !(i + 1 < out.size() && py_isdecimal(out[i + 1]))) {
        ++removed;
        continue;
      }
      o2.push_back(out[i]);
    }
    s = o2;
  }
  // process_digit_article
  {
    static const std::map<U32, U32> numbers = {{U"none", U"0"}, {U"zero", U"0"}, {U"one", U"1"},
                                               {U"two", U"2"},  {U"three", U"3"}, {U"four", U"4"},
                                               {U"five", U"5"}, {U"six", U"6"},   {U"seven", U"7"},
                                               {U"eight", U"8"}, {U"nine", U"9"}, {U"ten", U"10"}};
    std::vector<U32> out;
    for (U32 w : py_split(py_lower(s))) {
      if (auto it = numbers.find(w); it != numbers.end()) w = it->second;
      if (w == U"a" || w == U"an" || w == U"the") continue;
      out.push_back(w);
    }
    const auto& contr = vqa_contractions();
    for (U32& w : out)
      if (auto it = contr.find(w); it != contr.end()) w = it->second;
    s = py_join(out, U" ");
  }
  return s;
}

U32 anls_normalize(const U32& s) { return py_join(py_split(py_lower(py_strip(s))), U" "); }

// ================================================================================================
// Registry
// ================================================================================================

namespace {

Normalizer stateless(std::string name, std::string description, U32 (*normalize)(const U32&)) {
  return {std::move(name), std::move(description), [normalize](const NormalizerOptions&) -> NormalizeFn {
            return [normalize](const U32& s) { return normalize(s); };
          }};
}

U32 identity(const U32& s) { return s; }
U32 whisper_basic_default(const U32& s) { return whisper_basic_normalize(s); }

Registry<Normalizer> build_normalizer_registry() {
  Registry<Normalizer> r("normalizer");
  r.add(stateless("none", "identity", identity));
  r.add(stateless("whisper-basic",
                  "openai/whisper BasicTextNormalizer (lower, bracket removal, NFKC, symbols -> space)",
                  whisper_basic_default));
  r.add({"whisper-en",
         "openai/whisper EnglishTextNormalizer (contractions, titles, numbers, currency, UK->US spellings)",
         [](const NormalizerOptions& opt) -> NormalizeFn {
           std::shared_ptr<const SpellingMap> map = load_spelling_map(find_spelling_file(opt.spellings_path));
           return [map](const U32& s) { return whisper_english_normalize(s, *map); };
         }});
  r.add(stateless("vqa", "EvalAI / VQA answer processor (punctuation, number words, articles, contractions)",
                  vqa_normalize));
  return r;
}

}  // namespace

const Registry<Normalizer>& normalizer_registry() {
  static const Registry<Normalizer> registry = build_normalizer_registry();
  return registry;
}

}  // namespace g4u::eval
