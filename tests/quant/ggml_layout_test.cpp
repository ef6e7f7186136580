// Byte-level tests of the ggml layouts with hand-built blocks (shared/docs/quant-and-mtp.md
// §2.2-2.7): scale placement (fp16, little-endian), nibble order, min handling, 6-bit / 8-bit
// scale packing, and the rounding rule of each reference encoder.
#include "quant/formats/fp16.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/quantized_tensor.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

using namespace g4u::quant;

namespace {

std::vector<uint8_t> bytes_of(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return std::vector<uint8_t>(b, b + n);
}

}  // namespace

TEST_CASE("q4_0 hand-built block decodes with low nibble = first half", "[unit][ggml][q4_0]") {
  BlockQ4_0 b{};
  b.d = 0x3800;  // 0.5
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float w[32];
  dequantize_row_q4_0(&b, w, 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(w[j] == 0.5f * static_cast<float>(j - 8));
    CHECK(w[16 + j] == 0.5f * static_cast<float>(7 - j));
  }
}

TEST_CASE("q4_0 encoder: bytes of a hand-computed block", "[unit][ggml][q4_0]") {
  // max |x| is x[0] = -8 (first of two), so d = -8 / -8 = 1 and code = x + 8.
  std::vector<float> x(32);
  for (int j = 0; j < 16; ++j) x[j] = static_cast<float>(j - 8), x[16 + j] = static_cast<float>(7 - j);
  QuantizedTensor q = quantize("q4_0", x.data(), 1, 32);
  std::vector<uint8_t> expected = {0x00, 0x3C};  // fp16 1.0, little-endian, at offset 0
  for (int j = 0; j < 16; ++j) expected.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  CHECK(q.data == expected);
  CHECK(q.bytes().total() == 18);
  CHECK(q.dequantize() == x);
}

TEST_CASE("q4_0 encoder rounds half up, clamps at 15 and may store a negative scale", "[unit][ggml][q4_0]") {
  std::vector<float> x(32, 0.f);
  x[0] = -8.f;  // d = 1
  x[1] = -0.5f, x[2] = 0.5f, x[3] = 1.5f, x[4] = 2.5f, x[5] = 7.5f, x[6] = -7.6f;
  BlockQ4_0 b;
  quantize_row_q4_0_ref(x.data(), &b, 32);
  CHECK(b.d == 0x3C00);
  const int expected[7] = {0, 8, 9, 10, 11, 15, 0};  // trunc(v + 8.5), min 15
  for (int j = 0; j < 7; ++j) CHECK((b.qs[j] & 0xF) == expected[j]);
  for (int j = 7; j < 16; ++j) CHECK((b.qs[j] & 0xF) == 8);
  for (int j = 0; j < 16; ++j) CHECK((b.qs[j] >> 4) == 8);

  std::vector<float> y(32, 0.f);
  y[0] = 4.f;   // the signed max is positive: d = 4 / -8 = -0.5
  y[1] = -4.f;  // maps to +8 -> clamped to code 15 (value -3.5)
  quantize_row_q4_0_ref(y.data(), &b, 32);
  CHECK(b.d == 0xB800);  // fp16 -0.5
  CHECK((b.qs[0] & 0xF) == 0);
  CHECK((b.qs[1] & 0xF) == 15);
  float w[32];
  dequantize_row_q4_0(&b, w, 32);
  CHECK(w[0] == 4.f);
  CHECK(w[1] == -3.5f);
}

TEST_CASE("q4_1 encoder stores d and the block minimum as fp16", "[unit][ggml][q4_1]") {
  std::vector<float> x(32);
  for (int j = 0; j < 16; ++j) x[j] = -1.f + 0.25f * j, x[16 + j] = 2.75f - 0.25f * j;
  QuantizedTensor q = quantize("q4_1", x.data(), 1, 32);
  std::vector<uint8_t> expected = {0x00, 0x34, 0x00, 0xBC};  // d = 0.25, m = -1.0
  for (int j = 0; j < 16; ++j) expected.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  CHECK(q.data == expected);
  CHECK(q.dequantize() == x);  // w = d * q + m

  BlockQ4_1 b{};
  b.d = 0x3C00, b.m = 0xC000;  // d = 1, m = -2
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j << 4);
  float w[32];
  dequantize_row_q4_1(&b, w, 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(w[j] == -2.f);
    CHECK(w[16 + j] == static_cast<float>(j) - 2.f);
  }
}

TEST_CASE("q8_0 encoder: d = amax / 127, codes rounded half away from zero", "[unit][ggml][q8_0]") {
  std::vector<float> x(32, 0.f);
  x[0] = 127.f, x[1] = 2.5f, x[2] = -2.5f, x[3] = 3.5f, x[4] = -0.4f, x[5] = -127.f;
  QuantizedTensor q = quantize("q8_0", x.data(), 1, 32);
  REQUIRE(q.data.size() == 34);
  CHECK(q.data[0] == 0x00);
  CHECK(q.data[1] == 0x3C);
  const int8_t expected[6] = {127, 3, -3, 4, 0, -127};
  for (int j = 0; j < 6; ++j) CHECK(static_cast<int8_t>(q.data[2 + j]) == expected[j]);
}

TEST_CASE("q4_k 6-bit scale/min packing and decode of a hand-built block", "[unit][ggml][q4_k]") {
  // sc = {1,2,3,4,50,51,52,63}, m = {5,6,7,8,33,34,35,60} packed by hand with the §2.4 rule.
  const uint8_t scales[12] = {0xC1, 0xC2, 0xC3, 0xC4, 0x85, 0x86, 0x87, 0xC8, 0x12, 0x23, 0x34, 0xCF};
  const int sc[8] = {1, 2, 3, 4, 50, 51, 52, 63}, mn[8] = {5, 6, 7, 8, 33, 34, 35, 60};
  for (int j = 0; j < 8; ++j) {
    uint8_t s, m;
    get_scale_min_k4(j, scales, &s, &m);
    CHECK(s == sc[j]);
    CHECK(m == mn[j]);
  }
  BlockQ4_K b{};
  b.d = 0x3C00;     // 1.0
  b.dmin = 0x3800;  // 0.5
  std::memcpy(b.scales, scales, 12);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>((l % 16) | (((l + c) % 16) << 4));
  std::vector<float> w(256);
  dequantize_row_q4_K(&b, w.data(), 256);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      CHECK(w[64 * c + l] == static_cast<float>(sc[2 * c] * (l % 16)) - 0.5f * mn[2 * c]);
      CHECK(w[64 * c + 32 + l] == static_cast<float>(sc[2 * c + 1] * ((l + c) % 16)) - 0.5f * mn[2 * c + 1]);
    }
  }
  // Field offsets: d at 0, dmin at 2, scales at 4, qs at 16.
  const std::vector<uint8_t> raw = bytes_of(&b, sizeof b);
  CHECK(raw[0] == 0x00);
  CHECK(raw[1] == 0x3C);
  CHECK(raw[2] == 0x00);
  CHECK(raw[3] == 0x38);
  CHECK(raw[4] == 0xC1);
  CHECK(raw[15] == 0xCF);
  CHECK(raw[16] == b.qs[0]);
}

TEST_CASE("q6_k decode of a block built from the documented layout", "[unit][ggml][q6_k]") {
  int L[256];
  for (int e = 0; e < 256; ++e) L[e] = (e * 7 + 3) % 64;
  BlockQ6_K b{};
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int* Lh = L + 128 * h;
      b.ql[64 * h + l] = static_cast<uint8_t>((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
      b.ql[64 * h + l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                              ((Lh[l + 96] >> 4) << 6));
    }
  }
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i - 8);
  b.d = 0x3400;  // 0.25
  std::vector<float> w(256);
  dequantize_row_q6_K(&b, w.data(), 256);
  for (int e = 0; e < 256; ++e) CHECK(w[e] == 0.25f * static_cast<float>((e / 16 - 8) * (L[e] - 32)));
  // d is the last field (offset 208); the int8 scales sit at 192..207.
  const std::vector<uint8_t> raw = bytes_of(&b, sizeof b);
  CHECK(raw[208] == 0x00);
  CHECK(raw[209] == 0x34);
  CHECK(static_cast<int8_t>(raw[192]) == -8);
  // Element 0 (code 3), 32 (35), 64 (3), 96 (35): ql[0] = 0x33, qh[0] = 0b10'00'10'00.
  CHECK(raw[0] == 0x33);
  CHECK(raw[128] == 0x88);
}

TEST_CASE("iq4_nl table, nearest-index rule and a hand-built block", "[unit][ggml][iq4_nl]") {
  const int8_t table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  for (int i = 0; i < 16; ++i) CHECK(kIq4nlValues[i] == table[i]);
  CHECK(iq4nl_best_index(-200.f) == 0);
  CHECK(iq4nl_best_index(-115.6f) == 0);
  CHECK(iq4nl_best_index(-115.5f) == 1);  // exact midpoint -> upper index
  CHECK(iq4nl_best_index(6.99f) == 8);
  CHECK(iq4nl_best_index(7.f) == 9);
  CHECK(iq4nl_best_index(500.f) == 15);

  BlockIQ4_NL b{};
  b.d = 0x3800;  // 0.5
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float w[32];
  dequantize_row_iq4_nl(&b, w, 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(w[j] == 0.5f * table[j]);
    CHECK(w[16 + j] == 0.5f * table[15 - j]);
  }

  // Weights that are exactly 0.5 * table: both the llama-quantize search (ntry 7) and the
  // reference path (ntry -1) find d = 0.5 and the exact indices.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 0.5f * table[j % 16];
  for (int ntry : {7, -1}) {
    BlockIQ4_NL y{};
    quantize_row_iq4_nl(x.data(), &y, 32, nullptr, ntry);
    CHECK(y.d == 0x3800);
    for (int j = 0; j < 16; ++j) CHECK(y.qs[j] == static_cast<uint8_t>(j | (j << 4)));
  }
}
