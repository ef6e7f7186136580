// The kernels' interleaved order of q4_0 / q4_k (quant/formats/interleave.h), checked byte by byte on
// hand-built rows against the layout the header states, plus the round trips and the activation
// permutation.
#include "quant/formats/interleave.h"
#include "quant/layer/quant_linear.h"
#include "quant/formats/scheme.h"
#include "quant/layer/torch_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <cstring>

using namespace g4u::quant;
using g4u::test::gaussian;

namespace {

QuantizedTensor hand_built_tensor(const char* scheme, int64_t rows, int64_t cols, std::vector<uint8_t> data) {
  QuantizedTensor q;
  q.scheme = &find_scheme(scheme);
  q.rows = rows;
  q.cols = cols;
  q.data = std::move(data);
  return q;
}

}  // namespace

TEST_CASE("q4_0 rows interleave eight blocks at a time; the tail blocks keep ggml's order", "[unit][interleave]") {
  // One row of 9 blocks (18 bytes each: fp16 d, 16 code bytes): block b has d bits 0x3c00 + b and
  // code byte i = 16 b + i.
  const int64_t cols = 9 * 32;
  std::vector<uint8_t> row(9 * 18);
  for (int b = 0; b < 9; ++b) {
    const uint16_t d = static_cast<uint16_t>(0x3c00 + b);
    std::memcpy(&row[18 * b], &d, 2);
    for (int i = 0; i < 16; ++i) row[18 * b + 2 + i] = static_cast<uint8_t>(16 * b + i);
  }
  const QuantizedTensor il = to_interleaved(hand_built_tensor("q4_0", 1, cols, row));
  REQUIRE(il.interleaved);
  REQUIRE(il.data.size() == row.size());
  for (int b = 0; b < 8; ++b) {
    uint16_t d;
    std::memcpy(&d, &il.data[2 * b], 2);
    CHECK(d == 0x3c00 + b);
    for (int j = 0; j < 4; ++j)
      for (int t = 0; t < 4; ++t) CHECK(il.data[16 + 32 * j + 4 * b + t] == 16 * b + 4 * j + t);
  }
  for (int i = 0; i < 18; ++i) CHECK(il.data[144 + i] == row[144 + i]);  // block 8: unchanged
  const QuantizedTensor back = to_storage_order(il);
  CHECK_FALSE(back.interleaved);
  CHECK(back.data == row);
}

TEST_CASE("q4_k code bytes pair elements e and e+16 of one sub-block, sub-block b in lane b", "[unit][interleave]") {
  // Sub-block b's element e gets code (b + 3e) mod 16; ggml stores sub-blocks 2c (low nibble) and
  // 2c+1 (high nibble) in bytes 32c .. 32c+31, element e in byte 32c + e.
  auto code = [](int b, int e) { return (b + 3 * e) % 16; };
  std::vector<uint8_t> block(144);
  for (int i = 0; i < 16; ++i) block[i] = static_cast<uint8_t>(0xA0 + i);  // d, dmin, scales: kept
  for (int c = 0; c < 4; ++c)
    for (int e = 0; e < 32; ++e) block[16 + 32 * c + e] = static_cast<uint8_t>(code(2 * c, e) | code(2 * c + 1, e) << 4);
  const QuantizedTensor il = to_interleaved(hand_built_tensor("q4_k", 1, 256, block));
  for (int i = 0; i < 16; ++i) CHECK(il.data[i] == 0xA0 + i);
  for (int b = 0; b < 8; ++b)
    for (int j = 0; j < 4; ++j)
      for (int t = 0; t < 4; ++t) {
        const uint8_t byte = il.data[16 + 32 * j + 4 * b + t];
        CHECK((byte & 0xF) == code(b, 4 * j + t));
        CHECK((byte >> 4) == code(b, 16 + 4 * j + t));
      }
  CHECK(to_storage_order(il).data == block);
}

TEST_CASE("activation groups of 256 are permuted to match; a partial group is left alone", "[unit][interleave]") {
  const int64_t cols = 256 + 64;
  std::vector<int8_t> x(cols);
  for (int64_t i = 0; i < cols; ++i) x[i] = static_cast<int8_t>(i % 251 - 125);
  std::vector<int8_t> p = x;
  g4u::quant::detail::interleave_act_groups(p.data(), cols);
  // vector v = 2j + h, lane b, byte t  <-  element 32b + 16h + 4j + t
  for (int j = 0; j < 4; ++j)
    for (int h = 0; h < 2; ++h)
      for (int b = 0; b < 8; ++b)
        for (int t = 0; t < 4; ++t) CHECK(p[32 * (2 * j + h) + 4 * b + t] == x[32 * b + 16 * h + 4 * j + t]);
  for (int64_t i = 256; i < cols; ++i) CHECK(p[i] == x[i]);
}

TEST_CASE("interleaving changes no value: dequantize, round trip, QuantLinear", "[unit][interleave]") {
  for (const char* name : {"q4_0", "q4_k"}) {
    INFO(name);
    const int64_t rows = 5, cols = 768 + (std::string(name) == "q4_0" ? 96 : 0);  // q4_0: 3 tail blocks
    auto w = gaussian(rows * cols, 42, 0.05f);
    const QuantizedTensor q = quantize(name, w.data(), rows, cols);
    const QuantizedTensor il = to_interleaved(q);
    CHECK(il.data != q.data);
    CHECK(il.dequantize() == q.dequantize());
    CHECK(il.bytes().total() == q.bytes().total());
    CHECK(to_storage_order(il).data == q.data);
    CHECK_THROWS(to_bytes(il));

    QuantLinear lin(q);
    CHECK(lin.weight().interleaved);
    const torch::Tensor x = torch::randn({3, cols});
    const torch::Tensor dense = torch::matmul(x, dequantize_tensor(q).t());
    // Activation rounding bound of quant/kernels/kernels.h, loosely: well under 1 % of the output scale.
    CHECK(torch::allclose(lin.forward(x), dense, 1e-2, 2e-2));
  }
  // Schemes without an interleaved order pass through unchanged.
  auto w = gaussian(4 * 256, 7, 0.05f);
  const QuantizedTensor q6 = quantize("q6_k", w.data(), 4, 256);
  CHECK_FALSE(has_interleaved_order(*q6.scheme));
  CHECK_FALSE(to_interleaved(q6).interleaved);
}
