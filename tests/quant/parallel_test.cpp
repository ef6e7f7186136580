#include "quant/kernels/parallel.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

using namespace g4u::quant;

TEST_CASE("parallel_for runs every task once and rethrows the first error", "[unit][parallel]") {
  for (int threads : {1, 2, 3, 8}) {
    std::vector<std::atomic<int>> hits(1000);
    parallel_for(1000, threads, [&](int64_t t) { hits[static_cast<size_t>(t)]++; });
    for (auto& h : hits) CHECK(h.load() == 1);
  }
  CHECK_THROWS_AS(parallel_for(100, 3, [](int64_t t) {
                    if (t == 42) throw std::runtime_error("task 42");
                  }),
                  std::runtime_error);
  // The pool still works after an error, and nested calls run inline.
  std::atomic<int> sum{0};
  parallel_for(4, 2, [&](int64_t) { parallel_for(10, 2, [&](int64_t k) { sum += static_cast<int>(k); }); });
  CHECK(sum.load() == 4 * 45);
  std::atomic<int64_t> covered{0};
  parallel_ranges(1001, 3, [&](int64_t b, int64_t e) { covered += e - b; });
  CHECK(covered.load() == 1001);
}
