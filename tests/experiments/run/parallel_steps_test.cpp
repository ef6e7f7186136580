// The scheduling rule of `g4u run --jobs` (experiments/run/parallel_steps.h): hand-worked schedules
// and child processes that are plain shell commands.
#include "experiments/run/parallel_steps.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace g4u::experiments;
using g4u::test::ScratchDir;

namespace {

StepSlot pending(std::vector<size_t> needs, double seconds, bool alone = false) {
  StepSlot s;
  s.needs = std::move(needs);
  s.seconds = seconds;
  s.alone = alone;
  s.state = SlotState::pending;
  return s;
}

}  // namespace

TEST_CASE("next_to_start: file order, inputs first, at most `jobs`, steps that run alone have the machine to themselves") {
  // 0 train (10 s), 1 train (10 s), 2 eval of 0 (alone), 3 train (4 s), 4 report of 2.
  std::vector<StepSlot> s = {pending({}, 10), pending({}, 10), pending({0}, 1, true), pending({}, 4), pending({2}, 1)};
  CHECK(next_to_start(s, 2) == 0u);
  s[0].state = SlotState::running;
  CHECK(next_to_start(s, 2) == 1u);
  s[1].state = SlotState::running;
  CHECK(!next_to_start(s, 2));  // two running
  s[0].state = SlotState::done;
  CHECK(next_to_start(s, 2) == 3u);  // the eval may not start beside step 1; the later train may
  s[3].state = SlotState::running;
  s[1].state = s[3].state = SlotState::done;
  CHECK(next_to_start(s, 2) == 2u);
  s[2].state = SlotState::running;
  CHECK(!next_to_start(s, 2));  // nothing beside a step that runs alone, not even its dependant
  s[2].state = SlotState::failed;
  CHECK(!next_to_start(s, 2));  // the report needs a failed step: never starts

  // With one job the order is the file's.
  std::vector<StepSlot> serial = {pending({}, 1), pending({}, 1, true), pending({}, 1)};
  CHECK(next_to_start(serial, 1) == 0u);
}

TEST_CASE("scheduled_seconds: the plan's wall time under the rule, worked by hand") {
  // Two 10 s trains side by side (0-10), then the 4 s train (10-14) while the alone eval waits for
  // it, then the eval (14-15) and the report (15-16).
  std::vector<StepSlot> s = {pending({}, 10), pending({}, 10), pending({0}, 1, true), pending({}, 4), pending({2}, 1)};
  CHECK(scheduled_seconds(s, 2) == Approx(16));
  CHECK(scheduled_seconds(s, 1) == Approx(26));  // the sum
  // Steps already done cost nothing; four independent 3 s steps on 3 jobs: 3 + 3.
  std::vector<StepSlot> four = {pending({}, 3), pending({}, 3), pending({}, 3), pending({}, 3)};
  CHECK(scheduled_seconds(four, 3) == Approx(6));
  four[0].state = SlotState::done;
  CHECK(scheduled_seconds(four, 3) == Approx(3));
}

TEST_CASE("run_children: each child's exit code decides its slot; a failure stops new starts, the running finish") {
  ScratchDir d("parallel_steps");
  const std::string order = d / "order.txt";
  // Step i appends "i" to order.txt when it ends; step 1 fails; step 3 needs step 0.
  std::vector<StepSlot> s = {pending({}, 0), pending({}, 0), pending({}, 0), pending({0}, 0)};
  auto child = [&](size_t i) {
    const std::string body = i == 1 ? "sleep 0.3; echo failed >&2; exit 2" : "sleep 0.6; echo " + std::to_string(i) + " >> " + order;
    return ChildStep{i, "s" + std::to_string(i), {"/bin/sh", "-c", body}, d / ("s" + std::to_string(i) + ".log")};
  };
  std::vector<size_t> started;
  std::vector<ChildOutcome> ended;
  const bool completed = run_children(
      s, 2, child, [&](const ChildStep& c) { started.push_back(c.index); },
      [&](const ChildStep&, const ChildOutcome& o) { ended.push_back(o); });
  CHECK(completed);
  // 0 and 1 start; 1 fails at 0.3 s, so 2 never starts; 0 finishes, and 3 (its dependant) does not start.
  CHECK(started == std::vector<size_t>{0, 1});
  REQUIRE(ended.size() == 2);
  CHECK(ended[0].index == 1);
  CHECK(ended[0].exit_code == 2);
  CHECK(ended[1].index == 0);
  CHECK(ended[1].exit_code == 0);
  CHECK(s[0].state == SlotState::done);
  CHECK(s[1].state == SlotState::failed);
  CHECK(s[2].state == SlotState::pending);
  CHECK(s[3].state == SlotState::pending);
  CHECK(g4u::test::read_file(d / "s1.log") == "failed\n");
  CHECK(g4u::test::read_file(order) == "0\n");
}
