// Deterministic sharding by sample id: shard i of N holds the ids whose FNV-1a 64-bit hash is
// i modulo N. The hash depends only on the id's bytes, so every id lands in exactly one shard
// whatever the order of the manifest lines, and any tool can recompute it.
#pragma once

#include "base/hash.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace g4u::datasets {

struct Shard {
  uint32_t index = 0;  // 0-based
  uint32_t count = 1;
  bool all() const { return count == 1; }
  std::string str() const { return std::to_string(index) + "/" + std::to_string(count); }
};

// "i/N" with 0 <= i < N, 1 <= N <= 1e6; InputError otherwise (named `what`, e.g. "--shard").
Shard parse_shard(std::string_view text, std::string_view what = "--shard");

inline bool in_shard(std::string_view id, const Shard& s) {
  return s.count <= 1 || fnv1a64(id) % s.count == s.index;
}

}  // namespace g4u::datasets
