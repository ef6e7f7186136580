// Hand-written to give Python 3 str semantics (on ICU's tables) character for character; a library would not.
#include "eval/unicode.h"

#include "base/error.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/uversion.h>

#include <algorithm>

namespace g4u::eval {

U32 utf8_decode_or_throw(std::string_view s, const std::string& where) {
  size_t bad = 0;
  auto r = utf8_decode(s, &bad);
  if (!r) throw_input("{}: invalid UTF-8 at byte {}", where, bad);
  return *r;
}

U32 u32(std::string_view utf8) {
  auto r = utf8_decode(utf8);
  G4U_CHECK(r.has_value(), "u32(): literal is not valid UTF-8");
  return *r;
}

// Python's whitespace set (Objects/unicodetype_db.h, _PyUnicode_IsWhitespace): characters whose
// bidirectional class is WS, B or S, or whose category is Zs.
bool py_isspace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool py_isdecimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return u_charType(static_cast<UChar32>(c)) == U_DECIMAL_DIGIT_NUMBER;
}

int decimal_value(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c < 0x80 || !py_isdecimal(c)) return -1;
  return u_charDigitValue(static_cast<UChar32>(c));
}

bool py_isalpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_UPPERCASE_LETTER || t == U_LOWERCASE_LETTER || t == U_TITLECASE_LETTER ||
         t == U_MODIFIER_LETTER || t == U_OTHER_LETTER;
}

bool py_isword(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  if (py_isalpha(c)) return true;
  return u_getIntPropertyValue(static_cast<UChar32>(c), UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

const char* py_category(char32_t c) {
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_UNASSIGNED: return "Cn";
    case U_UPPERCASE_LETTER: return "Lu";
    case U_LOWERCASE_LETTER: return "Ll";
    case U_TITLECASE_LETTER: return "Lt";
    case U_MODIFIER_LETTER: return "Lm";
    case U_OTHER_LETTER: return "Lo";
    case U_NON_SPACING_MARK: return "Mn";
    case U_ENCLOSING_MARK: return "Me";
    case U_COMBINING_SPACING_MARK: return "Mc";
    case U_DECIMAL_DIGIT_NUMBER: return "Nd";
    case U_LETTER_NUMBER: return "Nl";
    case U_OTHER_NUMBER: return "No";
    case U_SPACE_SEPARATOR: return "Zs";
    case U_LINE_SEPARATOR: return "Zl";
    case U_PARAGRAPH_SEPARATOR: return "Zp";
    case U_CONTROL_CHAR: return "Cc";
    case U_FORMAT_CHAR: return "Cf";
    case U_PRIVATE_USE_CHAR: return "Co";
    case U_SURROGATE: return "Cs";
    case U_DASH_PUNCTUATION: return "Pd";
    case U_START_PUNCTUATION: return "Ps";
    case U_END_PUNCTUATION: return "Pe";
    case U_CONNECTOR_PUNCTUATION: return "Pc";
    case U_OTHER_PUNCTUATION: return "Po";
    case U_MATH_SYMBOL: return "Sm";
    case U_CURRENCY_SYMBOL: return "Sc";
    case U_MODIFIER_SYMBOL: return "Sk";
    case U_OTHER_SYMBOL: return "So";
    case U_INITIAL_PUNCTUATION: return "Pi";
    case U_FINAL_PUNCTUATION: return "Pf";
    default: return "Cn";
  }
}

char32_t simple_lower(char32_t c) { return static_cast<char32_t>(u_tolower(static_cast<UChar32>(c))); }

namespace {

icu::UnicodeString to_icu(const U32& s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()), static_cast<int32_t>(s.size()));
}

U32 from_icu(const icu::UnicodeString& u) {
  U32 out;
  out.reserve(static_cast<size_t>(u.length()));
  for (int32_t i = 0; i < u.length();) {
    UChar32 c = u.char32At(i);
    out.push_back(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

bool all_ascii(const U32& s) {
  return std::all_of(s.begin(), s.end(), [](char32_t c) { return c < 0x80; });
}

}  // namespace

U32 py_lower(const U32& s) {
  if (all_ascii(s)) {
    U32 r = s;
    for (auto& c : r) if (c >= 'A' && c <= 'Z') c += 32;
    return r;
  }
  icu::UnicodeString u = to_icu(s);
  u.toLower(icu::Locale::getRoot());
  return from_icu(u);
}

U32 py_upper(const U32& s) {
  if (all_ascii(s)) {
    U32 r = s;
    for (auto& c : r) if (c >= 'a' && c <= 'z') c -= 32;
    return r;
  }
  icu::UnicodeString u = to_icu(s);
  u.toUpper(icu::Locale::getRoot());
  return from_icu(u);
}

namespace {
U32 normalize_with(const icu::Normalizer2* n, const U32& s) {
  if (all_ascii(s)) return s;  // ASCII is invariant under NFKC and NFKD
  UErrorCode err = U_ZERO_ERROR;
  icu::UnicodeString out = n->normalize(to_icu(s), err);
  G4U_CHECK(U_SUCCESS(err), "ICU normalization failed: {}", u_errorName(err));
  return from_icu(out);
}
}  // namespace

U32 nfkc(const U32& s) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKCInstance(err);
  G4U_CHECK(U_SUCCESS(err), "ICU NFKC unavailable: {}", u_errorName(err));
  return normalize_with(n, s);
}

U32 nfkd(const U32& s) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKDInstance(err);
  G4U_CHECK(U_SUCCESS(err), "ICU NFKD unavailable: {}", u_errorName(err));
  return normalize_with(n, s);
}

U32 py_lstrip(const U32& s) {
  size_t b = 0;
  while (b < s.size() && py_isspace(s[b])) ++b;
  return s.substr(b);
}

U32 py_rstrip(const U32& s) {
  size_t e = s.size();
  while (e > 0 && py_isspace(s[e - 1])) --e;
  return s.substr(0, e);
}

U32 py_strip(const U32& s) { return py_lstrip(py_rstrip(s)); }

U32 py_strip_chars(const U32& s, const U32& chars) {
  size_t b = 0, e = s.size();
  while (b < e && chars.find(s[b]) != U32::npos) ++b;
  while (e > b && chars.find(s[e - 1]) != U32::npos) --e;
  return s.substr(b, e - b);
}

U32 py_rstrip_chars(const U32& s, const U32& chars) {
  size_t e = s.size();
  while (e > 0 && chars.find(s[e - 1]) != U32::npos) --e;
  return s.substr(0, e);
}

std::vector<U32> py_split(const U32& s) {
  std::vector<U32> out;
  size_t i = 0, n = s.size();
  while (i < n) {
    while (i < n && py_isspace(s[i])) ++i;
    if (i >= n) break;
    size_t j = i;
    while (j < n && !py_isspace(s[j])) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<U32> py_split_sep(const U32& s, const U32& sep) {
  G4U_CHECK(!sep.empty(), "py_split_sep: empty separator");
  std::vector<U32> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    if (p == U32::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, p - start));
    start = p + sep.size();
  }
  return out;
}

U32 py_join(const std::vector<U32>& parts, const U32& sep) {
  U32 out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool contains(const U32& hay, const U32& needle) { return hay.find(needle) != U32::npos; }

long py_rfind(const U32& hay, const U32& needle) {
  size_t p = hay.rfind(needle);
  return p == U32::npos ? -1 : static_cast<long>(p);
}

long py_find(const U32& hay, const U32& needle, size_t from) {
  if (from > hay.size()) return -1;
  size_t p = hay.find(needle, from);
  return p == U32::npos ? -1 : static_cast<long>(p);
}

U32 replace_all(const U32& s, const U32& from, const U32& to) {
  if (from.empty()) {
    // Python inserts `to` between every character and at both ends.
    U32 out = to;
    for (char32_t c : s) {
      out.push_back(c);
      out += to;
    }
    return out;
  }
  U32 out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(from, start);
    if (p == U32::npos) break;
    out.append(s, start, p - start);
    out += to;
    start = p + from.size();
  }
  out.append(s, start, U32::npos);
  return out;
}

std::string unicode_version() {
  UVersionInfo v;
  u_getUnicodeVersion(v);
  char buf[U_MAX_VERSION_STRING_LENGTH];
  u_versionToString(v, buf);
  return std::string("ICU ") + U_ICU_VERSION + ", Unicode " + buf;
}

}  // namespace g4u::eval
