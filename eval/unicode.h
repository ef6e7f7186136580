// Hand-written to give Python 3 str semantics (on ICU's tables) character for character; a library would not.
// Unicode text with Python 3 `str` semantics, for the normalizers and extractors that must match
// Python reference code character for character.
//
// Text is held as std::u32string (one element per code point, like a Python str). Case mapping,
// normalization forms and general categories come from ICU (Unicode 15 in ICU 72; Python 3.11
// ships Unicode 14.0 tables: the two differ only on characters added in Unicode 15).
#pragma once

#include "base/utf8.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::eval {

using U32 = std::u32string;

// The codec (base/utf8.h), under the names the eval code uses.
using g4u::is_valid_utf8;
using g4u::utf8_decode;
using g4u::utf8_encode;
// Decodes or throws InputError "<where>: invalid UTF-8 at byte N".
U32 utf8_decode_or_throw(std::string_view s, const std::string& where);

// --- character classes (Python 3 semantics) ---------------------------------------------------
// str.isspace(): bidirectional class WS/B/S or category Zs. Also what `re` \s, str.split() and
// str.strip() use.
bool py_isspace(char32_t c);
// `re` \d and str.isdecimal(): general category Nd.
bool py_isdecimal(char32_t c);
int decimal_value(char32_t c);  // 0..9 for Nd characters, -1 otherwise
// `re` \w: str.isalnum() (letters L*, or any numeric type) or '_'.
bool py_isword(char32_t c);
bool py_isalpha(char32_t c);
// unicodedata.category(c): two-letter general category ("Lu", "Mn", "Po", ..., "Cn").
const char* py_category(char32_t c);
// Simple (1:1) lower-case mapping, as `re` IGNORECASE uses it.
char32_t simple_lower(char32_t c);

// --- string operations (Python 3 semantics) ---------------------------------------------------
U32 py_lower(const U32& s);  // full case mapping, Final_Sigma context (str.lower())
U32 py_upper(const U32& s);  // full case mapping (str.upper(), "ß" -> "SS")
U32 nfkc(const U32& s);
U32 nfkd(const U32& s);
U32 py_strip(const U32& s);                      // str.strip()
U32 py_lstrip(const U32& s);
U32 py_rstrip(const U32& s);
U32 py_strip_chars(const U32& s, const U32& chars);  // str.strip(chars)
U32 py_rstrip_chars(const U32& s, const U32& chars);
std::vector<U32> py_split(const U32& s);         // str.split()
U32 py_join(const std::vector<U32>& parts, const U32& sep);
bool contains(const U32& hay, const U32& needle);
// str.rfind / str.find: -1 when absent (an empty needle is found at len / 0, like Python).
long py_rfind(const U32& hay, const U32& needle);
long py_find(const U32& hay, const U32& needle, size_t from = 0);
U32 replace_all(const U32& s, const U32& from, const U32& to);  // str.replace
// str.split(sep) with an explicit non-empty separator.
std::vector<U32> py_split_sep(const U32& s, const U32& sep);

// re.sub(r"(A)(B)", ..., s) for one-character classes A and B: match(a, b) says whether the pair
// at i, i+1 matches; matches are leftmost and do not overlap (the scan resumes after a replaced
// pair), as re.sub's; replacement(a, b) is the text that stands for the pair.
template <typename Match, typename Replacement>
U32 sub_char_pairs(const U32& s, Match match, Replacement replacement) {
  U32 out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && match(s[i], s[i + 1])) {
      out += replacement(s[i], s[i + 1]);
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// Convenience: ASCII/UTF-8 literal to U32.
U32 u32(std::string_view utf8);

// Version of the Unicode tables in use (ICU's), for logs and results metadata.
std::string unicode_version();

}  // namespace g4u::eval
