#include "quant/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace g4u::quant {
namespace {

thread_local bool t_in_job = false;

// One parallel_for call. Helpers hold it through a shared_ptr, so a helper that wakes up late
// (after the caller already finished every task and returned) finds no task left and touches
// nothing of the caller's: the caller waits for its tasks to complete, never for a helper thread
// to be scheduled.
struct Job {
  const std::function<void(int64_t)>* fn = nullptr;
  int64_t ntasks = 0;
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::mutex m;
  std::condition_variable cv;
  std::exception_ptr error;
};

void run_tasks(Job& job) {
  const bool outer = !t_in_job;
  t_in_job = true;
  for (;;) {
    const int64_t t = job.next.fetch_add(1);
    if (t >= job.ntasks) break;
    if (!job.failed.load()) {
      try {
        (*job.fn)(t);
      } catch (...) {
        std::lock_guard<std::mutex> lk(job.m);
        if (!job.error) job.error = std::current_exception();
        job.failed.store(true);
      }
    }
    if (job.done.fetch_add(1) + 1 == job.ntasks) {
      std::lock_guard<std::mutex> lk(job.m);
      job.cv.notify_all();
    }
  }
  if (outer) t_in_job = false;
}

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void run(int64_t ntasks, int threads, const std::function<void(int64_t)>& fn) {
    std::lock_guard<std::mutex> job_lock(job_m_);  // one job at a time
    ensure_workers(threads - 1);
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->ntasks = ntasks;
    {
      std::lock_guard<std::mutex> lk(m_);
      current_ = job;
      helpers_ = threads - 1;
      ++generation_;
    }
    cv_.notify_all();
    run_tasks(*job);
    {
      std::unique_lock<std::mutex> lk(job->m);
      job->cv.wait(lk, [&] { return job->done.load() == job->ntasks; });
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      current_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void ensure_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { loop(index); });
    }
  }

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index >= helpers_) continue;  // not needed for this job
        job = current_;
      }
      if (job) run_tasks(*job);
    }
  }

  std::mutex job_m_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::shared_ptr<Job> current_;
  int helpers_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void parallel_for(int64_t ntasks, int threads, const std::function<void(int64_t)>& fn) {
  if (ntasks <= 0) return;
  if (threads <= 0) threads = default_threads();
  threads = static_cast<int>(std::min<int64_t>(threads, ntasks));
  if (threads <= 1 || t_in_job) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  pool().run(ntasks, threads, fn);
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
