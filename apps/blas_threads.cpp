#include "apps/blas_threads.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

namespace g4u::app {
namespace {

constexpr char kTimeoutVariable[] = "OPENBLAS_THREAD_TIMEOUT";
constexpr char kTimeout[] = "4";  // log2 of the cycles a worker polls: OpenBLAS clamps it to 4..30

// Whether this process runs OpenBLAS's pthreads build: openblas_get_parallel() says 0 (sequential),
// 1 (pthreads) or 2 (OpenMP, whose threads are libgomp's). Absent: another BLAS (MKL, or none).
bool openblas_runs_pthreads() {
  using GetParallel = int (*)();
  auto get_parallel = reinterpret_cast<GetParallel>(::dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  return get_parallel != nullptr && get_parallel() == 1;
}

}  // namespace

void settle_blas_threads(char** argv) {
  if (std::getenv(kTimeoutVariable) != nullptr || !openblas_runs_pthreads()) return;
  // The binary's own path rather than /proc/self/exe, whose name the process would take (ps, top).
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return;
  self[n] = '\0';
  if (::setenv(kTimeoutVariable, kTimeout, 1) != 0) return;
  ::execv(self, argv);  // returns only on failure (e.g. the binary was replaced: "... (deleted)")
  ::unsetenv(kTimeoutVariable);
}

}  // namespace g4u::app
