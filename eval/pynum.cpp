// Hand-written to match CPython's float(), int(), repr() and round() bit for bit; a C++ number library would not.
#include "eval/pynum.h"

#include "base/error.h"

#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace g4u::eval {

namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// Python's _PyUnicode_TransformDecimalAndSpaceToASCII: whitespace -> ' ', decimal digits -> ASCII,
// other non-ASCII characters -> a character that makes the parse fail.
std::string to_ascii_number_text(const U32& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (py_isspace(c)) {
      out.push_back(' ');
    } else {
      int d = decimal_value(c);
      out.push_back(d >= 0 ? static_cast<char>('0' + d) : '?');
    }
  }
  return out;
}

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string strip_ascii(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_ascii_space(s[b])) ++b;
  while (e > b && is_ascii_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// _Py_string_to_number_with_underscores: an underscore must sit between two digits.
std::optional<std::string> remove_underscores(const std::string& s) {
  if (s.find('_') == std::string::npos) return s;
  std::string out;
  char prev = '\0';
  for (char c : s) {
    if (c == '_') {
      if (!is_ascii_digit(prev)) return std::nullopt;
    } else {
      out.push_back(c);
      if (prev == '_' && !is_ascii_digit(c)) return std::nullopt;
    }
    prev = c;
  }
  if (prev == '_') return std::nullopt;
  return out;
}

bool iequals(const std::string& a, const char* b) {
  size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != b[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<double> py_float(const U32& s) {
  std::string t = strip_ascii(to_ascii_number_text(s));
  auto cleaned = remove_underscores(t);
  if (!cleaned || cleaned->empty()) return std::nullopt;
  const std::string& x = *cleaned;
  size_t i = 0;
  bool neg = false;
  if (x[i] == '+' || x[i] == '-') {
    neg = x[i] == '-';
    ++i;
  }
  std::string rest = x.substr(i);
  if (iequals(rest, "inf") || iequals(rest, "infinity")) return neg ? -HUGE_VAL : HUGE_VAL;
  if (iequals(rest, "nan")) return neg ? -std::nan("") : std::nan("");
  // decimal: digits [ '.' digits ] | '.' digits, then optional exponent
  size_t j = 0, n = rest.size();
  size_t int_digits = 0, frac_digits = 0;
  while (j < n && is_ascii_digit(rest[j])) { ++j; ++int_digits; }
  if (j < n && rest[j] == '.') {
    ++j;
    while (j < n && is_ascii_digit(rest[j])) { ++j; ++frac_digits; }
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  if (j < n && (rest[j] == 'e' || rest[j] == 'E')) {
    ++j;
    if (j < n && (rest[j] == '+' || rest[j] == '-')) ++j;
    size_t exp_digits = 0;
    while (j < n && is_ascii_digit(rest[j])) { ++j; ++exp_digits; }
    if (exp_digits == 0) return std::nullopt;
  }
  if (j != n) return std::nullopt;
  // from_chars does not accept a leading '+', so parse the unsigned part and apply the sign.
  double v = 0;
  auto r = std::from_chars(rest.data(), rest.data() + n, v, std::chars_format::general);
  if (r.ec != std::errc() || r.ptr != rest.data() + n) {
    // from_chars reports out-of-range (overflow to inf / underflow to 0) as an error; Python
    // returns inf or 0.0 there, which strtod gives us (C locale digits only at this point).
    v = std::strtod(rest.c_str(), nullptr);
  }
  return neg ? -v : v;
}

std::optional<double> py_float(const std::string& utf8) {
  auto u = utf8_decode(utf8);
  if (!u) return std::nullopt;
  return py_float(*u);
}

std::optional<std::string> py_int(const U32& s) {
  std::string t = strip_ascii(to_ascii_number_text(s));
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    neg = t[i] == '-';
    ++i;
  }
  std::string body = t.substr(i);
  if (body.empty() || !is_ascii_digit(body[0])) return std::nullopt;
  auto cleaned = remove_underscores(body);
  if (!cleaned) return std::nullopt;
  for (char c : *cleaned)
    if (!is_ascii_digit(c)) return std::nullopt;
  size_t nz = cleaned->find_first_not_of('0');
  std::string digits = nz == std::string::npos ? "0" : cleaned->substr(nz);
  if (digits == "0") return digits;
  return neg ? "-" + digits : digits;
}

std::string py_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  G4U_CHECK(r.ec == std::errc(), "to_chars failed");
  std::string sci(buf, r.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp10 = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits.push_back(c);
  int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  std::string out = neg ? "-" : "";
  if (decpt <= -4 || decpt > 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    int e = decpt - 1;
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    out += eb;
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
  } else if (static_cast<size_t>(decpt) >= digits.size()) {
    out += digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
  }
  return out;
}

double py_round(double x, int ndigits) {
  if (!std::isfinite(x)) return x;
  const int kMax = static_cast<int>((DBL_MANT_DIG - DBL_MIN_EXP) * 0.30103);
  const int kMin = -static_cast<int>((DBL_MAX_EXP + 1) * 0.30103);
  if (ndigits > kMax) return x;
  if (ndigits < kMin) return 0.0 * x;
  if (ndigits >= 0) {
    // glibc printf rounds the exact binary value, ties to even: the same digits as _Py_dg_dtoa
    // mode 3.
    std::vector<char> buf(static_cast<size_t>(ndigits) + 400);
    std::snprintf(buf.data(), buf.size(), "%.*f", ndigits, x);
    return std::strtod(buf.data(), nullptr);
  }
  // Negative ndigits: round the exact integer part at 10^-ndigits, ties to even.
  std::vector<char> buf(400);
  std::snprintf(buf.data(), buf.size(), "%.0f", std::trunc(x));
  std::string s(buf.data());
  bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  double frac = std::fabs(x - std::trunc(x));  // exact
  size_t k = static_cast<size_t>(-ndigits);
  if (s.size() < k) s = std::string(k - s.size(), '0') + s;
  std::string head = s.substr(0, s.size() - k), tail = s.substr(s.size() - k);
  if (head.empty()) head = "0";
  // compare tail(.frac) with 5000...
  int cmp;
  std::string half = "5" + std::string(k - 1, '0');
  if (tail != half) cmp = tail < half ? -1 : 1;
  else cmp = frac > 0 ? 1 : 0;
  bool up = cmp > 0 || (cmp == 0 && ((head.back() - '0') % 2 == 1));
  if (up) {
    int i = static_cast<int>(head.size()) - 1;
    while (i >= 0 && head[static_cast<size_t>(i)] == '9') head[static_cast<size_t>(i--)] = '0';
    if (i < 0) head = "1" + head;
    else head[static_cast<size_t>(i)]++;
  }
  std::string res = (neg ? "-" : "") + head + std::string(k, '0');
  return std::strtod(res.c_str(), nullptr);
}

std::optional<std::string> py_int_of_float(double x) {
  if (!std::isfinite(x)) return std::nullopt;
  double t = std::trunc(x);
  if (t == 0) return std::string("0");
  std::vector<char> buf(400);
  std::snprintf(buf.data(), buf.size(), "%.0f", t);
  return std::string(buf.data());
}

}  // namespace g4u::eval
