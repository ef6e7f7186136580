#include "quant/formats/fp16.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace g4u::quant;

TEST_CASE("fp32 -> fp16 matches IEEE binary16 encodings", "[unit][fp16]") {
  CHECK(fp32_to_fp16(1.0f) == 0x3C00);
  CHECK(fp32_to_fp16(-2.0f) == 0xC000);
  CHECK(fp32_to_fp16(0.5f) == 0x3800);
  CHECK(fp32_to_fp16(0.0f) == 0x0000);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(fp32_to_fp16(0.1f) == 0x2E66);          // 0.0999755859375
  CHECK(fp32_to_fp16(65504.0f) == 0x7BFF);      // largest finite
  CHECK(fp32_to_fp16(65519.0f) == 0x7BFF);      // below the rounding midpoint
  CHECK(fp32_to_fp16(65520.0f) == 0x7C00);      // midpoint to 2^16 rounds (to even) to inf
  CHECK(fp32_to_fp16(1e6f) == 0x7C00);
  CHECK(fp32_to_fp16(-std::numeric_limits<float>::infinity()) == 0xFC00);
  CHECK((fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) & 0x7C00) == 0x7C00);
  CHECK((fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) & 0x03FF) != 0);
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // tie between 0 and 2^-24: even (0)
  CHECK(fp32_to_fp16(std::ldexp(1.5f, -25)) == 0x0001);  // above the tie
  CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 * 2^-24: tie, rounds to even (2)
}

TEST_CASE("fp32 -> fp16 rounds half to even", "[unit][fp16]") {
  const float ulp = std::ldexp(1.0f, -10);                  // fp16 ulp at 1.0
  CHECK(fp32_to_fp16(1.0f + ulp / 2) == 0x3C00);             // tie -> even mantissa 0
  CHECK(fp32_to_fp16(1.0f + 3 * ulp / 2) == 0x3C02);         // tie -> even mantissa 2
  CHECK(fp32_to_fp16(1.0f + ulp / 2 + std::ldexp(1.0f, -20)) == 0x3C01);
  CHECK(fp32_to_fp16(2047.0f / 1024.0f + ulp / 2) == 0x4000);  // mantissa carry into the exponent
}

TEST_CASE("every finite fp16 value survives fp16 -> fp32 -> fp16", "[unit][fp16]") {
  int checked = 0;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF)) continue;  // NaN payloads
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    REQUIRE(fp32_to_fp16(f) == h);
    ++checked;
  }
  CHECK(checked == 65536 - 2 * 1023);
  CHECK(fp16_to_fp32(0x3C00) == 1.0f);
  CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
  CHECK(std::isinf(fp16_to_fp32(0x7C00)));
}
