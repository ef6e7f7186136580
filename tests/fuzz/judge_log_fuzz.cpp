// A judge log (eval/results/judge_log.h) as `g4u judge` resumes from it and `g4u merge` and a
// resumed `g4u eval` rescore from it: bad lines are errors naming file:line, a torn last line is
// ignored, and any decision, valid or not, scores without a crash. The first input byte picks the
// judge-output parser's inputs: the rest is also read as a raw judge output.
#include "eval/results/judge_log.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>
#include <filesystem>

using namespace g4u;

namespace {

runner::SampleRecord record(const std::string& id, const std::string& task, const std::string& metric,
                            const std::string& prediction, std::vector<std::string> choices) {
  runner::SampleRecord r;
  r.id = id;
  r.task = task;
  r.metric = metric;
  r.prediction = prediction;
  r.references = {choices.empty() ? "4" : "B"};
  r.choices = std::move(choices);
  r.stopped = true;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  runner::JudgeDecision d;
  d.id = "mc-1";
  d.task = "mmmu-val-mc";
  d.kind = runner::JudgeKind::kChoice;
  d.prompt_version = "v1";
  d.prompt_hash = "fnv1a64:0123456789abcdef";
  d.output = "B";
  d.stopped = true;
  d.verdict = runner::parse_judge_output(d.kind, d.output, 3, true, "gemma4");
  fuzz::write_seed(runner::judge_decision_to_json(d).dump() + "\n", "one_decision.jsonl");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputReader in(data, size);
  const uint8_t mode = in.byte();
  const std::string dir = fuzz::scratch_dir() + "/judged";
  std::filesystem::create_directories(dir);
  fuzz::write_input(R"({"schema": "g4u.judge", "prompt_version": "v1", "config_hash": "fnv1a64:1",
                        "model": {"source": "tiny", "dtype": "fp32"}})",
                    "judged/judge.json");
  fuzz::write_input(in.rest(), "judged/judge.jsonl");
  static const std::vector<runner::SampleRecord> records = {
      record("mc-1", "mmmu-val-mc", "mmmu-mc", "no idea", {"cat", "dog", "cow"}),
      record("mv-1", "mathvista-testmini", "mathvista", "it is four", {}),
      record("ar-1", "arith", "exact-match", "The answer is 4", {})};
  fuzz::expect_clean_errors([&] {
    std::optional<runner::JudgeRecords> judge = runner::read_judge_records(dir);
    if (!judge) std::abort();
    runner::Scorer scorer(runner::ScoringOptions{});
    nlohmann::json results = {{"variants", {{{"tasks", nlohmann::json::array()}}}}};
    for (const runner::TaskGroup& g : runner::group_by_task(records))
      results["variants"][0]["tasks"].push_back({{"key", g.key}});
    runner::add_judged_scores(results, records, *judge, scorer);
  });
  // The judge's raw output, as the runner meets it: decoded text with invalid bytes replaced.
  const std::string output = runner::sanitize_utf8(std::string(in.rest()));
  for (runner::JudgeKind kind : {runner::JudgeKind::kChoice, runner::JudgeKind::kAnswer}) {
    runner::JudgeVerdict v = runner::parse_judge_output(kind, output, mode % 27, mode & 0x80, "gemma4");
    if (v.valid == !v.problem.empty()) std::abort();
  }
  return 0;
}
