// The affine int4 group form that the GPU path hands to LibTorch's packed product: it must
// reproduce each scheme's own decoder (the reference dequantization), and its packing must follow
// the byte conventions LibTorch documents (checked by hand-built values here; the CUDA product itself
// runs only on a GPU machine).
#include "model/io/device.h"
#include "quant/formats/fp16.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/interleave.h"
#include "quant/layer/int4_groups.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/torch_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <cstring>

using namespace g4u;
using namespace g4u::quant;

namespace {
torch::Tensor weight(int64_t rows, int64_t cols, uint32_t seed) { return test::random_weight(rows, cols, seed); }

// A one-row tensor of `scheme` holding the single block `block` (cols = the block's weights).
template <typename Block>
QuantizedTensor one_block(const char* scheme, int64_t cols, const Block& block) {
  QuantizedTensor q;
  q.scheme = &find_scheme(scheme);
  q.rows = 1;
  q.cols = cols;
  std::vector<uint8_t> bytes(sizeof block);
  std::memcpy(bytes.data(), &block, sizeof block);
  q.data = ByteBuffer(std::move(bytes));
  return q;
}
}  // namespace

TEST_CASE("int4 groups reproduce each 4-bit affine scheme's decoder", "[unit][quant][int4]") {
  const torch::Tensor w = weight(16, 512, 7);
  for (const char* scheme : {"q4_0", "q4_1", "q4_k", "rtn4_sym_g32", "rtn4_sym_g128", "rtn4_asym_g64", "rtn4_asym_pc",
                             "hqq", "hqq_g32"}) {
    INFO(scheme);
    QuantizedTensor q = quantize_tensor(w, scheme);
    const torch::Tensor reference = dequantize_tensor(q);
    for (bool interleaved : {false, true}) {
      INFO("interleaved " << interleaved);
      const QuantizedTensor t = interleaved ? to_interleaved(q) : q;
      std::optional<Int4Groups> g = int4_groups(t);
      REQUIRE(g.has_value());
      CHECK(g->codes.sizes() == torch::IntArrayRef({16, 512}));
      CHECK(g->codes.max().item<int64_t>() <= 15);
      CHECK(g->scales.size(1) == 512 / g->group);
      // (q - 8) s + z against the scheme's decoder: equal up to the fp32 rounding of the rewritten terms.
      const torch::Tensor diff = (g->dequantized() - reference).abs();
      CHECK(diff.max().item<double>() <= 1e-6 * reference.abs().max().item<double>() + 1e-9);
    }
  }
  CHECK(int4_groups(quantize_tensor(w, "q4_k"))->group == 32);  // the sub-blocks, not the 256 super-block
  CHECK(int4_groups(quantize_tensor(w, "rtn4_asym_pc"))->group == 512);
}

TEST_CASE("schemes without 4-bit affine groups have no int4 form", "[unit][quant][int4]") {
  const torch::Tensor w = weight(4, 256, 3);
  for (const char* scheme : {"q6_k", "q8_0", "iq4_nl", "nf4", "nf4_dq"}) {
    INFO(scheme);
    CHECK_FALSE(int4_groups(quantize_tensor(w, scheme)).has_value());
  }
}

TEST_CASE("int4 groups of a hand-built q4_0 and q4_k block", "[unit][quant][int4]") {
  SECTION("q4_0: w = d (q - 8)") {
    BlockQ4_0 b{};
    b.d = fp32_to_fp16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((j % 16) | ((15 - j) << 4));
    Int4Groups g = *int4_groups(one_block("q4_0", 32, b));
    CHECK(g.codes[0][0].item<int64_t>() == 0);
    CHECK(g.codes[0][5].item<int64_t>() == 5);
    CHECK(g.codes[0][16].item<int64_t>() == 15);  // high nibble of qs[0]
    CHECK(g.codes[0][31].item<int64_t>() == 0);
    CHECK(g.scales[0][0].item<float>() == 0.5f);
    CHECK(g.zeros[0][0].item<float>() == 0.0f);
    CHECK(g.dequantized()[0][5].item<float>() == 0.5f * (5 - 8));
  }
  SECTION("q4_k: sub-block j scale d*sc_j, zero 8 d*sc_j - dmin*m_j") {
    BlockQ4_K b{};
    b.d = fp32_to_fp16(0.25f);
    b.dmin = fp32_to_fp16(0.125f);
    // get_scale_min_k4 for j < 4: sc = scales[j] & 63, m = scales[j + 4] & 63.
    b.scales[1] = 3;      // sub-block 1: sc 3
    b.scales[5] = 2;      // sub-block 1: m 2
    b.qs[0] = 0x9 << 4;   // chunk 0, byte 0, high nibble: element 32 = sub-block 1, element 0
    Int4Groups g = *int4_groups(one_block("q4_k", 256, b));
    CHECK(g.codes[0][32].item<int64_t>() == 9);
    CHECK(g.scales[0][1].item<float>() == 0.75f);
    CHECK(g.zeros[0][1].item<float>() == 8 * 0.75f - 0.25f);
    CHECK(g.dequantized()[0][32].item<float>() == 0.75f * 9 - 0.25f);  // ggml: d sc q - dmin m
  }
}

TEST_CASE("packing follows LibTorch's int4 conventions", "[unit][quant][int4]") {
  // CUDA packing input: uint8 [N, K/2], code 2j in the high nibble of byte j, 2j + 1 in the low one.
  torch::Tensor codes = torch::tensor({1, 2, 3, 4, 15, 0, 0, 15}, torch::kUInt8).view({2, 4});
  torch::Tensor packed = pack_code_pairs(codes);
  REQUIRE(packed.sizes() == torch::IntArrayRef({2, 2}));
  CHECK(packed[0][0].item<int64_t>() == 0x12);
  CHECK(packed[0][1].item<int64_t>() == 0x34);
  CHECK(packed[1][0].item<int64_t>() == 0xF0);
  CHECK(packed[1][1].item<int64_t>() == 0x0F);
  // The scale-and-zero table: [K / group, N, 2], scale first, bf16.
  Int4Groups g;
  g.group = 32;
  g.codes = torch::zeros({3, 64}, torch::kUInt8);
  g.scales = torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({3, 2});
  g.zeros = -g.scales;
  torch::Tensor table = scales_and_zeros_table(g);
  REQUIRE(table.sizes() == torch::IntArrayRef({2, 3, 2}));
  CHECK(table.scalar_type() == torch::kBFloat16);
  CHECK(table[1][2][0].item<float>() == 6.f);  // group 1 of row 2
  CHECK(table[1][2][1].item<float>() == -6.f);
  CHECK(table[0][1][0].item<float>() == 3.f);
}

TEST_CASE("QuantLinear stays on its CPU kernels on the CPU; the packed product needs CUDA", "[unit][quant][int4]") {
  QuantLinear lin(quantize_tensor(weight(8, 64, 5), "q4_0"));
  const std::string cpu_path = lin.path();
  lin.to(torch::Device(torch::kCPU));
  CHECK(lin.path() == cpu_path);
  CHECK(lin.device().is_cpu());
  Int4Groups g = *int4_groups(lin.weight());
  CHECK_FALSE(int4_pack_unsupported_reason(g, 8, 64, torch::Device(torch::kCPU)).empty());
}

TEST_CASE("on a CUDA device QuantLinear runs the packed int4 product", "[unit][quant][int4]") {
  if (!model::built_with_cuda() || !torch::cuda::is_available()) return;  // a CUDA build on a GPU machine only
  torch::NoGradGuard ng;
  const torch::Tensor x = test::random_weight(5, 256, 11) * 20.0;  // activations of O(1)
  for (const char* scheme : {"q4_0", "q4_k", "rtn4_asym_g128", "q6_k"}) {
    INFO(scheme);
    QuantLinear lin(quantize_tensor(test::random_weight(64, 256, 9), scheme));
    const torch::Tensor w = lin.dequantized();
    lin.to(model::parse_device("cuda"));
    CHECK(lin.path() == (std::string(scheme) == "q6_k" ? "dense" : "int4pack"));
    const torch::Tensor y = lin.forward(x.to(lin.device())).to(torch::kCPU);
    // bf16 activations (2^-9 relative) and bf16 scale and zero terms: each reconstructed weight off by
    // at most ~4 * 2^-9 of its row's largest |w| (|zero| <= 8 s + |min|); twice that as the bound.
    const torch::Tensor bound = x.abs().sum(1, true) * std::get<0>(w.abs().max(1)).unsqueeze(0) / 64 + 1e-4;
    CHECK(((y - torch::matmul(x, w.t())).abs() <= bound).all().item<bool>());
  }
}
