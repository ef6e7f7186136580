#include "quant/kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <omp.h>

namespace g4u::quant {

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// The threads are OpenMP's, the same team LibTorch's CPU operators use. A pool of our own ran
// beside LibTorch's OpenMP threads, which spin for a while after every operator: in a decode step
// the two sets of threads fought for the cores (measured: q4_0 decode of `medium` 28 tok/s with
// our pool vs 34-42 tok/s once LibTorch's threads were told not to spin).
void parallel_for(int64_t ntasks, int threads, const std::function<void(int64_t)>& fn) {
  if (ntasks <= 0) return;
  if (threads <= 0) threads = default_threads();
  threads = static_cast<int>(std::min<int64_t>(threads, ntasks));
  if (threads <= 1 || omp_in_parallel()) {  // nested calls run inline
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t t = 0; t < ntasks; ++t) {
    if (failed.load()) continue;  // after a failure the remaining tasks are skipped
    try {
      fn(t);
    } catch (...) {  // exceptions must not leave an OpenMP region
      std::lock_guard<std::mutex> lk(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  }
  if (error) std::rethrow_exception(error);
}

void parallel_ranges(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (threads <= 0) threads = default_threads();
  const int64_t parts = std::min<int64_t>(threads, n);
  parallel_for(parts, static_cast<int>(parts), [&](int64_t p) {
    const int64_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace g4u::quant
