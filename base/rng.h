// Deterministic random numbers (synthetic suites, sampling streams, seeds of random weights). They
// must give the same bytes on every platform and standard library, so nothing here uses std::
// distributions (whose output is implementation-defined): SplitMix64 for the stream, Lemire's
// unbiased bounded integers, and Fisher-Yates shuffles driven by them. (The numpy/CPython-exact
// generators that reproduce reference harnesses live in eval/rng.h.)
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace g4u {

constexpr uint64_t kSplitMix64Gamma = 0x9E3779B97F4A7C15ull;

// One SplitMix64 step from state `x`: the 64-bit finalizer of x + golden gamma (what Rng(x) draws
// first). Also a good mixer of seeds.
constexpr uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + kSplitMix64Gamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// SplitMix64 (Steele, Lea, Flood 2014): state += golden gamma, then a 64-bit finalizer.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next_u64() {
    uint64_t z = splitmix64(state_);
    state_ += kSplitMix64Gamma;
    return z;
  }
  // Uniform in [0, n), n >= 1, without modulo bias (Lemire 2019, 64x64 -> 128-bit multiply).
  uint64_t below(uint64_t n) {
    uint64_t x = next_u64();
    unsigned __int128 m = static_cast<unsigned __int128>(x) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = next_u64();
        m = static_cast<unsigned __int128>(x) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // Uniform integer in [lo, hi] (inclusive).
  int range(int lo, int hi) { return lo + static_cast<int>(below(static_cast<uint64_t>(hi - lo) + 1)); }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  bool coin() { return (next_u64() >> 63) != 0; }

  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  uint64_t state_;
};

// A seed for sub-stream `b` of stream `a` (both mixed through the SplitMix64 finalizer).
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  Rng r(a ^ (b * 0xD1B54A32D192ED03ull));
  r.next_u64();
  return r.next_u64() ^ b;
}

}  // namespace g4u
