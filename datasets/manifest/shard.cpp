#include "datasets/manifest/shard.h"

#include "base/error.h"

#include <charconv>

namespace g4u::datasets {

Shard parse_shard(std::string_view text, std::string_view what) {
  auto bad = [&]() {
    throw_input("{}: expected i/N with 0 <= i < N (e.g. 0/4), got '{}'", what, text);
  };
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) bad();
  auto parse = [&](std::string_view s, uint64_t& v) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) bad();
  };
  uint64_t i = 0, n = 0;
  parse(text.substr(0, slash), i);
  parse(text.substr(slash + 1), n);
  if (n == 0 || i >= n) bad();
  if (n > 1000000) throw_input("{}: at most 1000000 shards, got {}", what, n);
  return Shard{static_cast<uint32_t>(i), static_cast<uint32_t>(n)};
}

}  // namespace g4u::datasets
