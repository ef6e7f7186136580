// FNV-1a 64-bit hashing: the one hash g4u uses for stable identifiers (config hashes, prompt hashes,
// sharding, spill-file names, per-tensor seeds). Stable across platforms and releases: changing it
// changes recorded hashes and shard assignments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace g4u {

constexpr uint64_t kFnv1a64Basis = 0xcbf29ce484222325ull;
constexpr uint64_t kFnv1a64Prime = 0x100000001b3ull;

// FNV-1a 64 of `s`, continuing from `h` (the offset basis for a fresh hash).
constexpr uint64_t fnv1a64(std::string_view s, uint64_t h = kFnv1a64Basis) {
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= kFnv1a64Prime;
  }
  return h;
}

// FNV-1a 64 of a file's bytes, streamed; InputError naming the file when it cannot be read.
uint64_t fnv1a64_file(const std::string& path);

std::string hex64(uint64_t v);  // 16 lower-case hex digits

}  // namespace g4u
