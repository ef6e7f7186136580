#include "experiments/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace g4u::experiments {

std::string format_duration(double seconds) {
  int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Progress::Progress(int64_t total, int64_t start, bool enabled)
    : total_(total), start_(start), enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0) {
  t0_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t step, double loss, double lr) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - t0_).count();
  const double rate = elapsed > 0 ? (step - start_) / elapsed : 0;  // steps per second
  const double eta = rate > 0 ? (total_ - step) / rate : 0;
  if (tty_) {
    if (step < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int width = 30;
    const int filled = static_cast<int>(width * step / std::max<int64_t>(1, total_));
    last_line_ = fmt::format("[{}{}] {}/{} loss {:.4f} lr {:.2e} {:.2f} step/s ETA {}", std::string(filled, '='),
                             std::string(width - filled, ' '), step, total_, loss, lr, rate, format_duration(eta));
    fmt::print(stderr, "\r{}\x1b[K", last_line_);
    std::fflush(stderr);
    return;
  }
  // Not a TTY: about 20 lines per run.
  const int64_t every = std::max<int64_t>(1, total_ / 20);
  if (step == total_ || step / every != last_logged_) {
    last_logged_ = step / every;
    fmt::print(stderr, "step {}/{} loss {:.4f} lr {:.2e} {:.2f} step/s elapsed {} ETA {}\n", step, total_, loss, lr, rate,
               format_duration(elapsed), format_duration(eta));
  }
}

void Progress::note(const std::string& line) {
  if (!enabled_) return;
  if (tty_) fmt::print(stderr, "\r\x1b[K{}\n{}", line, last_line_);
  else fmt::print(stderr, "{}\n", line);
}

void Progress::finish() {
  if (enabled_ && tty_) fmt::print(stderr, "\n");
}

}  // namespace g4u::experiments
