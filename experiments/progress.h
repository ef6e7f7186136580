// Training progress on stderr: a one-line bar with rate and ETA redrawn in place on a TTY, a plain
// log line every few percent otherwise (logs of batch jobs stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace g4u::experiments {

class Progress {
 public:
  Progress(int64_t total, int64_t start, bool enabled);
  void update(int64_t step, double loss, double lr);
  void note(const std::string& line);  // a message on its own line (the bar is redrawn after)
  void finish();

 private:
  int64_t total_, start_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  int64_t last_logged_ = -1;
  std::string last_line_;
};

// "1:05" / "1:02:03".
std::string format_duration(double seconds);

}  // namespace g4u::experiments
