// A per-sample log (eval/results/sample_log.h) as `g4u eval` resumes from it and `g4u merge` reads
// other runs' logs: bad lines are errors naming file:line, a torn last line is ignored.
#include "eval/results/sample_log.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  runner::SampleRecord r;
  r.id = "item-1";
  r.task = "chartqa";
  fuzz::write_seed(runner::record_to_json(r).dump() + "\n", "one_record.jsonl");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "samples.jsonl");
  fuzz::expect_clean_errors([&] {
    const runner::SampleLog log = runner::read_sample_log(path);
    if (log.valid_bytes > size || log.records.size() > log.lines) std::abort();
  });
  return 0;
}
