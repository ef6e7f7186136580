// Hand-written to reproduce numpy's and CPython's random streams draw for draw; a C++ RNG library would not.
#include "eval/rng.h"

#include "base/error.h"

namespace g4u::eval {

namespace {

constexpr uint32_t kInitA = 0x43b0d7e5, kMultA = 0x931e8875, kInitB = 0x8b51f9dd, kMultB = 0x58f38ded;
constexpr uint32_t kMixMultL = 0xca01f9dd, kMixMultR = 0x4973f715;

uint32_t hashmix(uint32_t value, uint32_t& hash_const) {
  value ^= hash_const;
  hash_const *= kMultA;
  value *= hash_const;
  value ^= value >> 16;
  return value;
}

uint32_t mix(uint32_t x, uint32_t y) {
  uint32_t r = kMixMultL * x - kMixMultR * y;
  r ^= r >> 16;
  return r;
}

constexpr unsigned __int128 kPcgMult =
    (static_cast<unsigned __int128>(0x2360ED051FC65DA4ULL) << 64) | 0x4385DF649FCCF645ULL;

}  // namespace

std::vector<uint32_t> NumpyGenerator::seed_sequence_state(uint64_t seed, size_t n_words) {
  std::vector<uint32_t> entropy;
  if (seed == 0) entropy.push_back(0);
  for (uint64_t s = seed; s > 0; s >>= 32) entropy.push_back(static_cast<uint32_t>(s & 0xFFFFFFFFu));
  uint32_t pool[4];
  uint32_t hc = kInitA;
  for (size_t i = 0; i < 4; ++i) pool[i] = hashmix(i < entropy.size() ? entropy[i] : 0, hc);
  for (size_t src = 0; src < 4; ++src)
    for (size_t dst = 0; dst < 4; ++dst)
      if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src], hc));
  // (entropy longer than the pool cannot happen for a 64-bit seed)
  std::vector<uint32_t> state(n_words);
  uint32_t hb = kInitB;
  for (size_t i = 0; i < n_words; ++i) {
    uint32_t v = pool[i % 4];
    v ^= hb;
    hb *= kMultB;
    v *= hb;
    v ^= v >> 16;
    state[i] = v;
  }
  return state;
}

NumpyGenerator::NumpyGenerator(uint64_t seed) {
  std::vector<uint32_t> w = seed_sequence_state(seed, 8);
  uint64_t v[4];
  for (int k = 0; k < 4; ++k) v[k] = static_cast<uint64_t>(w[2 * k]) | (static_cast<uint64_t>(w[2 * k + 1]) << 32);
  unsigned __int128 initstate = (static_cast<unsigned __int128>(v[0]) << 64) | v[1];
  unsigned __int128 initseq = (static_cast<unsigned __int128>(v[2]) << 64) | v[3];
  state_ = 0;
  inc_ = (initseq << 1) | 1;
  state_ = state_ * kPcgMult + inc_;
  state_ += initstate;
  state_ = state_ * kPcgMult + inc_;
}

uint64_t NumpyGenerator::next_uint64() {
  state_ = state_ * kPcgMult + inc_;
  uint64_t hi = static_cast<uint64_t>(state_ >> 64), lo = static_cast<uint64_t>(state_);
  unsigned rot = static_cast<unsigned>(state_ >> 122);
  uint64_t x = hi ^ lo;
  return (x >> rot) | (x << ((64 - rot) & 63));
}

uint32_t NumpyGenerator::next_uint32() {
  if (has_uint32_) {
    has_uint32_ = false;
    return uinteger_;
  }
  uint64_t n = next_uint64();
  has_uint32_ = true;
  uinteger_ = static_cast<uint32_t>(n >> 32);
  return static_cast<uint32_t>(n & 0xFFFFFFFFu);
}

uint32_t NumpyGenerator::bounded(uint32_t n) {
  G4U_CHECK(n >= 1, "bounded(0)");
  uint32_t rng = n - 1;
  if (rng == 0) return 0;
  if (rng == 0xFFFFFFFFu) return next_uint32();
  // buffered_bounded_lemire_uint32
  const uint32_t rng_excl = rng + 1;
  uint64_t m = static_cast<uint64_t>(next_uint32()) * rng_excl;
  uint32_t leftover = static_cast<uint32_t>(m & 0xFFFFFFFFu);
  if (leftover < rng_excl) {
    const uint32_t threshold = (0xFFFFFFFFu - rng) % rng_excl;
    while (leftover < threshold) {
      m = static_cast<uint64_t>(next_uint32()) * rng_excl;
      leftover = static_cast<uint32_t>(m & 0xFFFFFFFFu);
    }
  }
  return static_cast<uint32_t>(m >> 32);
}

std::vector<uint32_t> NumpyGenerator::choice(uint32_t n, size_t count) {
  std::vector<uint32_t> out(count);
  for (auto& x : out) x = bounded(n);
  return out;
}

// ---------------------------------------------------------------------------------------------

PyRandom::PyRandom(uint64_t seed) {
  std::vector<uint32_t> key;
  if (seed == 0) key.push_back(0);
  for (uint64_t s = seed; s > 0; s >>= 32) key.push_back(static_cast<uint32_t>(s & 0xFFFFFFFFu));
  // init_genrand(19650218)
  mt_[0] = 19650218u;
  for (int i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  // init_by_array
  size_t i = 1, j = 0;
  size_t k = key.size() > 624 ? key.size() : 624;
  for (; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (k = 623; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  mti_ = 624;
}

uint32_t PyRandom::genrand_uint32() {
  static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
  uint32_t y;
  if (mti_ >= 624) {
    int kk;
    for (kk = 0; kk < 624 - 397; ++kk) {
      y = (mt_[kk] & 0x80000000u) | (mt_[kk + 1] & 0x7fffffffu);
      mt_[kk] = mt_[kk + 397] ^ (y >> 1) ^ mag01[y & 0x1u];
    }
    for (; kk < 623; ++kk) {
      y = (mt_[kk] & 0x80000000u) | (mt_[kk + 1] & 0x7fffffffu);
      mt_[kk] = mt_[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 0x1u];
    }
    y = (mt_[623] & 0x80000000u) | (mt_[0] & 0x7fffffffu);
    mt_[623] = mt_[396] ^ (y >> 1) ^ mag01[y & 0x1u];
    mti_ = 0;
  }
  y = mt_[mti_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

uint64_t PyRandom::getrandbits(int k) {
  G4U_CHECK(k >= 1 && k <= 64, "getrandbits({})", k);
  if (k <= 32) return genrand_uint32() >> (32 - k);
  uint64_t lo = genrand_uint32();
  uint64_t hi = genrand_uint32() >> (64 - k);
  return lo | (hi << 32);
}

uint64_t PyRandom::randbelow(uint64_t n) {
  G4U_CHECK(n > 0, "randbelow(0)");
  int k = 0;
  for (uint64_t t = n; t; t >>= 1) ++k;
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

double PyRandom::random() {
  uint32_t a = genrand_uint32() >> 5, b = genrand_uint32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

}  // namespace g4u::eval
