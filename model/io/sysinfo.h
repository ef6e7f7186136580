// Facts about the machine and process, for benchmarks and result environment blocks.
#pragma once

#include <cstdint>
#include <string>

namespace g4u {

std::string cpu_model_name();        // /proc/cpuinfo "model name"
double now_seconds();                // steady clock, for durations
int64_t peak_rss_bytes();            // VmHWM of this process
int64_t current_rss_bytes();         // VmRSS
// Returns freed heap memory to the system (malloc_trim) and resets VmHWM to the current RSS
// (/proc/self/clear_refs, Linux >= 4.0), so that peak_rss_bytes() from then on measures one phase
// of a process that runs several (g4u run's steps). false: the kernel refused the reset.
bool reset_peak_rss();
// What this process has resident now, by kind of mapping (/proc/self/smaps "Rss"): anonymous memory
// (heap, stacks, anonymous mappings), shared libraries (files named *.so*; LibTorch's own
// libtorch*/libc10* counted apart as well) and other mapped files (the checkpoint, the executable).
struct ResidentBreakdown {
  int64_t anonymous_bytes = 0;
  int64_t shared_library_bytes = 0;  // all shared libraries, LibTorch's included
  int64_t libtorch_bytes = 0;        // libtorch*.so*, libc10*.so*
  int64_t shared_libraries = 0;      // distinct library files mapped
  int64_t other_file_bytes = 0;
};
ResidentBreakdown resident_breakdown();  // all zero where /proc/self/smaps cannot be read
std::string libtorch_version();      // e.g. "1.13.1"
// Sets LibTorch's intra-op threads and, when LibTorch runs on OpenBLAS, OpenBLAS's own pool to the
// same count (OpenBLAS otherwise keeps one thread per core, and its products are then not
// bit-reproducible from one process to the next).
void set_compute_threads(int threads);

// Keeps freed activation-sized buffers in the heap for reuse (glibc mallopt: M_MMAP_THRESHOLD 32 MiB,
// M_TRIM_THRESHOLD 64 MiB). glibc otherwise maps every block over 128 KiB afresh and unmaps it on
// free, until some large block is freed (its dynamic threshold); a model whose packed weights are
// views of the file frees none while loading, and its prefill then took a page fault per 4 KiB of
// every temporary in every forward: 2.4x slower on `medium` here. Blocks over 32 MiB (weights)
// are still mapped on their own. The command line calls it once at start.
void keep_freed_buffers_for_reuse();

// Sustained read bandwidth in bytes/s: `threads` threads sum a buffer of `bytes` (well above any
// cache) `reps` times; the best repetition counts, as memory benchmarks usually report.
double measure_read_bandwidth(int threads, int64_t bytes = int64_t(1) << 30, int reps = 5);

}  // namespace g4u
