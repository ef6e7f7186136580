// UTF-8: strict decoding (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF, as
// Python's codec), encoding and validation. The one UTF-8 codec of g4u; Python's string semantics
// on top of it are in eval/unicode.h.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace g4u {

// Code points of `s`, or nullopt at the first ill-formed sequence (its byte offset in *bad_offset).
std::optional<std::u32string> utf8_decode(std::string_view s, size_t* bad_offset = nullptr);
// Byte offset of the first ill-formed sequence of `s`, std::string::npos when it is well-formed.
size_t utf8_invalid_at(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return utf8_invalid_at(s) == std::string::npos; }

void utf8_append(std::string& out, char32_t c);  // c <= U+10FFFF
std::string utf8_encode(char32_t c);
std::string utf8_encode(const std::u32string& s);

}  // namespace g4u
