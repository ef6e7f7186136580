// Uncertainty for evaluation scores (docs/eval-benchmarks.md §1.4):
//   - CLT standard error of a mean: sample std (n-1) / sqrt(n)
//   - clustered standard error for items sharing media (Miller 2024, eq. 4)
//   - seeded bootstrap for corpus metrics, drawing the same resamples as sacreBLEU
//     (numpy default_rng(seed).choice(n, (B, n)); 95 % interval = sorted[B//40], sorted[B-1-B//40])
//   - paired comparison of two variants on the same items: Student-t on per-item differences, or
//     sacreBLEU's paired bootstrap for corpus metrics
//   - parse-failure rate
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g4u::eval {

double mean(const std::vector<double>& x);
double sample_std(const std::vector<double>& x);  // Bessel (n-1); NaN for n < 2
double clt_stderr(const std::vector<double>& x);  // NaN for n < 2

// SE_c^2 = SE_clt^2 + (1/n^2) * sum_clusters[(sum_i d_i)^2 - sum_i d_i^2], d_i = s_i - mean.
double clustered_stderr(const std::vector<double>& scores, const std::vector<std::string>& clusters);

struct Interval {
  double lo = 0, hi = 0;
};
constexpr double kZ975 = 1.959963984540054;  // standard normal 0.975 quantile
Interval normal_ci95(double mean, double se);
// Wilson score interval of a proportion `p` of `n` trials (stays inside [0, 1], unlike the normal
// interval near 0 and 1): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = kZ975.
Interval wilson_ci95(double p, size_t n);
// True when every score is 0 or 1 (a proportion's trials), and there is at least one.
bool all_binary(const std::vector<double>& scores);

// Student t distribution.
double student_t_cdf(double t, double df);
double student_t_quantile(double p, double df);  // 0 < p < 1
// Regularized incomplete beta I_x(a, b).
double incomplete_beta(double a, double b, double x);

struct PairedTest {
  size_t n = 0;
  double mean_diff = 0;  // mean(a - b)
  double stderr = 0;     // std(diffs, n-1) / sqrt(n)
  double t = 0;
  double df = 0;
  double p_value = 1;  // two-sided, Student t(n-1)
  Interval ci95;       // mean_diff +- t_0.975(n-1) * stderr
};
// a = system, b = baseline, same items in the same order.
PairedTest paired_t_test(const std::vector<double>& a, const std::vector<double>& b);

struct Bootstrap {
  size_t samples = 0;
  uint64_t seed = 0;
  std::vector<double> scores;  // one per resample, in draw order
  double mean = 0;
  double stderr = 0;      // sample std of the resampled statistic
  Interval ci95;          // percentile interval, sacreBLEU's indices
  double half_width = 0;  // sacreBLEU's "±" (half the interval)
};
// statistic(idx) computes the metric on the items idx[0..n) (with repeats).
Bootstrap bootstrap(size_t n_items, size_t samples, uint64_t seed,
                    const std::function<double(const std::vector<uint32_t>&)>& statistic);

struct PairedBootstrap {
  size_t samples = 0;
  double diff = 0;        // statistic(system) - statistic(baseline) on the full set
  double p_value = 1;     // sacreBLEU paired_bs: (1 + #{|d_i| - mean|d| > |diff|}) / (B + 1)
  Interval ci95;          // percentile interval of the resampled differences
  double stderr = 0;      // std of the resampled differences
};
PairedBootstrap paired_bootstrap(size_t n_items, size_t samples, uint64_t seed,
                                 const std::function<double(const std::vector<uint32_t>&)>& system,
                                 const std::function<double(const std::vector<uint32_t>&)>& baseline);

double parse_failure_rate(size_t failures, size_t n);  // NaN for n == 0

}  // namespace g4u::eval
