// Fast round-half-to-even of a float to int, as ggml's nearest_int: adding 1.5 * 2^23 makes the FPU
// round the value to an integer (default round-to-nearest-even mode) in the low mantissa bits.
// Exact for |v| <= 2^22; larger magnitudes fall back to std::nearbyint.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace g4u::quant {

inline int round_half_even(float v) {
  if (!(std::fabs(v) <= 4194304.f)) return static_cast<int>(std::nearbyint(v));
  const float shifted = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &shifted, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

}  // namespace g4u::quant
