#include "model/io/sysinfo.h"

#include <torch/torch.h>

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace g4u {
namespace {
int64_t status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}
}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(line.find_first_not_of(' ', p + 1));
    }
  return "unknown";
}

void keep_freed_buffers_for_reuse() {
  // The top of glibc's own dynamic range (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit), and twice it for
  // trimming, as glibc's dynamic adjustment would set them after freeing a 32 MiB block.
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

int64_t peak_rss_bytes() { return status_kb("VmHWM") * 1024; }
int64_t current_rss_bytes() { return status_kb("VmRSS") * 1024; }

bool reset_peak_rss() {
  ::malloc_trim(0);
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

ResidentBreakdown resident_breakdown() {
  ResidentBreakdown r;
  std::ifstream in("/proc/self/smaps");
  std::set<std::string> libraries;
  std::string line, path;
  // A mapping's header line is "start-end perms offset dev inode [path]"; its fields follow as
  // "Key: value kB" lines.
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    const auto space = line.find(' ');
    if (space != std::string::npos && (colon == std::string::npos || colon > space)) {
      std::istringstream header(line);
      std::string range, perms, offset, dev, inode;
      header >> range >> perms >> offset >> dev >> inode;
      path.clear();
      std::getline(header >> std::ws, path);
      continue;
    }
    if (line.rfind("Rss:", 0) != 0) continue;
    const int64_t bytes = std::stoll(line.substr(4)) * 1024;
    const std::string name = path.substr(path.find_last_of('/') + 1);
    if (path.empty() || path[0] == '[') {
      r.anonymous_bytes += bytes;
    } else if (name.find(".so") != std::string::npos) {
      r.shared_library_bytes += bytes;
      if (name.rfind("libtorch", 0) == 0 || name.rfind("libc10", 0) == 0) r.libtorch_bytes += bytes;
      libraries.insert(path);
    } else {
      r.other_file_bytes += bytes;
    }
  }
  r.shared_libraries = static_cast<int64_t>(libraries.size());
  return r;
}

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

double measure_read_bandwidth(int threads, int64_t bytes, int reps) {
  threads = std::max(1, threads);
  const int64_t n = bytes / 8;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  // Touch every page in parallel first so the timing sees memory, not page faults.
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i) buf[i] = static_cast<uint64_t>(i);
      });
    for (auto& th : ts) th.join();
  }
  double best = 0;
  std::vector<uint64_t> sums(threads);
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        const uint64_t* p = buf.get();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t lo = n * t / threads, hi = n * (t + 1) / threads, i = lo;
        for (; i + 4 <= hi; i += 4) {
          s0 += p[i];
          s1 += p[i + 1];
          s2 += p[i + 2];
          s3 += p[i + 3];
        }
        for (; i < hi; ++i) s0 += p[i];
        sums[t] = s0 + s1 + s2 + s3;
      });
    for (auto& th : ts) th.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * 8) / s);
  }
  volatile uint64_t sink = 0;
  for (auto v : sums) sink = sink + v;
  return best;
}

void set_compute_threads(int threads) {
  if (threads <= 0) return;
  torch::set_num_threads(threads);
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(threads);
}

}  // namespace g4u
