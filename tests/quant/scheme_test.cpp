// Registry, byte accounting, bits/weight, serialization and bad-input handling.
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>

using namespace g4u::quant;
using g4u::test::expect_input_error;
using g4u::test::gaussian;

TEST_CASE("registry: stable lowercase unique names, lookups", "[unit][scheme]") {
  std::set<std::string> names;
  for (const auto* s : all_schemes()) {
    const std::string n(s->name);
    CHECK(names.insert(n).second);
    for (char c : n) CHECK((std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'));
    CHECK(lookup_scheme(n) == s);
    CHECK(&find_scheme(n) == s);
  }
  for (const char* n : {"q4_0", "q4_1", "q4_k", "q6_k", "q8_0", "iq4_nl", "nf4", "nf4_dq", "hqq", "rtn4_sym_g32",
                        "rtn4_sym_g64", "rtn4_sym_g128", "rtn4_sym_pc", "rtn4_asym_g32", "rtn4_asym_g64",
                        "rtn4_asym_g128", "rtn4_asym_pc"})
    CHECK(names.count(n) == 1);
  CHECK(lookup_scheme("q4k") == nullptr);
  expect_input_error([] { find_scheme("q4k"); }, "unknown quantization scheme 'q4k'");
  expect_input_error([] { find_scheme("q4k"); }, "q4_k, q6_k");
  CHECK(find_scheme("nf4").reference_only());
  CHECK(find_scheme("iq4_nl").reference_only());
  CHECK(!find_scheme("q4_0").reference_only());
  CHECK(!find_scheme("q4_k").reference_only());
  CHECK(!find_scheme("rtn4_asym_g128").reference_only());
}

TEST_CASE("every scheme record carries its format facts: ggml/GGUF type, llama.cpp ftype, interleave, fallback",
          "[unit][scheme]") {
  // ggml.h enum ggml_type and llama.h enum llama_ftype (the published values).
  const std::map<std::string, std::pair<uint32_t, int>> ggml_ids = {
      {"q4_0", {2, 2}}, {"q4_1", {3, 3}}, {"q8_0", {8, 7}}, {"q4_k", {12, -1}}, {"q6_k", {14, 18}}, {"iq4_nl", {20, 25}}};
  for (const auto* s : all_schemes()) {
    const std::string n(s->name);
    INFO(n);
    CHECK(s->has_ggml_type() == (s->layout == Layout::kGgmlBlocks));
    if (s->has_ggml_type()) {
      REQUIRE(ggml_ids.count(n));
      CHECK(s->ggml.type == ggml_ids.at(n).first);
      CHECK(s->ggml.llama_ftype == ggml_ids.at(n).second);
      std::string upper;
      for (char c : n) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      CHECK(s->ggml.type_name == upper);
      CHECK(s->bytes_per_block > 0);
    }
    // An interleaved order exists only where a packed kernel reads it.
    if (s->interleaved) CHECK_FALSE(s->reference_only());
    // The fallback stores rows this scheme cannot: a known scheme with a finer column multiple.
    if (!s->fallback.empty()) {
      const SchemeTraits* f = lookup_scheme(s->fallback);
      REQUIRE(f != nullptr);
      CHECK(f->fallback != s->name);
      CHECK(s->cols_multiple % f->cols_multiple == 0);
    }
  }
  CHECK(find_scheme("q4_k").fallback == "q4_0");
  CHECK(find_scheme("q8_0").fallback.empty());
}

TEST_CASE("bits per weight include every piece of metadata", "[unit][scheme]") {
  struct Case {
    const char* name;
    double bpw;
  };
  // Values from shared/docs/quant-and-mtp.md §2 (4096 x 4096 tensor).
  const Case cases[] = {{"q4_0", 4.5},          {"q4_1", 5.0},           {"q4_k", 4.5},
                        {"q6_k", 6.5625},       {"q8_0", 8.5},           {"iq4_nl", 4.5},
                        {"nf4", 4.5},           {"hqq", 4.5},            {"hqq_g128", 4.25},
                        {"rtn4_sym_g32", 4.5},  {"rtn4_sym_g64", 4.25},  {"rtn4_sym_g128", 4.125},
                        {"rtn4_asym_g32", 4.625}, {"rtn4_asym_g64", 4.3125}, {"rtn4_asym_g128", 4.15625}};
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(bits_per_weight(find_scheme(c.name), 4096, 4096) == c.bpw);
  }
  // NF4 double quant: 4 + 8/64 + 32/(64*256) plus the 4-byte offset.
  CHECK(bits_per_weight(find_scheme("nf4_dq"), 4096, 4096) ==
        Approx(4 + 8.0 / 64 + 32.0 / (64 * 256) + 32.0 / (4096.0 * 4096)).epsilon(1e-12));
  CHECK(bits_per_weight(find_scheme("nf4_dq"), 4096, 4096) == Approx(4.127).margin(0.001));
  // Per channel: one fp16 scale (+ a 4-bit zero) per row.
  CHECK(bits_per_weight(find_scheme("rtn4_sym_pc"), 64, 4096) == 4 + 16.0 / 4096);
  CHECK(bits_per_weight(find_scheme("rtn4_asym_pc"), 64, 4096) == 4 + 20.0 / 4096);
}

TEST_CASE("byte accounting by part equals the stored arrays for every scheme", "[unit][scheme]") {
  const int64_t rows = 3, cols = 512;
  auto w = gaussian(rows * cols, 41);
  for (const auto* s : all_schemes()) {
    INFO(s->name);
    QuantizedTensor q = quantize(*s, w.data(), rows, cols);
    const ByteAccounting a = q.bytes();
    CHECK(a.total() == static_cast<int64_t>(q.data.size() + q.scales.size() + q.zeros.size() + q.meta.size()));
    CHECK(a.codes > 0);
    CHECK(a.scales > 0);
    CHECK(q.bits_per_weight() == 8.0 * a.total() / (rows * cols));
    CHECK(to_bytes(q).size() == static_cast<size_t>(a.total()));
    QuantizedTensor back = from_bytes(*s, rows, cols, to_bytes(q), "mem");
    CHECK(back.dequantize() == q.dequantize());
    if (s->layout == Layout::kGgmlBlocks)
      CHECK(static_cast<int64_t>(q.data.size()) == rows * cols / s->block * s->bytes_per_block);
  }
  const ByteAccounting k = find_scheme("q4_k").accounting(find_scheme("q4_k"), 1, 256);
  CHECK(k.codes == 128);
  CHECK(k.scales == 8);       // d + 8 six-bit scales
  CHECK(k.zeros_mins == 8);   // dmin + 8 six-bit mins
  const ByteAccounting a = find_scheme("rtn4_asym_g128").accounting(find_scheme("rtn4_asym_g128"), 3, 128);
  CHECK(a.codes == 192);
  CHECK(a.scales == 6);
  CHECK(a.zeros_mins == 2);  // three 4-bit zeros, rounded up to whole bytes
}

TEST_CASE("bad input: shapes, NaN/Inf, imatrix, fp16 overflow, byte sizes", "[unit][scheme]") {
  auto w = gaussian(4 * 512, 42);
  expect_input_error([&] { quantize("q4_k", w.data(), 4, 480, nullptr, "W"); }, "W: cols 480 is not a multiple of 256");
  expect_input_error([&] { quantize("q4_0", w.data(), 4, 48, nullptr, "W"); }, "not a multiple of 32");
  expect_input_error([&] { quantize("nf4", w.data(), 4, 96, nullptr, "W"); }, "not a multiple of 64");
  expect_input_error([&] { quantize("rtn4_sym_g128", w.data(), 4, 64, nullptr, "W"); }, "not a multiple of 128");
  expect_input_error([&] { quantize("q4_0", w.data(), 0, 512, nullptr, "W"); }, "must be positive");
  expect_input_error([&] { quantize("nope", w.data(), 4, 512, nullptr, "W"); }, "unknown quantization scheme");

  auto bad = w;
  bad[1 * 512 + 3] = std::numeric_limits<float>::quiet_NaN();
  expect_input_error([&] { quantize("q4_0", bad.data(), 4, 512, nullptr, "W"); }, "W: weight [1, 3] is NaN");
  bad[1 * 512 + 3] = -std::numeric_limits<float>::infinity();
  expect_input_error([&] { quantize("hqq", bad.data(), 4, 512, nullptr, "W"); }, "weight [1, 3] is -Inf");

  std::vector<float> imat(512, 1.f);
  expect_input_error([&] { quantize("q8_0", w.data(), 4, 512, imat.data(), "W"); }, "has no importance-matrix path");
  expect_input_error([&] { quantize("nf4", w.data(), 4, 512, imat.data(), "W"); }, "q4_0");
  imat[7] = -1.f;
  expect_input_error([&] { quantize("q4_k", w.data(), 4, 512, imat.data(), "W"); }, "imatrix[7]");

  std::vector<float> huge(2 * 256, 1.f);  // row 1: scales like 1e9 / 8 overflow fp16
  for (int j = 256; j < 512; ++j) huge[j] = 1e9f;
  for (const char* name : {"q4_0", "q4_k", "q6_k", "q8_0", "rtn4_sym_g32", "rtn4_asym_pc", "hqq"})
    expect_input_error([&] { quantize(name, huge.data(), 2, 256, nullptr, "W"); }, "W: row 1: values up to");

  QuantizedTensor q = quantize("q4_0", w.data(), 4, 512);
  std::string b = to_bytes(q);
  expect_input_error([&] { from_bytes(find_scheme("q4_0"), 4, 512, std::string_view(b).substr(1), "f.q"); },
                     "f.q: 1151 bytes, but scheme q4_0 stores a [4, 512] tensor in exactly 1152 bytes");
}

TEST_CASE("all-zero weights quantize to exact zeros", "[unit][scheme]") {
  std::vector<float> z(2 * 256, 0.f);
  for (const auto* s : all_schemes()) {
    INFO(s->name);
    QuantizedTensor q = quantize(*s, z.data(), 2, 256);
    for (float v : q.dequantize()) CHECK(v == 0.f);
  }
}
