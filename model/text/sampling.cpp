#include "model/text/sampling.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace g4u::model {

int64_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;  // first maximum wins, as torch.argmax
  return best;
}

Sampler::Sampler(SamplingParams params, std::vector<int64_t> suppressed)
    : params_(params), suppressed_(std::move(suppressed)), rng_(params.seed) {
  G4U_CHECK(params.top_p > 0 && params.top_p <= 1, "top_p {}", params.top_p);
  G4U_CHECK(params.top_k >= 0, "top_k {}", params.top_k);
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

std::vector<float> Sampler::distribution(const float* logits, int64_t vocab) const {
  std::vector<double> x(logits, logits + vocab);
  const double ninf = -std::numeric_limits<double>::infinity();
  for (int64_t id : suppressed_)
    if (id >= 0 && id < vocab) x[id] = ninf;
  std::vector<float> p(vocab, 0.0f);
  if (params_.temperature <= 0) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (x[i] > x[best]) best = i;
    p[best] = 1.0f;
    return p;
  }
  for (auto& v : x) v /= params_.temperature;
  if (params_.top_k > 0 && params_.top_k < vocab) {
    // Keep logits >= the k-th largest (ties at the threshold are kept, as HF does).
    std::vector<double> sorted = x;
    std::nth_element(sorted.begin(), sorted.begin() + (params_.top_k - 1), sorted.end(), std::greater<double>());
    double kth = sorted[params_.top_k - 1];
    for (auto& v : x)
      if (v < kth) v = ninf;
  }
  double mx = *std::max_element(x.begin(), x.end());
  std::vector<double> e(vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += (e[i] = x[i] == ninf ? 0.0 : std::exp(x[i] - mx));
  for (auto& v : e) v /= sum;
  if (params_.top_p < 1.0) {
    // HF: sort ascending, drop tokens whose cumulative mass is <= 1 - top_p; keep at least one.
    std::vector<int64_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return e[a] < e[b]; });
    double cum = 0;
    for (int64_t r = 0; r < vocab - 1; ++r) {
      cum += e[order[r]];
      if (cum <= 1.0 - params_.top_p) e[order[r]] = 0;
    }
    double s = std::accumulate(e.begin(), e.end(), 0.0);
    for (auto& v : e) v /= s;
  }
  for (int64_t i = 0; i < vocab; ++i) p[i] = static_cast<float>(e[i]);
  return p;
}

int64_t Sampler::draw(const std::vector<float>& probs) {
  double u = uniform(), cum = 0;
  int64_t last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    cum += probs[i];
    last = static_cast<int64_t>(i);
    if (u < cum) return last;
  }
  G4U_CHECK(last >= 0, "empty distribution");
  return last;  // rounding left u just above the total
}

int64_t Sampler::sample(const float* logits, int64_t vocab) {
  if (greedy()) {
    std::vector<float> masked(logits, logits + vocab);
    for (int64_t id : suppressed_)
      if (id >= 0 && id < vocab) masked[id] = -std::numeric_limits<float>::infinity();
    return argmax(masked.data(), vocab);
  }
  return draw(distribution(logits, vocab));
}

}  // namespace g4u::model
