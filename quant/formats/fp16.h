// IEEE binary16 <-> binary32 conversion, bit-exact and portable (no F16C needed).
// fp32_to_fp16 rounds to nearest, ties to even (what ggml's GGML_FP32_TO_FP16 and F16C's
// _cvtss_sh(x, 0) do); overflow goes to +-inf, NaN stays NaN (quiet).
#pragma once

#include <cstdint>
#include <cstring>

namespace g4u::quant {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint16_t fp32_to_fp16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;        // NaN
  const int exp = static_cast<int>(a >> 23) - 127;  // unbiased exponent (denormal fp32 -> -127)
  if (exp >= 16) return sign | 0x7c00u;              // >= 2^16 (and inf): out of range
  if (exp >= -14) {                                  // normal half (may round up into inf)
    const uint32_t mant = a & 0x7fffffu;
    uint32_t h = (static_cast<uint32_t>(exp + 15) << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry may bump exponent
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < -25) return sign;  // below half of the smallest subnormal: rounds to zero
  // Subnormal half: value = m * 2^-24 with m = mant24 * 2^(exp + 1).
  const uint32_t mant24 = (a & 0x7fffffu) | 0x800000u;
  const int shift = -(exp + 1);  // 14..24
  uint32_t m = mant24 >> shift;
  const uint32_t rem = mant24 & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (m & 1u))) ++m;  // m == 1024 is the smallest normal: fine
  return static_cast<uint16_t>(sign | m);
}

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  // zero or subnormal: mant * 2^-24, exact in fp32
  const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}

// Rounds through fp16 and back (the value a stored fp16 field holds).
inline float round_fp16(float f) { return fp16_to_fp32(fp32_to_fp16(f)); }

}  // namespace g4u::quant
