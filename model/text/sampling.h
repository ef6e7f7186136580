// Next-token sampling: greedy, temperature, top-k, top-p, with a seeded generator of our own so
// results are identical across LibTorch versions. Order of the filters follows HF generate:
// suppressed tokens -> temperature -> top-k -> top-p.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace g4u::model {

struct SamplingParams {
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  Sampler(SamplingParams params, std::vector<int64_t> suppressed = {});

  bool greedy() const { return params_.temperature <= 0; }
  // Picks the next token from raw logits of one row.
  int64_t sample(const float* logits, int64_t vocab);
  // The distribution sampling draws from (after suppression, temperature, top-k, top-p),
  // normalised; for greedy a one-hot on the argmax. Speculative sampling uses it as p and q.
  std::vector<float> distribution(const float* logits, int64_t vocab) const;
  // Draws an index from a normalised distribution with this sampler's generator.
  int64_t draw(const std::vector<float>& probs);
  double uniform();  // [0, 1)

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::vector<int64_t> suppressed_;
  std::mt19937_64 rng_;
};

int64_t argmax(const float* logits, int64_t n);

}  // namespace g4u::model
