// Statistics on known data; reference values computed with mpmath (30 digits) or by hand, and the
// random streams checked against numpy 1.24 / CPython 3.11 outputs for the same seeds.
#include "eval/rng.h"
#include "eval/stats.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

using namespace g4u::eval;
using Catch::Detail::Approx;

TEST_CASE("CLT and clustered standard errors", "[unit]") {
  CHECK(mean({1, 0, 1, 1}) == 0.75);
  CHECK(clt_stderr({1, 0, 1, 1}) == Approx(0.25));  // sample var 0.25, n = 4
  CHECK(std::isnan(clt_stderr({1})));
  // d = +-0.5; SE^2 = 1/12 + (0.5 + 0.5) / 16 = 7/48
  CHECK(clustered_stderr({1, 1, 0, 0}, {"a", "a", "b", "b"}) == Approx(0.38188130791298667));
  // singleton clusters: identical to the CLT standard error
  CHECK(clustered_stderr({1, 0, 1, 1}, {"a", "b", "c", "d"}) == Approx(0.25));
  Interval ci = normal_ci95(0.5, 0.1);
  CHECK(ci.lo == Approx(0.5 - 0.1959963984540054));
  CHECK(parse_failure_rate(3, 12) == 0.25);
}

TEST_CASE("Wilson score intervals: Newcombe (1998), Table I, method 3", "[unit]") {
  // Newcombe, "Two-sided confidence intervals for the single proportion", Stat. Med. 17:857-872.
  struct Case { double x, n, lo, hi; };
  for (const Case& c : {Case{81, 263, 0.2553, 0.3662}, Case{15, 148, 0.0624, 0.1605}, Case{0, 20, 0.0, 0.1611},
                        Case{1, 29, 0.0061, 0.1718}}) {
    const Interval ci = wilson_ci95(c.x / c.n, static_cast<size_t>(c.n));
    CHECK(ci.lo == Approx(c.lo).margin(5e-5));
    CHECK(ci.hi == Approx(c.hi).margin(5e-5));
  }
  CHECK(wilson_ci95(1.0, 100).hi == 1.0);  // a normal interval would pass 1
  CHECK(all_binary({1, 0, 1}));
  CHECK_FALSE(all_binary({1, 0.5}));
  CHECK_FALSE(all_binary({}));
}

TEST_CASE("Student t quantiles and tail probabilities", "[unit]") {
  CHECK(student_t_quantile(0.975, 1) == Approx(12.706204736174705).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 2) == Approx(4.3026527297494639).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 5) == Approx(2.5705818356363155).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 10) == Approx(2.2281388519862747).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 30) == Approx(2.0422724563012383).epsilon(1e-10));
  CHECK(student_t_quantile(0.025, 10) == Approx(-2.2281388519862747).epsilon(1e-10));
  CHECK(2 * (1 - student_t_cdf(2.0, 10)) == Approx(0.073388034770740366).epsilon(1e-10));
  CHECK(student_t_cdf(0, 7) == Approx(0.5));
}

TEST_CASE("paired t test", "[unit]") {
  PairedTest t = paired_t_test({1, 1, 1, 0, 1}, {0, 1, 0, 0, 1});
  CHECK(t.mean_diff == Approx(0.4));
  CHECK(t.stderr == Approx(std::sqrt(0.06)));
  CHECK(t.t == Approx(1.6329931618554521));
  CHECK(t.df == 4);
  CHECK(t.p_value == Approx(0.17780780835622137).epsilon(1e-10));
  CHECK(t.ci95.hi - t.mean_diff == Approx(0.68008738065825592).epsilon(1e-10));
  PairedTest same = paired_t_test({1, 0, 1}, {1, 0, 1});
  CHECK(same.p_value == 1.0);
}

TEST_CASE("numpy SeedSequence / PCG64 / Generator.choice streams", "[unit]") {
  // np.random.SeedSequence(12345).generate_state(8)
  std::vector<uint32_t> ss = NumpyGenerator::seed_sequence_state(12345, 8);
  std::vector<uint32_t> want = {0xa03d837c, 0xb5ae6482, 0xfa1f7a2f, 0xbbe2996f,
                                0x37158f94, 0x64e39a9f, 0xa013fd73, 0x3ebb0f96};
  CHECK(ss == want);
  // np.random.default_rng(12345).bit_generator.random_raw(3)
  NumpyGenerator g(12345);
  CHECK(g.next_uint64() == 0x3a32b18db2ffc19dULL);
  CHECK(g.next_uint64() == 0x51171315c9e4c4deULL);
  CHECK(g.next_uint64() == 0xcc2024823444efd9ULL);
  // np.random.default_rng(12345).choice(10, size=(2, 10), replace=True)
  NumpyGenerator c(12345);
  CHECK(c.choice(10, 10) == std::vector<uint32_t>{6, 2, 7, 3, 2, 7, 6, 6, 9, 3});
  CHECK(c.choice(10, 10) == std::vector<uint32_t>{8, 3, 5, 5, 2, 1, 2, 6, 6, 9});
  CHECK(NumpyGenerator(0).choice(7, 12) == std::vector<uint32_t>{5, 4, 3, 1, 2, 0, 0, 0, 1, 5, 4, 6});
  CHECK(NumpyGenerator(12345).choice(3000, 8) == std::vector<uint32_t>{2097, 682, 2365, 950, 612, 2392, 1928, 2028});
}

TEST_CASE("Python random (MT19937) stream", "[unit]") {
  PyRandom r(42);  // random.seed(42); [random.getrandbits(32) for _ in range(3)]
  CHECK(r.getrandbits(32) == 2746317213u);
  CHECK(r.getrandbits(32) == 478163327u);
  CHECK(r.getrandbits(32) == 107420369u);
  PyRandom big((1ULL << 40) + 5);
  CHECK(big.getrandbits(32) == 2166296868u);
  CHECK(big.getrandbits(32) == 2220160828u);
  CHECK(PyRandom(0).random() == 0.8444218515250481);
}

TEST_CASE("bootstrap resamples as sacreBLEU does", "[unit]") {
  // the first resample of 10 items with seed 12345 is numpy's first row above
  std::vector<std::vector<uint32_t>> seen;
  Bootstrap b = bootstrap(10, 2, 12345, [&](const std::vector<uint32_t>& idx) {
    seen.push_back(idx);
    double s = 0;
    for (auto i : idx) s += i;
    return s / static_cast<double>(idx.size());
  });
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<uint32_t>{6, 2, 7, 3, 2, 7, 6, 6, 9, 3});
  CHECK(b.scores[0] == Approx(5.1));
  CHECK(b.scores[1] == Approx(4.7));
  CHECK(b.mean == Approx(4.9));
  // 95 % interval indices: B // 40 and B - 1 - B // 40
  Bootstrap c = bootstrap(5, 80, 1, [](const std::vector<uint32_t>& idx) { return static_cast<double>(idx[0]); });
  std::vector<double> sorted = c.scores;
  std::sort(sorted.begin(), sorted.end());
  CHECK(c.ci95.lo == sorted[2]);
  CHECK(c.ci95.hi == sorted[77]);
  CHECK(c.half_width == 0.5 * (sorted[77] - sorted[2]));
}
