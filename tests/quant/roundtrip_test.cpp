// Encode -> decode error bounds per scheme, on Gaussian weights. Each scheme gets a hard per-weight
// bound that follows from its format (e.g. |w - w^| <= s/2 for RTN) and a two-sided band on the
// RMS error relative to the format's quantization step (uniform rounding noise has RMS step/sqrt(12)),
// or, for the non-uniform formats, on the relative Frobenius error.
#include "quant/formats/fp16.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/nf4.h"
#include "quant/formats/quantized_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace g4u::quant;
using g4u::test::gaussian;

namespace {

constexpr int64_t kRows = 16, kCols = 512;
const double kUniformRms = 1.0 / std::sqrt(12.0);

struct Stats {
  double sum_err2 = 0, sum_step2 = 0;
  int64_t n = 0;
  void add(double err, double step) {
    sum_err2 += err * err;
    sum_step2 += step * step;
    ++n;
  }
  // RMS error divided by RMS(step / sqrt(12)): 1 for ideal uniform rounding noise.
  double ratio() const { return std::sqrt(sum_err2 / n) / (std::sqrt(sum_step2 / n) * kUniformRms); }
};

template <typename Block>
const Block& block_at(const QuantizedTensor& q, int64_t r, int64_t b) {
  return reinterpret_cast<const Block*>(q.data.data() + r * q.data_row_bytes())[b];
}

float f16(uint16_t h) { return fp16_to_fp32(h); }
float load_f16(const ByteBuffer& v, int64_t i) {
  uint16_t h;
  std::memcpy(&h, v.data() + 2 * i, 2);
  return fp16_to_fp32(h);
}

// kRows x kCols Gaussian weights (`seed`), encoded with `scheme` and decoded again.
struct RoundTrip {
  RoundTrip(const char* scheme, uint32_t seed)
      : w(gaussian(kRows * kCols, seed)), q(quantize(scheme, w.data(), kRows, kCols)), wh(q.dequantize()) {}

  // Visits every weight of a block format with `n` weights per Block: step = check(block, e, i, err)
  // for element e of its block, i its index in w, err = |w - w^|; returns the errors against the steps.
  template <typename Block, typename Check>
  Stats each_weight(int n, Check check) const {
    Stats st;
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t b = 0; b < kCols / n; ++b) {
        const Block& blk = block_at<Block>(q, r, b);
        for (int e = 0; e < n; ++e) {
          const int64_t i = r * kCols + b * n + e;
          const double err = std::fabs(w[i] - wh[i]);
          st.add(err, check(blk, e, i, err));
        }
      }
    return st;
  }

  std::vector<float> w;
  QuantizedTensor q;
  std::vector<float> wh;
};

// The two-sided band on RMS error / (step / sqrt(12)).
void check_ratio(const Stats& st, double lo, double hi) {
  INFO("rms / (step/sqrt12) = " << st.ratio());
  CHECK(st.ratio() > lo);
  CHECK(st.ratio() < hi);
}
}  // namespace

TEST_CASE("q4_0 round trip: |err| <= |d|/2 inside the range, <= |d| at the clamp", "[unit][roundtrip][q4_0]") {
  const RoundTrip t("q4_0", 11);
  const Stats st = t.each_weight<BlockQ4_0>(32, [&](const BlockQ4_0& blk, int, int64_t i, double err) {
    const float d = std::fabs(f16(blk.d));
    const double pos = t.w[i] / f16(blk.d);  // in units of d, extreme at -8
    CHECK(err <= (pos < 7.4 ? 0.51 : 1.01) * d);
    return d;
  });
  check_ratio(st, 0.9, 1.15);
}

TEST_CASE("q4_1 round trip: |err| <= d/2 (+ fp16 rounding of d and m)", "[unit][roundtrip][q4_1]") {
  const RoundTrip t("q4_1", 12);
  const Stats st = t.each_weight<BlockQ4_1>(32, [](const BlockQ4_1& blk, int, int64_t, double err) {
    const float d = f16(blk.d), m = f16(blk.m);
    CHECK(err <= 0.52 * d + 0.001 * std::fabs(m));
    return d;
  });
  check_ratio(st, 0.9, 1.1);
}

TEST_CASE("q8_0 round trip: |err| <= d/2 + 127 |d - fp16(d)|", "[unit][roundtrip][q8_0]") {
  const RoundTrip t("q8_0", 13);
  const Stats st = t.each_weight<BlockQ8_0>(32, [](const BlockQ8_0& blk, int, int64_t, double err) {
    const float d = f16(blk.d);
    CHECK(err <= d * (0.5 + 127.0 / 2048));
    return d;
  });
  check_ratio(st, 0.9, 1.3);
}

TEST_CASE("q4_k codes are the nearest codes for the stored fp16 d/dmin and 6-bit scales", "[unit][roundtrip][q4_k]") {
  const RoundTrip t("q4_k", 14);
  int64_t clamped = 0;
  const Stats st = t.each_weight<BlockQ4_K>(256, [&](const BlockQ4_K& blk, int e, int64_t i, double err) {
    uint8_t sc, m;
    get_scale_min_k4(e / 32, blk.scales, &sc, &m);
    const float d = f16(blk.d) * sc, dm = f16(blk.dmin) * m;
    REQUIRE(d > 0);
    const int code = (blk.qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 0xF;
    const int raw = nearest_int((t.w[i] + dm) / d);
    CHECK(code == std::clamp(raw, 0, 15));  // §2.4 step 3
    if (raw >= 0 && raw <= 15) CHECK(err <= 0.5 * d * (1 + 1e-5) + 1e-6);
    else ++clamped;
    return d;
  });
  INFO("clamped " << clamped);
  check_ratio(st, 0.8, 1.2);
  CHECK(clamped < kRows * kCols / 100);
}

TEST_CASE("q6_k codes are the nearest codes for the stored d and int8 scales", "[unit][roundtrip][q6_k]") {
  const RoundTrip t("q6_k", 15);
  const Stats st = t.each_weight<BlockQ6_K>(256, [&](const BlockQ6_K& blk, int e, int64_t i, double err) {
    const float d = f16(blk.d) * blk.scales[e / 16];
    REQUIRE(d != 0);
    const int h = e / 128, l = e % 32, k = (e % 128) / 32;
    const int lo = ((k & 1) ? blk.ql[64 * h + l + 32] : blk.ql[64 * h + l]);
    const int code = (((k & 2) ? lo >> 4 : lo & 0xF) | (((blk.qh[32 * h + l] >> (2 * k)) & 3) << 4));
    const int raw = nearest_int(t.w[i] / d);
    CHECK(code == std::clamp(raw, -32, 31) + 32);
    if (raw >= -32 && raw <= 31) CHECK(err <= 0.5 * std::fabs(d) * (1 + 1e-5) + 1e-7);
    return d;
  });
  check_ratio(st, 0.85, 1.15);
}

TEST_CASE("iq4_nl round trip stays within half the widest table gap", "[unit][roundtrip][iq4_nl]") {
  const RoundTrip t("iq4_nl", 16);
  t.each_weight<BlockIQ4_NL>(32, [&](const BlockIQ4_NL& blk, int, int64_t i, double err) {
    const float d = std::fabs(f16(blk.d));
    if (std::fabs(t.w[i]) <= 100 * d) CHECK(err <= 12.2 * d);  // widest gap 89 -> 113
    return d;
  });
  const double rel = relative_error(t.q, t.w.data());
  INFO("relative error " << rel);
  CHECK(rel > 0.05);
  CHECK(rel < 0.09);
  CHECK(rel < relative_error(quantize("q4_0", t.w.data(), kRows, kCols), t.w.data()));
}

TEST_CASE("rtn round trip: |err| <= s/2 for every weight (sym and asym, all groups)", "[unit][roundtrip][rtn]") {
  auto w = gaussian(kRows * kCols, 17);
  for (const char* name : {"rtn4_sym_g32", "rtn4_sym_g64", "rtn4_sym_g128", "rtn4_sym_pc", "rtn4_asym_g32",
                           "rtn4_asym_g64", "rtn4_asym_g128", "rtn4_asym_pc"}) {
    DYNAMIC_SECTION(name) {
      const SchemeTraits& s = find_scheme(name);
      QuantizedTensor q = quantize(s, w.data(), kRows, kCols);
      auto wh = q.dequantize();
      const int64_t g = s.group_size(kCols), groups = kCols / g;
      Stats st;
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t gr = 0; gr < groups; ++gr) {
          const float sc = load_f16(q.scales, r * groups + gr);
          for (int64_t c = gr * g; c < (gr + 1) * g; ++c) {
            const int64_t i = r * kCols + c;
            const double err = std::fabs(w[i] - wh[i]);
            // s = fp16(2 amax / 15) can be 2^-11 below the exact scale: the clamped extreme then
            // errs by up to 7.5 * 2^-11 * s more than s/2.
            CHECK(err <= sc * (s.symmetric ? 0.5 + 7.5 / 2047 : 0.52));
            st.add(err, sc);
          }
        }
      check_ratio(st, 0.9, 1.12);
    }
  }
}

TEST_CASE("nf4: codes are the nearest table entries of w / absmax, absmax stored exactly", "[unit][roundtrip][nf4]") {
  auto w = gaussian(kRows * kCols, 18);
  QuantizedTensor q = quantize("nf4", w.data(), kRows, kCols);
  auto wh = q.dequantize();
  for (int64_t b = 0; b < kRows * kCols / 64; ++b) {
    float absmax = 0;
    for (int i = 0; i < 64; ++i) absmax = std::max(absmax, std::fabs(w[b * 64 + i]));
    float stored;
    std::memcpy(&stored, q.scales.data() + 4 * b, 4);
    REQUIRE(stored == absmax);
    for (int i = 0; i < 64; ++i) {
      const int64_t e = b * 64 + i;
      const int code = (e % 2 == 0) ? (q.data[e / 2] >> 4) : (q.data[e / 2] & 0xF);
      const float u = w[e] * (1.0f / absmax);
      int best = 0;  // independent argmin: first index of the smallest |u - T|
      for (int k = 1; k < 16; ++k)
        if (std::fabs(u - kNf4Values[k]) < std::fabs(u - kNf4Values[best])) best = k;
      CHECK(code == best);
      CHECK(wh[e] == kNf4Values[code] * absmax);
      CHECK(std::fabs(w[e] - wh[e]) <= absmax * (1 - 0.6961928009986877) / 2 * (1 + 1e-6));
    }
  }
  const double rel = relative_error(q, w.data());
  INFO("relative error " << rel);
  CHECK(rel > 0.06);
  CHECK(rel < 0.11);
}

TEST_CASE("nf4_dq: double-quantized absmax within half a dynamic-map step", "[unit][roundtrip][nf4]") {
  // 2 x 256 + 64 first-level blocks: two full nested blocks and a partial one.
  const int64_t rows = 18, cols = 2048;
  auto w = gaussian(rows * cols, 19);
  for (int64_t r = 0; r < rows; ++r)  // vary the block scales so the offset/absmax2 matter
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= 0.2f + 0.1f * static_cast<float>(r % 7);
  QuantizedTensor dq = quantize("nf4_dq", w.data(), rows, cols);
  QuantizedTensor plain = quantize("nf4", w.data(), rows, cols);
  const int64_t nb = rows * cols / 64, nb2 = (nb + 255) / 256;
  REQUIRE(dq.meta.size() == static_cast<size_t>(4 * nb2 + 4));
  float offset;
  std::memcpy(&offset, dq.meta.data() + 4 * nb2, 4);
  double mean = 0;
  for (int64_t b = 0; b < nb; ++b) {
    float a;
    std::memcpy(&a, plain.scales.data() + 4 * b, 4);
    mean += a;
  }
  CHECK(offset == Approx(mean / nb).epsilon(1e-6));
  const auto& map = nf4_dynamic_map();
  for (int64_t b = 0; b < nb; ++b) {
    float a, a2;
    std::memcpy(&a, plain.scales.data() + 4 * b, 4);
    std::memcpy(&a2, dq.meta.data() + 4 * (b / 256), 4);
    const float rec = map[dq.scales[b]] * a2 + offset;
    CHECK(std::fabs(rec - a) <= a2 * 0.0071f + 1e-6f);  // widest gap of the map: 0.9/64 near |u| = 1
  }
  const double rel_dq = relative_error(dq, w.data()), rel = relative_error(plain, w.data());
  INFO("nf4 " << rel << " nf4_dq " << rel_dq);
  CHECK(rel_dq >= rel * 0.99);
  CHECK(rel_dq <= rel * 1.02);
  CHECK(dq.bytes().total() < plain.bytes().total());
}

TEST_CASE("hqq beats its own min-max initialisation on mean |error|", "[unit][roundtrip][hqq]") {
  auto w = gaussian(kRows * kCols, 20);
  for (const char* name : {"hqq", "hqq_g32", "hqq_g128"}) {
    DYNAMIC_SECTION(name) {
      const SchemeTraits& s = find_scheme(name);
      const int64_t g = s.group_size(kCols);
      QuantizedTensor q = quantize(s, w.data(), kRows, kCols);
      auto wh = q.dequantize();
      double hqq_l1 = 0, init_l1 = 0;
      for (int64_t gi = 0; gi < kRows * kCols / g; ++gi) {
        const float* v = w.data() + gi * g;
        const float lo = *std::min_element(v, v + g), hi = *std::max_element(v, v + g);
        const float sc = 15.f / (hi - lo), z = std::nearbyint(-lo * sc);  // HQQ init, round_zero
        for (int64_t i = 0; i < g; ++i) {
          const float code = std::clamp(std::nearbyint(v[i] * sc + z), 0.f, 15.f);
          init_l1 += std::fabs(v[i] - (code - z) / sc);
          hqq_l1 += std::fabs(v[i] - wh[gi * g + i]);
        }
        // stored scale = 1 / s in fp16
        CHECK(load_f16(q.scales, gi) == round_fp16(1.f / sc));
      }
      INFO("hqq " << hqq_l1 << " init " << init_l1);
      CHECK(hqq_l1 < 0.99 * init_l1);
      CHECK(hqq_l1 > 0.7 * init_l1);
    }
  }
}
