// A results.json of another run, as `g4u report` and `g4u merge` read it (eval/results/results.h):
// validated, then rendered into a report (Markdown and HTML, with the published numbers beside ours
// and paired differences from the samples.jsonl next to it).
#include "eval/results/results.h"
#include "eval/results/sample_log.h"
#include "reports/report.h"
#include "test_paths.h"
#include "tests/eval/results/results_test_util.h"
#include "tests/fuzz/fuzz_util.h"

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A scored run of two tasks beside its per-sample log; the seed is its results.json.
  std::vector<runner::SampleRecord> rs = {
      test::record("a1", "mmmu-val-mc", "mmmu-mc", "(A)", {"A"}), test::record("a2", "mmmu-val-mc", "mmmu-mc", "(B)", {"A"}),
      test::record("i1", "infovqa-val", "anls", "germany", {"Germany"})};
  rs[0].choices = rs[1].choices = {"x", "y", "z"};
  rs[0].breakdown["subject"] = {"Art"};
  runner::Scorer scorer(runner::ScoringOptions{});
  std::string samples;
  for (auto& r : rs) {
    scorer.score_one(r);
    samples += runner::record_to_json(r).dump() + "\n";
  }
  fuzz::write_input(samples, "samples.jsonl");
  fuzz::write_seed(runner::build_results(test::results_input(), rs, scorer).dump(1), "two_tasks.json");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "results.json");
  fuzz::expect_clean_errors([&] {
    runner::read_results(path);
    reports::ReportOptions o;
    o.results = {path};
    o.out = fuzz::scratch_dir() + "/report";
    o.published = std::string(G4U_SOURCE_DIR) + "/reports/published_gemma4_12b.json";
    reports::build_report(o);
  });
  return 0;
}
