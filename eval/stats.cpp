#include "eval/stats.h"

#include "eval/rng.h"
#include "base/error.h"

#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace g4u::eval {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double mean(const std::vector<double>& x) {
  if (x.empty()) return kNaN;
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

double sample_std(const std::vector<double>& x) {
  if (x.size() < 2) return kNaN;
  double m = mean(x), s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(x.size() - 1));
}

double clt_stderr(const std::vector<double>& x) {
  if (x.size() < 2) return kNaN;
  return sample_std(x) / std::sqrt(static_cast<double>(x.size()));
}

double clustered_stderr(const std::vector<double>& scores, const std::vector<std::string>& clusters) {
  G4U_CHECK(scores.size() == clusters.size(), "clustered_stderr: {} scores vs {} cluster ids", scores.size(),
            clusters.size());
  if (scores.size() < 2) return kNaN;
  double se = clt_stderr(scores);
  double m = mean(scores);
  double n = static_cast<double>(scores.size());
  std::map<std::string, std::pair<double, double>> sums;  // cluster -> (sum d, sum d^2)
  for (size_t i = 0; i < scores.size(); ++i) {
    double d = scores[i] - m;
    auto& s = sums[clusters[i]];
    s.first += d;
    s.second += d * d;
  }
  double extra = 0;
  for (auto& [k, s] : sums) extra += s.first * s.first - s.second;
  double v = se * se + extra / (n * n);
  return v > 0 ? std::sqrt(v) : 0.0;
}

Interval normal_ci95(double m, double se) { return {m - kZ975 * se, m + kZ975 * se}; }

Interval wilson_ci95(double p, size_t n) {
  const double z2 = kZ975 * kZ975, nn = static_cast<double>(n);
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = kZ975 / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

bool all_binary(const std::vector<double>& scores) {
  return !scores.empty() && std::all_of(scores.begin(), scores.end(), [](double s) { return s == 0.0 || s == 1.0; });
}

// The distributions come from Boost.Math (accurate to a few ulps across the whole range).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return boost::math::ibeta(a, b, x);
}

double student_t_cdf(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  return boost::math::cdf(boost::math::students_t_distribution<double>(df), t);
}

double student_t_quantile(double p, double df) {
  G4U_CHECK(p > 0 && p < 1, "student_t_quantile: p = {}", p);
  return boost::math::quantile(boost::math::students_t_distribution<double>(df), p);
}

PairedTest paired_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  G4U_CHECK(a.size() == b.size(), "paired_t_test: {} vs {} items", a.size(), b.size());
  PairedTest r;
  r.n = a.size();
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  r.mean_diff = mean(d);
  r.df = static_cast<double>(r.n) - 1;
  if (r.n < 2) {
    r.stderr = r.t = r.p_value = kNaN;
    r.ci95 = {kNaN, kNaN};
    return r;
  }
  r.stderr = clt_stderr(d);
  if (r.stderr == 0) {
    r.t = r.mean_diff == 0 ? 0 : (r.mean_diff > 0 ? HUGE_VAL : -HUGE_VAL);
    r.p_value = r.mean_diff == 0 ? 1 : 0;
    r.ci95 = {r.mean_diff, r.mean_diff};
    return r;
  }
  r.t = r.mean_diff / r.stderr;
  r.p_value = 2 * boost::math::cdf(boost::math::complement(boost::math::students_t_distribution<double>(r.df), std::fabs(r.t)));
  double q = student_t_quantile(0.975, r.df);
  r.ci95 = {r.mean_diff - q * r.stderr, r.mean_diff + q * r.stderr};
  return r;
}

namespace {
Interval percentile_ci(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  size_t lo = n / 40, hi = n - lo - 1;
  return {v[lo], v[hi]};
}
}  // namespace

Bootstrap bootstrap(size_t n_items, size_t samples, uint64_t seed,
                    const std::function<double(const std::vector<uint32_t>&)>& statistic) {
  G4U_CHECK(n_items > 0 && n_items <= 0xFFFFFFFFu, "bootstrap over {} items", n_items);
  G4U_CHECK(samples > 0, "bootstrap with 0 samples");
  Bootstrap r;
  r.samples = samples;
  r.seed = seed;
  NumpyGenerator rng(seed);
  r.scores.reserve(samples);
  for (size_t s = 0; s < samples; ++s) r.scores.push_back(statistic(rng.choice(static_cast<uint32_t>(n_items), n_items)));
  r.mean = mean(r.scores);
  r.stderr = samples > 1 ? sample_std(r.scores) : kNaN;
  r.ci95 = percentile_ci(r.scores);
  r.half_width = 0.5 * (r.ci95.hi - r.ci95.lo);
  return r;
}

PairedBootstrap paired_bootstrap(size_t n_items, size_t samples, uint64_t seed,
                                 const std::function<double(const std::vector<uint32_t>&)>& system,
                                 const std::function<double(const std::vector<uint32_t>&)>& baseline) {
  G4U_CHECK(n_items > 0 && n_items <= 0xFFFFFFFFu && samples > 0, "paired bootstrap: {} items, {} samples",
            n_items, samples);
  PairedBootstrap r;
  r.samples = samples;
  std::vector<uint32_t> all(n_items);
  for (size_t i = 0; i < n_items; ++i) all[i] = static_cast<uint32_t>(i);
  r.diff = system(all) - baseline(all);
  NumpyGenerator rng(seed);
  std::vector<double> diffs, absd;
  for (size_t s = 0; s < samples; ++s) {
    std::vector<uint32_t> idx = rng.choice(static_cast<uint32_t>(n_items), n_items);
    double d = system(idx) - baseline(idx);
    diffs.push_back(d);
    absd.push_back(std::fabs(d));
  }
  double m = mean(absd);
  size_t c = 0;
  for (double v : absd)
    if (v - m > std::fabs(r.diff)) ++c;
  r.p_value = static_cast<double>(c + 1) / static_cast<double>(samples + 1);
  r.ci95 = percentile_ci(diffs);
  r.stderr = samples > 1 ? sample_std(diffs) : kNaN;
  return r;
}

double parse_failure_rate(size_t failures, size_t n) {
  return n == 0 ? kNaN : static_cast<double>(failures) / static_cast<double>(n);
}

}  // namespace g4u::eval
