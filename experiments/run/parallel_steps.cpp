#include "experiments/run/parallel_steps.h"

#include "base/error.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <queue>

extern char** environ;

namespace g4u::experiments {
namespace {

bool may_start(const std::vector<StepSlot>& slots, size_t i, size_t running, bool alone_running, int jobs) {
  const StepSlot& s = slots[i];
  for (size_t n : s.needs)
    if (slots[n].state != SlotState::done) return false;
  if (alone_running) return false;
  if (s.alone) return running == 0;
  return static_cast<int>(running) < jobs;
}

volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

// SIGINT/SIGTERM handlers for the lifetime of the object, without SA_RESTART so that waitpid
// returns to the loop when one arrives.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

pid_t spawn_child(const ChildStep& c) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, c.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(fmt::format("step '{}': cannot start {}: {}", c.name, c.argv[0], std::strerror(rc)));
  return pid;
}

}  // namespace

std::optional<size_t> next_to_start(const std::vector<StepSlot>& slots, int jobs) {
  size_t running = 0;
  bool alone_running = false;
  for (const auto& s : slots)
    if (s.state == SlotState::running) {
      ++running;
      alone_running = alone_running || s.alone;
    }
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].state == SlotState::pending && may_start(slots, i, running, alone_running, jobs)) return i;
  return std::nullopt;
}

double scheduled_seconds(std::vector<StepSlot> slots, int jobs) {
  // Event simulation: (finish time, slot) of the running steps, earliest first.
  using Event = std::pair<double, size_t>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> running;
  double now = 0;
  while (true) {
    while (auto i = next_to_start(slots, jobs)) {
      slots[*i].state = SlotState::running;
      running.push({now + slots[*i].seconds, *i});
    }
    if (running.empty()) return now;
    auto [t, i] = running.top();
    running.pop();
    now = t;
    slots[i].state = SlotState::done;
  }
}

bool run_children(std::vector<StepSlot>& slots, int jobs, const std::function<ChildStep(size_t)>& child,
                  const std::function<void(const ChildStep&)>& on_start,
                  const std::function<void(const ChildStep&, const ChildOutcome&)>& on_end) {
  StopSignals signals;
  std::map<pid_t, ChildStep> running;
  bool failed = false, passed_on = false;
  while (true) {
    while (!g_stop_signal && !failed) {
      auto i = next_to_start(slots, jobs);
      if (!i) break;
      ChildStep c = child(*i);
      const pid_t pid = spawn_child(c);
      slots[*i].state = SlotState::running;
      on_start(c);
      running.emplace(pid, std::move(c));
    }
    if (running.empty()) break;
    if (g_stop_signal && !passed_on) {
      // A terminal's Ctrl-C reached the children already (same process group); a SIGTERM sent to
      // this process alone (a job scheduler) is passed on, so each child stops where it can resume.
      for (const auto& [pid, c] : running) kill(pid, SIGTERM);
      passed_on = true;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("waiting for the steps' processes: {}", std::strerror(errno)));
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    StepSlot& slot = slots[it->second.index];
    slot.state = code == 0 ? SlotState::done : SlotState::failed;
    if (code != 0) failed = true;
    on_end(it->second, ChildOutcome{it->second.index, code});
    running.erase(it);
  }
  return g_stop_signal == 0;
}

}  // namespace g4u::experiments
