// The one threading setting g4u chooses for the BLAS library before any work runs.
//
// Debian's LibTorch calls OpenBLAS's pthreads build. After every multi-threaded BLAS call (attention's
// matrix products, dense layers) OpenBLAS's worker threads keep polling for the next job, calling
// sched_yield, for 2^28 cycles (about 0.1 s) before they sleep. Within a forward pass the next call
// always comes sooner, so the workers never sleep and take CPU time from the OpenMP team running
// g4u's own kernels (a profile of a two-thread decode finds the idle worker in sched_yield beside
// the two threads that compute). OPENBLAS_THREAD_TIMEOUT=4 makes a worker sleep after 2^4 cycles
// instead; the next multi-threaded call wakes it.
//
// OpenBLAS reads that variable once, when it is loaded, before main() runs. So when it is unset and
// the process's OpenBLAS is the pthreads build, g4u sets it once its flags have parsed and executes
// itself again: the same process id, arguments and environment plus that variable (its shared
// libraries then load twice). A value the environment sets is kept
// (OpenBLAS's own default is 28); `g4u bench --json` records the value a run had.
#pragma once

namespace g4u::app {

// Returns when nothing needs to change, or when executing again failed (the run then goes on with
// OpenBLAS's default, and the variable is unset again so that reports say so).
void settle_blas_threads(char** argv);

}  // namespace g4u::app
