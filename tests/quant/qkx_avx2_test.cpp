// The Q4_K and Q6_K encoders' eight-lane searches (quant/formats/qkx_avx2.cpp) against the scalar
// make_qkx_quants / make_qx_quants, sub-block by sub-block: codes, scales and minimums must be the
// same bits, for the grids ggml uses (Q4_K without imatrix: rmin -1, step 0.1, 20 steps; with:
// -0.9, 0.05, 36; Q6_K with and without imatrix weights) and for sub-blocks whose shape takes the
// scalar code's special branches.
#include "quant/formats/ggml_formats.h"
#include "quant/kernels/kernels.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

using namespace g4u::quant;
using g4u::test::gaussian;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// x and weights: [8][32]
void check_same_bits(const std::vector<float>& x, const std::vector<float>& w, float rmin, float rdelta, int nstep) {
  uint8_t lanes_l[256];
  float lanes_scale[8], lanes_min[8];
  make_qkx_quants_x8_avx2(15, x.data(), w.data(), lanes_l, lanes_scale, lanes_min, rmin, rdelta, nstep);
  for (int j = 0; j < 8; ++j) {
    INFO("sub-block " << j);
    uint8_t l[32], aux[32];
    float the_min = 0;
    const float scale = make_qkx_quants(32, 15, x.data() + 32 * j, w.data() + 32 * j, l, &the_min, aux, rmin, rdelta, nstep);
    CHECK(bits(lanes_scale[j]) == bits(scale));
    CHECK(bits(lanes_min[j]) == bits(the_min));
    CHECK(std::memcmp(lanes_l + 32 * j, l, 32) == 0);
  }
}

// ggml's weights without an imatrix: sqrt(mean x^2) + |x|
std::vector<float> plain_weights(const std::vector<float>& x) {
  std::vector<float> w(x.size());
  for (int j = 0; j < 8; ++j) {
    float ss = 0;
    for (int l = 0; l < 32; ++l) ss += x[32 * j + l] * x[32 * j + l];
    const float av = std::sqrt(ss / 32);
    for (int l = 0; l < 32; ++l) w[32 * j + l] = av + std::fabs(x[32 * j + l]);
  }
  return w;
}

}  // namespace

// Sub-blocks that take the special branches: all equal (max <= min), all zero, all positive
// (Q4_K's min clamped to 0), a single outlier, values on a coarse grid (ties in the rounding).
std::vector<float> test_values(int trial, std::mt19937& rng) {
  auto x = gaussian(256, 1000 + trial, trial % 3 == 0 ? 0.02f : 1.f);
  const int kind = trial % 6;
  for (int j = 0; j < 8; ++j) {
    float* b = x.data() + 32 * j;
    if (kind == 1 && j == 2) for (int l = 0; l < 32; ++l) b[l] = -0.5f;
    if (kind == 1 && j == 5) for (int l = 0; l < 32; ++l) b[l] = 0.f;
    if (kind == 2) for (int l = 0; l < 32; ++l) b[l] = std::fabs(b[l]) + 0.25f;
    if (kind == 3 && j % 2 == 0) b[rng() % 32] = 40.f;
    if (kind == 4) for (int l = 0; l < 32; ++l) b[l] = std::round(b[l] * 4.f) / 4.f;
    if (kind == 5 && j == 7) for (int l = 0; l < 32; ++l) b[l] = l < 16 ? 1.f : -1.f;
  }
  return x;
}

TEST_CASE("the eight-lane Q4_K search gives the scalar search's bits", "[unit][quant]") {
  if (!cpu_has_avx2()) {
    WARN("CPU without AVX2: the eight-lane search is never used here");
    return;
  }
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const auto x = test_values(trial, rng);
    INFO("trial " << trial);
    check_same_bits(x, plain_weights(x), -1.f, 0.1f, 20);
    auto qw = gaussian(256, 5000 + trial);
    std::vector<float> w(256);
    for (int i = 0; i < 256; ++i) w[i] = std::fabs(qw[i]) * std::sqrt(0.1f + x[i] * x[i]);
    check_same_bits(x, w, -0.9f, 0.05f, 36);
    check_same_bits(x, w, -0.9f, 0.05f, 0);  // no search: the first fit only
  }
}

TEST_CASE("the eight-lane Q6_K search gives the scalar search's bits", "[unit][quant]") {
  if (!cpu_has_avx2()) {
    WARN("CPU without AVX2: the eight-lane search is never used here");
    return;
  }
  std::mt19937 rng(12);
  for (int trial = 0; trial < 300; ++trial) {
    const auto x = test_values(trial, rng);  // 16 sub-blocks of 16: two calls
    const auto qw = gaussian(256, 7000 + trial);
    std::vector<float> w(256);
    for (int i = 0; i < 256; ++i) w[i] = std::fabs(qw[i]);
    for (const float* weights : {static_cast<const float*>(nullptr), static_cast<const float*>(w.data())}) {
      for (int h = 0; h < 2; ++h) {
        INFO("trial " << trial << " half " << h << " imatrix " << (weights != nullptr));
        int8_t lanes_l[128];
        float lanes_scale[8];
        make_qx_quants_x8_avx2(32, x.data() + 128 * h, weights ? weights + 128 * h : nullptr, lanes_l, lanes_scale);
        for (int j = 0; j < 8; ++j) {
          int8_t l[16];
          const int off = 128 * h + 16 * j;
          const float scale = make_qx_quants(16, 32, x.data() + off, l, weights ? weights + off : nullptr);
          CHECK(bits(lanes_scale[j]) == bits(scale));
          CHECK(std::memcmp(lanes_l + 16 * j, l, 16) == 0);
        }
      }
    }
  }
}
