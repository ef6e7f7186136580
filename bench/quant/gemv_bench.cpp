// GEMV (decode, batch 1) with packed quantized weights vs LibTorch dense fp32 / bf16, on the
// Gemma-4-12B-like shapes 3840x15360, 15360x3840 and 4096x14336, plus the machine's streaming read
// bandwidth measured in the same binary.
//
// Each GEMV iteration uses the next of several copies of the weight (>= 256 MB in total), so every
// product streams its weights from DRAM as in a real decode step, not from the last-level cache.
// Counters: bytes_per_second = weight bytes read per second (all parts: codes + scales + zeros);
// frac_read_bw = that rate over the streaming-read bandwidth measured (same thread count) right
// before the benchmark; frac_paired_read = time to stream another copy of the same weight bytes
// (same threads) right before each product over the product's time (robust to the host's
// drifting bandwidth: the two halves of a pair see the same load); label = kernel path ("avx512",
// "avx2", "scalar" or "reference" = reference-only, dequantize + fp32 dot). Weights are in the
// order QuantLinear keeps them (q4_0 / q4_k interleaved, quant/formats/interleave.h); QuantGemvStorageOrder
// runs q4_0 / q4_k on ggml's order for comparison, and on CPUs with AVX-512 QuantGemvAvx2 runs the
// schemes that have AVX-512 kernels (q4_0, q4_k, rtn4_*, hqq) through the AVX2 kernels. Bf16Gemv is the tied
// head kept in bf16 (quant/layer/tied_head.h) on vocab x hidden tables, beside TorchGemv/fp32 on them.
// Run e.g.: g4u_quant_bench --benchmark_min_time=0.5
#include "quant/formats/interleave.h"
#include "quant/kernels/kernels.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme.h"
#include "quant/kernels/parallel.h"
#include "bench_inputs.h"

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace g4u::quant;

// Threads for the kernels, LibTorch and the bandwidth reference: 2, or $G4U_BENCH_THREADS.
const int kThreads = quant_bench::bench_threads();

struct Shape {
  int64_t rows, cols;
  std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};
const Shape kShapes[] = {{3840, 15360}, {15360, 3840}, {4096, 14336}};

// One scheme per packed kernel family plus group-size variants and the reference-only formats.
const char* kSchemes[] = {"q4_0",          "q4_k",           "q4_1",         "q8_0", "q6_k", "rtn4_sym_g32",
                          "rtn4_sym_g128", "rtn4_asym_g128", "rtn4_asym_pc", "hqq",  "iq4_nl", "nf4"};

using quant_bench::random_vector;

// Streaming read of a buffer much larger than the caches, split over `threads` threads.
struct ReadBuffer {
  std::vector<uint64_t> data;
  ReadBuffer() : data((size_t{1} << 28) / 8) {  // 256 MiB
    for (size_t i = 0; i < data.size(); ++i) data[i] = i * 0x9E3779B97F4A7C15ull;
  }
  uint64_t read_all(int threads) const { return stream_read(data.data(), data.size(), threads); }

  // Sums n words, each thread one contiguous part.
  static uint64_t stream_read(const uint64_t* p, size_t n, int threads) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads), 0);
    parallel_for(threads, threads, [&](int64_t t) {
      const int64_t b = static_cast<int64_t>(n) * t / threads, e = static_cast<int64_t>(n) * (t + 1) / threads;
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t i = b; i + 3 < e; i += 4) {
        s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
      }
      sums[static_cast<size_t>(t)] = s0 + s1 + s2 + s3;
    });
    uint64_t s = 0;
    for (auto v : sums) s += v;
    return s;
  }
};

// Streams every array of q (the bytes a product with q must read; tails of < 8 bytes skipped).
uint64_t read_weight_bytes(const QuantizedTensor& q, int threads) {
  uint64_t s = 0;
  for (const auto* part : {&q.data, &q.scales, &q.zeros})
    s += ReadBuffer::stream_read(reinterpret_cast<const uint64_t*>(part->data()), part->size() / 8, threads);
  return s;
}

ReadBuffer& read_buffer() {
  static ReadBuffer b;
  return b;
}

// Best of 5 full passes, bytes per second; measured anew for every benchmark that reports the
// fraction, so that it sees the same machine load as the product it is compared with.
double read_bandwidth(int threads) {
  ReadBuffer& b = read_buffer();
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(b.read_all(threads));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(b.data.size() * 8) / s);
  }
  return best;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ReadBuffer& b = read_buffer();
  for (auto _ : state) benchmark::DoNotOptimize(b.read_all(threads));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(b.data.size() * 8));
}

constexpr double kRotateBytes = 256e6;  // total size of the rotated weight copies

// Copies of the quantized weight of the current benchmark (only the last set is kept; the
// benchmarks run in registration order).
// order: true = as QuantLinear keeps them (interleaved where the scheme has that order).
const std::vector<QuantizedTensor>& weights(const std::string& scheme, const Shape& shape, bool kernel_order = true) {
  static std::string key;
  static std::vector<QuantizedTensor> held;
  const std::string k = scheme + "/" + shape.name() + (kernel_order ? "" : "/storage");
  if (k != key) {
    held.clear();
    const auto w = random_vector(shape.rows * shape.cols, 1234, 0.02f);
    QuantizedTensor q = quantize(scheme, w.data(), shape.rows, shape.cols);
    held.push_back(kernel_order ? to_interleaved(std::move(q)) : std::move(q));
    const double bytes = static_cast<double>(held[0].bytes().total());
    while (static_cast<double>(held.size()) * bytes < kRotateBytes) held.push_back(held[0]);
    key = k;
  }
  return held;
}

void BM_QuantGemv(benchmark::State& state, std::string scheme, Shape shape, bool kernel_order,
                  KernelIsa isa) {
  const std::vector<QuantizedTensor>& qs = weights(scheme, shape, kernel_order);
  const auto x = random_vector(shape.cols, 99, 1.f);
  std::vector<float> y(static_cast<size_t>(shape.rows));
  KernelOptions opt;
  opt.threads = kThreads;
  opt.isa = isa;
  const double bytes = static_cast<double>(qs[0].bytes().total());
  const double bw = read_bandwidth(kThreads);
  // Each iteration also streams another copy of the same bytes right before the product (same
  // threads, not timed as the product): the host's bandwidth drifts, and the pair sees one state.
  size_t i = 0;
  double read_s = 0, gemv_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(read_weight_bytes(qs[(i + 1) % qs.size()], kThreads));
    const auto t1 = std::chrono::steady_clock::now();
    matvec(qs[i], x.data(), y.data(), opt);
    benchmark::DoNotOptimize(y.data());
    const auto t2 = std::chrono::steady_clock::now();
    const double g = std::chrono::duration<double>(t2 - t1).count();
    state.SetIterationTime(g);
    read_s += std::chrono::duration<double>(t1 - t0).count();
    gemv_s += g;
    i = (i + 2) % qs.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["frac_paired_read"] = gemv_s > 0 ? read_s / gemv_s : 0;
  state.counters["weight_MB"] = bytes / 1e6;
  state.counters["bits_per_weight"] = qs[0].bits_per_weight();
  state.counters["read_GBps"] = bw / 1e9;
  state.counters["frac_read_bw"] = benchmark::Counter(bytes / bw, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(kernel_path(qs[0], opt) + (qs[0].interleaved ? " interleaved" : ""));
}

// Compute ceiling of one core: a 128x4096 weight (~0.3 MB, stays in L2) on one thread
// ($G4U_CACHED_SHAPE=RxC for another shape; it includes the per-call activation quantization).
void BM_QuantGemvCached(benchmark::State& state, std::string scheme, KernelIsa isa) {
  Shape shape{128, 4096};
  if (const char* e = std::getenv("G4U_CACHED_SHAPE")) std::sscanf(e, "%" SCNd64 "x%" SCNd64, &shape.rows, &shape.cols);
  const auto w = random_vector(shape.rows * shape.cols, 4321, 0.02f);
  const QuantizedTensor q = to_interleaved(quantize(scheme, w.data(), shape.rows, shape.cols));
  const auto x = random_vector(shape.cols, 98, 1.f);
  std::vector<float> y(static_cast<size_t>(shape.rows));
  KernelOptions opt;
  opt.threads = 1;
  opt.isa = isa;
  for (auto _ : state) {
    matvec(q, x.data(), y.data(), opt);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * q.bytes().total()));
  state.SetLabel(kernel_path(q, opt) + ", 1 thread, L2-resident");
}

void BM_TorchGemv(benchmark::State& state, torch::ScalarType dtype, Shape shape) {
  torch::set_num_threads(kThreads);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> ws = {torch::randn({shape.rows, shape.cols}).mul_(0.02).to(dtype)};
  const double bytes = static_cast<double>(ws[0].numel() * ws[0].element_size());
  while (static_cast<double>(ws.size()) * bytes < kRotateBytes) ws.push_back(ws[0].clone());
  const auto x = torch::randn({shape.cols}).to(dtype);
  const double bw = read_bandwidth(kThreads);
  size_t i = 0;
  for (auto _ : state) {
    auto y = torch::matmul(ws[i], x);
    benchmark::DoNotOptimize(y.data_ptr());
    i = (i + 1) % ws.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["weight_MB"] = bytes / 1e6;
  state.counters["read_GBps"] = bw / 1e9;
  state.counters["frac_read_bw"] = benchmark::Counter(bytes / bw, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(dtype == torch::kFloat ? "torch fp32" : "torch bf16");
}

// The tied head kept in bf16 (quant/layer/tied_head.h): bf16_matvec on vocab x hidden tables, fp32
// activations; frac_paired_read as in BM_QuantGemv.
void BM_Bf16Gemv(benchmark::State& state, Shape shape) {
  std::vector<std::vector<uint16_t>> ws(1);
  {
    const auto w = random_vector(shape.rows * shape.cols, 4242, 0.02f);
    ws[0].resize(w.size());
    for (size_t k = 0; k < w.size(); ++k) {
      uint32_t u;
      std::memcpy(&u, &w[k], 4);
      ws[0][k] = static_cast<uint16_t>(u >> 16);  // truncation: any bf16 values will do here
    }
  }
  const double bytes = static_cast<double>(ws[0].size() * 2);
  while (static_cast<double>(ws.size()) * bytes < kRotateBytes) ws.push_back(ws[0]);
  const auto x = random_vector(shape.cols, 96, 1.f);
  std::vector<float> y(static_cast<size_t>(shape.rows));
  KernelOptions opt;
  opt.threads = kThreads;
  size_t i = 0;
  double read_s = 0, gemv_s = 0;
  for (auto _ : state) {
    // The paired read streams the 256 MiB read buffer, scaled to the table's bytes (the 12B table
    // is a single 2 GB copy).
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(read_buffer().read_all(kThreads));
    const auto t1 = std::chrono::steady_clock::now();
    bf16_matvec(ws[i].data(), shape.rows, shape.cols, x.data(), y.data(), opt);
    benchmark::DoNotOptimize(y.data());
    const auto t2 = std::chrono::steady_clock::now();
    const double g = std::chrono::duration<double>(t2 - t1).count();
    state.SetIterationTime(g);
    read_s += std::chrono::duration<double>(t1 - t0).count() * bytes / static_cast<double>(read_buffer().data.size() * 8);
    gemv_s += g;
    i = (i + 1) % ws.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["frac_paired_read"] = gemv_s > 0 ? read_s / gemv_s : 0;
  state.counters["weight_MB"] = bytes / 1e6;
  state.SetLabel("bf16-" + bf16_kernel_path(opt));
}

// Prefill GEMM Y = X W^T with n = 64 activation rows.
void BM_QuantGemm(benchmark::State& state, std::string scheme, Shape shape) {
  const QuantizedTensor& q = weights(scheme, shape)[0];
  const int64_t n = state.range(0);
  const auto x = random_vector(n * shape.cols, 97, 1.f);
  std::vector<float> y(static_cast<size_t>(n * shape.rows));
  KernelOptions opt;
  opt.threads = kThreads;
  for (auto _ : state) {
    matmul(q, x.data(), n, y.data(), opt);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * shape.rows * shape.cols / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(kernel_path(q, opt));
}

void BM_TorchGemm(benchmark::State& state, Shape shape) {
  torch::set_num_threads(kThreads);
  torch::NoGradGuard no_grad;
  const int64_t n = state.range(0);
  const auto w = torch::randn({shape.rows, shape.cols}).mul_(0.02);
  const auto x = torch::randn({n, shape.cols});
  for (auto _ : state) {
    auto y = torch::matmul(x, w.t());
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * shape.rows * shape.cols / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("torch fp32");
}

// Encoder throughput on a 1024 x 4096 weight (weights per second), threads as above.
void BM_Encode(benchmark::State& state, std::string scheme) {
  const int64_t rows = 1024, cols = 4096;
  const auto w = random_vector(rows * cols, 555, 0.02f);
  for (auto _ : state) {
    QuantizedTensor q = quantize(scheme, w.data(), rows, cols, nullptr, "bench", kThreads);
    benchmark::DoNotOptimize(q.data.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * rows * cols);
}

const int kRegistered = [] {
  benchmark::RegisterBenchmark("ReadBandwidth", BM_ReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const Shape& sh : kShapes) {
    for (auto [dtype, name] : {std::pair{torch::kFloat, "fp32"}, std::pair{torch::kBFloat16, "bf16"}})
      benchmark::RegisterBenchmark(("TorchGemv/" + std::string(name) + "/" + sh.name()).c_str(), BM_TorchGemv, dtype, sh)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
  // Tied-head tables (vocab x hidden): the medium preset's and Gemma 4 12B's.
  for (const Shape& sh : {Shape{32768, 2048}, Shape{262144, 3840}}) {
    benchmark::RegisterBenchmark(("TorchGemv/fp32/" + sh.name()).c_str(), BM_TorchGemv, torch::kFloat, sh)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("Bf16Gemv/" + sh.name()).c_str(), BM_Bf16Gemv, sh)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  const auto has_avx512_kernel = [](const std::string& scheme) {
    return cpu_has_avx512() && (scheme == "q4_0" || scheme == "q4_k" || scheme.rfind("rtn4_", 0) == 0 || scheme == "hqq");
  };
  for (const char* scheme : kSchemes) {
    benchmark::RegisterBenchmark(("QuantGemvCached/" + std::string(scheme)).c_str(), BM_QuantGemvCached,
                                 std::string(scheme), KernelIsa::kAuto)
        ->Unit(benchmark::kMicrosecond);
    if (has_avx512_kernel(scheme))
      benchmark::RegisterBenchmark(("QuantGemvCachedAvx2/" + std::string(scheme)).c_str(), BM_QuantGemvCached,
                                   std::string(scheme), KernelIsa::kAvx2)
          ->Unit(benchmark::kMicrosecond);
  }
  for (const char* scheme : kSchemes)
    for (const Shape& sh : kShapes) {
      benchmark::RegisterBenchmark(("QuantGemv/" + std::string(scheme) + "/" + sh.name()).c_str(), BM_QuantGemv,
                                   std::string(scheme), sh, true, KernelIsa::kAuto)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      // Where AVX-512 kernels run by default, the same weights through the AVX2 kernels.
      if (has_avx512_kernel(scheme))
        benchmark::RegisterBenchmark(("QuantGemvAvx2/" + std::string(scheme) + "/" + sh.name()).c_str(),
                                     BM_QuantGemv, std::string(scheme), sh, true, KernelIsa::kAvx2)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
  for (const char* scheme : {"q4_0", "q4_k"})
    for (const Shape& sh : kShapes)
      benchmark::RegisterBenchmark(("QuantGemvStorageOrder/" + std::string(scheme) + "/" + sh.name()).c_str(),
                                   BM_QuantGemv, std::string(scheme), sh, false, KernelIsa::kAuto)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  for (const char* scheme : kSchemes)
    benchmark::RegisterBenchmark(("Encode/" + std::string(scheme)).c_str(), BM_Encode, std::string(scheme))
        ->Iterations(2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  const Shape gemm_shape = kShapes[2];
  benchmark::RegisterBenchmark(("TorchGemm/fp32/" + gemm_shape.name()).c_str(), BM_TorchGemm, gemm_shape)
      ->Arg(64)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  for (const char* scheme : {"q4_0", "q4_k", "rtn4_asym_g128"})
    benchmark::RegisterBenchmark(("QuantGemm/" + std::string(scheme) + "/" + gemm_shape.name()).c_str(), BM_QuantGemm,
                                 std::string(scheme), gemm_shape)
        ->Arg(64)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
