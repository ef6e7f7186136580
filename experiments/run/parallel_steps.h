// `g4u run --jobs N`: the steps of an experiment that do not depend on each other run side by side,
// each in a child process `g4u run <file> --only <step>` (its own address space, thread pool and
// peak-RSS meter), at most N at a time. A step whose kind measures time or memory (StepKind::
// runs_alone: eval, bench) runs with no other step beside it.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g4u::experiments {

enum class SlotState { pending, running, done, failed };

struct StepSlot {
  std::vector<size_t> needs;  // indices of the steps it uses
  bool alone = false;         // runs with nothing beside it
  double seconds = 0;         // estimated duration (for the plan)
  SlotState state = SlotState::done;  // steps that need not run start as done
};

// The step to start next, if one may start now: the first pending step in file order whose needs
// are done and that fits beside the running ones (fewer than `jobs` run, none of them alone, and
// nothing at all when it runs alone). A step that needs a failed step never starts.
std::optional<size_t> next_to_start(const std::vector<StepSlot>& slots, int jobs);

// The plan's wall-time estimate of running the pending slots with next_to_start's rule, each
// taking its estimated seconds.
double scheduled_seconds(std::vector<StepSlot> slots, int jobs);

struct ChildStep {
  size_t index;              // the step's index in the experiment
  std::string name;
  std::vector<std::string> argv;  // the child's command line (argv[0]: the executable)
  std::string log_file;      // its stdout and stderr (appended)
};

// Outcome of one child: its exit code (-signal when a signal ended it).
struct ChildOutcome {
  size_t index;
  int exit_code;
};

// Runs the pending slots as child processes (child(i) gives the command of slot i), at most `jobs`
// at a time under next_to_start's rule; `on_start` / `on_end` report each child. SIGINT/SIGTERM to
// this process stop new starts and are passed on to the running children (which checkpoint or stop),
// and the call returns once all have ended. A child ending with a non-zero exit code marks its
// slot failed: no new step starts, the running ones finish. Returns true unless interrupted by a signal.
bool run_children(std::vector<StepSlot>& slots, int jobs, const std::function<ChildStep(size_t)>& child,
                  const std::function<void(const ChildStep&)>& on_start,
                  const std::function<void(const ChildStep&, const ChildOutcome&)>& on_end);

}  // namespace g4u::experiments
