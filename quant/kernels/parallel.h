// Parallel loops for the quantization encoders and the packed kernels: OpenMP worksharing loops
// (`omp parallel for`, dynamic or static schedule) on the team LibTorch's CPU operators use, so
// the two never compete for the cores. The calling thread works too. Calls from inside a task (or
// any OpenMP parallel region) run serially.
#pragma once

#include <cstdint>
#include <functional>

namespace g4u::quant {

// std::thread::hardware_concurrency(), at least 1.
int default_threads();

// Runs fn(task) for every task in [0, ntasks) on up to `threads` threads (<= 0: default_threads())
// and returns when all are done. Tasks are handed out dynamically (schedule(dynamic, 1)). The
// first exception thrown by a task is rethrown here; tasks not yet started are skipped.
void parallel_for(int64_t ntasks, int threads, const std::function<void(int64_t)>& fn);

// Splits [0, n) into min(threads, n) contiguous, nearly equal ranges and runs fn(begin, end) for
// each in parallel (static partition: each thread streams through one contiguous range).
void parallel_ranges(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace g4u::quant
