// Hand-written to reproduce numpy's and CPython's random streams draw for draw; a C++ RNG library would not.
// Random number streams that reproduce the reference implementations draw for draw:
//
//   NumpyGenerator  numpy.random.default_rng(seed): SeedSequence -> PCG64 (XSL-RR 128/64), and
//                   Generator.choice(n, size, replace=True) / integers(0, n) via Lemire's bounded
//                   method on 32-bit draws. sacreBLEU's bootstrap resampling uses exactly this
//                   (seed $SACREBLEU_SEED, default 12345), so our bootstrap CIs resample the same
//                   segments.
//   PyRandom        Python's `random` module (MT19937, init_by_array seeding) for the seeded
//                   "official-compat" fallback of the MMMU parser (random.seed(42); choice()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace g4u::eval {

class NumpyGenerator {
 public:
  explicit NumpyGenerator(uint64_t seed);
  uint64_t next_uint64();
  uint32_t next_uint32();  // numpy buffers the upper half of a 64-bit draw
  // Generator.integers(0, n) for 1 <= n <= 2^32 (one value).
  uint32_t bounded(uint32_t n);
  // Generator.choice(n, size=count, replace=True): `count` indices in [0, n).
  std::vector<uint32_t> choice(uint32_t n, size_t count);

  // SeedSequence(seed).generate_state(n_words, uint32), exposed for tests.
  static std::vector<uint32_t> seed_sequence_state(uint64_t seed, size_t n_words);

 private:
  unsigned __int128 state_ = 0, inc_ = 0;
  bool has_uint32_ = false;
  uint32_t uinteger_ = 0;
};

class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);
  uint32_t genrand_uint32();
  uint64_t getrandbits(int k);  // 1 <= k <= 64
  uint64_t randbelow(uint64_t n);  // _randbelow_with_getrandbits
  double random();                 // random.random()
  template <typename T>
  const T& choice(const std::vector<T>& v) { return v[static_cast<size_t>(randbelow(v.size()))]; }

 private:
  std::array<uint32_t, 624> mt_{};
  int mti_ = 625;
};

}  // namespace g4u::eval
