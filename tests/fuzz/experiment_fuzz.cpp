// An experiment file of `g4u run` (experiments/run/experiment.h) checked as `g4u run --dry-run`
// checks it: the document, the steps and their references, every step's settings, the plan.
#include "experiments/run/run_experiment.h"
#include "tests/fuzz/fuzz_util.h"

using namespace g4u;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  experiments::ExperimentRunOptions o;
  o.file = fuzz::write_input(data, size, "experiment.json");
  o.out = fuzz::scratch_dir() + "/run";
  o.dry_run = true;
  fuzz::expect_clean_errors([&] { experiments::run_experiment(o); });
  return 0;
}
