// Shared helpers for the quant tests.
#pragma once

#include "test_util.h"

#include "base/error.h"
#include "model/io/config.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace g4u::test {

inline std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// A [rows, cols] fp32 weight of N(0, 0.05^2) values.
inline torch::Tensor random_weight(int64_t rows, int64_t cols, uint32_t seed) {
  auto v = gaussian(rows * cols, seed, 0.05f);
  return torch::from_blob(v.data(), {rows, cols}, torch::kFloat32).clone();
}

// tiny's text decoder (no vision/audio) with 256-wide rows, so that q4_k_m uses Q4_K and Q6_K
// rather than only their fallbacks.
inline model::ModelConfig tiny_text_256() {
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.vision.reset();
  cfg.audio.reset();
  cfg.text.hidden_size = 256;
  cfg.text.intermediate_size = 512;
  return cfg;
}

}  // namespace g4u::test
