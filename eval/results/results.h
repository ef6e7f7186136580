// results.json (schema "g4u.results", version kResultsSchemaVersion; documented in
// eval/runner/README.md §3): every statistic recomputed from per-sample records, so one run, a resumed
// run and a merge of shards give the same numbers for the same samples.
#pragma once

#include "eval/metrics.h"
#include "eval/results/sample_log.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace g4u::runner {

constexpr const char* kResultsSchema = "g4u.results";
constexpr int kResultsSchemaVersion = 1;

// "fnv1a64:<16 hex>" of the config's compact JSON text (keys sorted: nlohmann::json orders object
// keys), so equal configs hash equal whatever order their keys were set in.
std::string config_hash(const nlohmann::json& config);

struct ScoringOptions {
  std::string spellings;             // whisper-en spelling map (empty: eval's search path)
  std::string reasoning = "gemma4";  // reasoning tags stripped before extraction
  size_t bootstrap_samples = 1000;   // corpus metrics
  uint64_t bootstrap_seed = 12345;   // sacreBLEU's default
  nlohmann::json to_json() const;
};

// Builds eval::ScoreOptions for a normalizer, loading each normalizer once.
class Scorer {
 public:
  explicit Scorer(ScoringOptions options);
  const ScoringOptions& options() const { return opt_; }
  eval::ScoreOptions score_options(const std::string& normalizer);
  // Fills extracted / score / parsed / rule of one record from its prediction alone.
  void score_one(SampleRecord& r);

 private:
  ScoringOptions opt_;
  std::map<std::string, eval::NormalizeFn> normalizers_;
};

// The scoring item of a record (InputError naming the record's file:line for invalid UTF-8).
eval::EvalItem eval_item(const SampleRecord& r);

// Records of one task scored together: a task, or a task split by normalizer when its lines carry
// different ones ("task[normalizer]"). Records sorted by id, so any order or sharding of the same
// samples gives the same items in the same order.
struct TaskGroup {
  std::string key, task, metric, normalizer;
  std::vector<const SampleRecord*> records;
};
std::vector<TaskGroup> group_by_task(const std::vector<SampleRecord>& records);

// One entry of variants[].tasks: eval::summarize's fields (metric, n, score, stderr, stderr_method,
// ci95, parse_failures, parse_failure_rate, truncated_reasoning, ...) plus task, key, samples,
// failed, hit_max_new_tokens, and latency (eval/results/meters.h latency_summary).
nlohmann::json score_task(const TaskGroup& g, Scorer& scorer);

// Evaluation of a group, for paired comparisons (reports).
eval::Evaluation evaluate_group(const TaskGroup& g, Scorer& scorer);

struct ResultsInput {
  nlohmann::json config;       // what was run (hashed)
  nlohmann::json environment;  // eval/runner/environment.h
  nlohmann::json variant;      // name, model, quant, projector, drafter, dtype, weights, memory (process-level)
  nlohmann::json run;          // counts: selected, logged, complete, resumed, shards, ...
  std::string samples_path = "samples.jsonl";  // relative to results.json's folder
};
nlohmann::json build_results(const ResultsInput& in, const std::vector<SampleRecord>& records, Scorer& scorer);

// Reads and validates a results file: schema name and version (another version is an InputError
// naming the file and the version), and the fields reports use, with file and field in messages.
nlohmann::json read_results(const std::string& path);

}  // namespace g4u::runner
