// Hand-made sample records and results inputs for the results, breakdowns and report tests.
#pragma once

#include "eval/results/results.h"

#include <string>
#include <vector>

namespace g4u::test {

// A finished (stopped) sample of one batch of its own; not yet scored.
inline runner::SampleRecord record(const std::string& id, const std::string& task, const std::string& metric,
                                   const std::string& prediction, std::vector<std::string> references,
                                   const std::string& normalizer = "none") {
  runner::SampleRecord r;
  r.id = id;
  r.task = task;
  r.metric = metric;
  r.normalizer = normalizer;
  r.prediction = prediction;
  r.references = std::move(references);
  r.stopped = true;
  r.batch.id = "b/" + id;
  r.batch.size = 1;
  return r;
}

// What build_results needs besides the records: a config with the default scoring (as `g4u merge`
// reads it), a variant with weights and memory, a complete run.
inline runner::ResultsInput results_input() {
  runner::ResultsInput in;
  in.config = {{"scoring", runner::ScoringOptions{}.to_json()}};
  in.environment = {{"git_commit", "abc"}};
  in.variant = {{"name", "v"}, {"weights", {{"bits_per_weight", 32}, {"total_bytes", 4}}},
                {"memory", {{"peak_rss_bytes", 1}, {"peak_cuda_bytes", nullptr}}}};
  in.run = {{"complete", true}, {"shards", {"0/1"}}};
  return in;
}

}  // namespace g4u::test
