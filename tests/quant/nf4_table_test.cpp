// The NF4 table against an independent derivation (bitsandbytes' create_normal_map: normal
// quantiles of linspace(0.9677083, 0.5, 9)[:-1] and the negated ones of linspace(.., 8)[:-1], plus 0,
// divided by the largest), and properties of the 8-bit dynamic map used by double quantization.
#include "quant/formats/nf4.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace g4u::quant;

namespace {

// Standard normal quantile by bisection on the CDF (double precision).
double normal_ppf(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

// torch.linspace(start, end, n) in fp32.
std::vector<float> linspace_f32(float start, float end, int n) {
  const float step = (end - start) / static_cast<float>(n - 1);
  std::vector<float> v(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) v[k] = k < n / 2 ? start + step * k : end - step * (n - 1 - k);
  return v;
}

}  // namespace

TEST_CASE("NF4 table equals the normal-quantile construction and the shipped values", "[unit][nf4]") {
  const float offset = 0.9677083f;
  std::vector<double> v;
  const auto p_pos = linspace_f32(offset, 0.5f, 9), p_neg = linspace_f32(offset, 0.5f, 8);
  for (int i = 0; i < 8; ++i) v.push_back(normal_ppf(p_pos[i]));
  for (int i = 0; i < 7; ++i) v.push_back(-normal_ppf(p_neg[i]));
  v.push_back(0.0);
  std::vector<float> t;
  for (double x : v) t.push_back(static_cast<float>(x));
  std::sort(t.begin(), t.end());
  const float mx = t.back();
  REQUIRE(t.size() == 16);
  for (int i = 0; i < 16; ++i) {
    INFO(i);
    CHECK(std::fabs(t[i] / mx - kNf4Values[i]) < 3e-7f);
  }
  // Literal values from shared/docs/quant-and-mtp.md §2.9.
  CHECK(kNf4Values[0] == -1.0f);
  CHECK(kNf4Values[1] == -0.6961928009986877f);
  CHECK(kNf4Values[7] == 0.0f);
  CHECK(kNf4Values[8] == 0.07958029955625534f);
  CHECK(kNf4Values[14] == 0.7229568362236023f);
  CHECK(kNf4Values[15] == 1.0f);
}

TEST_CASE("dynamic 8-bit map: 256 sorted values, 0 and 1 included, decade structure", "[unit][nf4]") {
  const auto& m = nf4_dynamic_map();
  CHECK(std::is_sorted(m.begin(), m.end()));
  CHECK(std::adjacent_find(m.begin(), m.end()) == m.end());
  CHECK(std::count(m.begin(), m.end(), 0.f) == 1);
  CHECK(m[255] == 1.f);
  // Largest magnitude below 1: the last midpoint of linspace(0.1, 1, 65) = (0.9859375 + 1) / 2.
  CHECK(m[0] == Approx(-0.99296875).epsilon(1e-6));
  CHECK(m[254] == Approx(0.99296875).epsilon(1e-6));
  // Smallest magnitude: 1e-6 * (0.1 + 1) / 2.
  const auto pos = std::upper_bound(m.begin(), m.end(), 0.f);
  CHECK(*pos == Approx(5.5e-7).epsilon(1e-5));
  // 2^i values in decade i (10^(i-6) * [0.1, 1)) for each sign.
  for (int i = 0; i < 7; ++i) {
    const float lo = 0.1f * std::pow(10.f, i - 6) * 0.999f, hi = std::pow(10.f, i - 6) * 0.9999f;
    CHECK(std::count_if(m.begin(), m.end(), [&](float x) { return x > lo && x < hi; }) == (1 << i));
    CHECK(std::count_if(m.begin(), m.end(), [&](float x) { return -x > lo && -x < hi; }) == (1 << i));
  }
  CHECK(nearest_index_sorted(m.data(), 256, 0.f) == static_cast<int>(pos - m.begin()) - 1);
  CHECK(nearest_index_sorted(kNf4Values.data(), 16, -2.f) == 0);
  CHECK(nearest_index_sorted(kNf4Values.data(), 16, 2.f) == 15);
  // an exact tie goes to the lower index (torch.argmin returns the first minimum)
  const float tie_table[3] = {0.f, 1.f, 2.f};
  CHECK(nearest_index_sorted(tie_table, 3, 0.5f) == 0);
  CHECK(nearest_index_sorted(tie_table, 3, 1.5f) == 1);
  CHECK(nearest_index_sorted(tie_table, 3, 1.50001f) == 2);
}
