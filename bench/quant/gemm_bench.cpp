// Prefill GEMM Y = X W^T on the `medium` preset's projection shapes (rows x cols: 2048x2048 = q/o
// of the sliding layers, 8192x2048 = gate/up, 2048x8192 = down), weights in QuantLinear's order
// (q4_0 / q4_k interleaved), n activation rows (the benchmark argument). PrefillGemm runs what
// matmul picks (the register-blocked GEMM for q4_0 / q4_k / q6_k: AVX-512, or AVX2 on CPUs without
// it or under G4U_KERNEL_ISA=avx2), PrefillRowDots
// the same product through the row dots (KernelOptions::gemm_tiles = false). Counter: GMAC/s =
// n * rows * cols multiply-adds per second. Threads: 2, or $G4U_BENCH_THREADS.
// Run e.g.: g4u_quant_bench --benchmark_filter='Prefill' --benchmark_min_time=1
#include "quant/formats/interleave.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/kernels/kernels.h"
#include "bench_inputs.h"

#include <benchmark/benchmark.h>
#include <torch/torch.h>  // first in the unity source: before any g4u::quant name is visible

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

// A named namespace: the unity build puts this file and gemv_bench.cpp in one source.
namespace gemm_bench {
namespace {

using g4u::quant::KernelOptions;
using g4u::quant::QuantizedTensor;

using quant_bench::random_vector;
const int kThreads = quant_bench::bench_threads();

const QuantizedTensor& weight(const std::string& scheme, int64_t rows, int64_t cols) {
  static std::map<std::tuple<std::string, int64_t, int64_t>, QuantizedTensor> cache;
  auto key = std::make_tuple(scheme, rows, cols);
  auto it = cache.find(key);
  if (it == cache.end()) {
    const auto w = random_vector(rows * cols, 11, 0.02f);
    it = cache.emplace(key, g4u::quant::to_interleaved(g4u::quant::quantize(scheme, w.data(), rows, cols, nullptr, "bench", kThreads)))
             .first;
  }
  return it->second;
}

void BM_Prefill(benchmark::State& state, std::string scheme, int64_t rows, int64_t cols, bool tiles) {
  const QuantizedTensor& q = weight(scheme, rows, cols);
  const int64_t n = state.range(0);
  const auto x = random_vector(n * cols, 97, 1.f);
  std::vector<float> y(static_cast<size_t>(n * rows));
  KernelOptions opt;
  opt.threads = kThreads;
  opt.gemm_tiles = tiles;
  for (auto _ : state) {
    g4u::quant::matmul(q, x.data(), n, y.data(), opt);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GMAC/s"] =
      benchmark::Counter(static_cast<double>(n) * rows * cols / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(g4u::quant::uses_gemm_tiles(q, n, opt) ? "gemm-tiles" : g4u::quant::kernel_path(q, opt) + "-rowdots");
}

const int kRegistered = [] {
  const int64_t shapes[][2] = {{2048, 2048}, {8192, 2048}, {2048, 8192}};
  for (const char* scheme : {"q4_0", "q4_k", "q6_k"})
    for (const auto& sh : shapes)
      for (bool tiles : {true, false}) {
        const std::string name = std::string(tiles ? "PrefillGemm/" : "PrefillRowDots/") + scheme + "/" +
                                 std::to_string(sh[0]) + "x" + std::to_string(sh[1]);
        benchmark::RegisterBenchmark(name.c_str(), BM_Prefill, std::string(scheme), sh[0], sh[1], tiles)
            ->Arg(8)
            ->Arg(32)
            ->Arg(128)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
  return 0;
}();

}  // namespace
}  // namespace gemm_bench
