// What the quant benchmarks share: their thread count and their seeded Gaussian inputs.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

namespace quant_bench {

// Threads for the kernels and LibTorch: 2, or $G4U_BENCH_THREADS.
inline int bench_threads() {
  static const int threads = [] {
    const char* env = std::getenv("G4U_BENCH_THREADS");
    return env && std::atoi(env) > 0 ? std::atoi(env) : 2;
  }();
  return threads;
}

// n values drawn from N(0, sigma^2) with a fixed seed (weights: sigma 0.02, activations: 1).
inline std::vector<float> random_vector(int64_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace quant_bench
