// Metric registry: per-item scoring + aggregation for every metric name accepted on the command
// line (`g4u score --metric NAME`), with uncertainty and parse-failure accounting.
//
//   accuracy-type (score = mean of per-item scores in [0, 1], stderr = CLT, ci95 = mean +- 1.96 SE):
//     exact-match, mmmu-mc, mmmu-pro, mmmu-open, can-infer, mmau, mathvista, mathvision, relaxed-accuracy, anls,
//     anls-official, vqa-accuracy, mmbench-circular (mean over question groups)
//   corpus-level (score from summed statistics, stderr/ci95 from a seeded bootstrap that draws the
//   same resamples as sacreBLEU): wer, cer (fractions), bleu, chrf (0-100)
//
// Each metric is one `Metric` record of metric_registry() (eval/metrics.cpp); evaluate() knows
// nothing metric-specific. Adding a metric = adding one record, which provides:
//   - its MetricInfo: name (the --metric value, stable: it reaches results files), description,
//     corpus, needs_choices, points_100 and lower_is_better (how reports show it);
//   - score_item: one prepared line -> its ItemResult (score, extracted answer, rule, parsed; a
//     corpus metric also the line's additive statistics);
//   - aggregate: the scored lines -> score, units and what the uncertainty needs; one of
//     mean_of_items, circular_groups, corpus_statistic(score of summed statistics);
//   - optionally check_line (metric-specific checks of an input line, run by read_eval_jsonl) and
//     add_extras (more keys for the `g4u score` document).
// tests/eval/metric_registry_test.cpp scores a hand-made sample with every record.
#pragma once

#include "base/registry.h"
#include "eval/extract.h"
#include "eval/rng.h"
#include "eval/stats.h"
#include "eval/text_normalize.h"
#include "eval/unicode.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::eval {

struct MetricInfo {
  std::string name;
  std::string description;
  bool corpus = false;           // corpus-level statistic (bootstrap CI)
  bool needs_choices = false;    // `choices` required on every line
  bool points_100 = false;       // score on the 0-100 scale (BLEU, chrF); else a fraction
  bool lower_is_better = false;  // error rates (WER, CER)
};

// One scored line of a predictions file.
struct EvalItem {
  std::string where;  // "file:line" for messages
  U32 prediction;     // raw model output (reasoning not yet stripped)
  std::vector<U32> references;
  std::vector<U32> choices;
  std::optional<std::string> cluster;        // items sharing media (clustered SE)
  std::optional<std::string> group;          // mmbench-circular question group
  std::optional<std::string> question_type;  // mathvista: multi_choice | free_form
  std::optional<std::string> answer_type;    // mathvista: text | integer | float | list
  std::optional<int> precision;              // mathvista float answers
};

struct ScoreOptions {
  std::string normalizer = "none";
  NormalizeFn normalize;  // applied to prediction, references and choices; empty = identity
  ReasoningTags reasoning = reasoning_tags("gemma4");
  bool mmmu_random_fallback = false;  // official-compat: seeded random letter when unparsed
  uint64_t mmmu_seed = 42;            // MMMU's random.seed(42)
  size_t bootstrap_samples = 1000;
  uint64_t bootstrap_seed = 12345;  // sacreBLEU's default SACREBLEU_SEED
};

// Additive statistics of one line (edit counts, n-gram counts): a corpus score is a function of
// their element-wise sum over the lines, so a bootstrap resample only re-sums them.
using CorpusStatistics = std::vector<double>;

struct ItemResult {
  std::optional<double> score;  // nullopt where undefined (WER of an empty reference)
  nlohmann::json extracted;     // the answer the metric saw (null when nothing was extracted)
  std::string rule;             // extractor rule that fired, where there is one
  bool parsed = true;           // false = parse failure (counted)
  CorpusStatistics statistics;  // corpus metrics only
};

struct Evaluation {
  std::string metric;
  bool corpus = false;
  std::vector<ItemResult> items;         // input order
  std::vector<double> unit_scores;       // accuracy metrics: per item (per group for circular)
  std::vector<std::string> unit_clusters;  // parallel to unit_scores when every item has a cluster
  size_t units = 0;                      // n reported (items, or groups for circular)
  double score = 0;
  // Corpus metrics: the score on a resample of item indices (with repeats).
  std::function<double(const std::vector<uint32_t>&)> statistic;
  size_t parse_failures = 0;
  size_t truncated_reasoning = 0;
  nlohmann::json extras = nlohmann::json::object();
};

// --- the record --------------------------------------------------------------------------------
// One line as a metric sees it: reasoning trace stripped, --normalizer applied to the prediction,
// the references and the choices.
struct MetricLine {
  const EvalItem* item = nullptr;  // the line as read (where, group, cluster, mathvista fields)
  U32 prediction;
  std::vector<U32> references, choices;
};

// State shared by the lines of one evaluate() call.
struct MetricContext {
  explicit MetricContext(const ScoreOptions& options);
  U32 normalize(const U32& s) const { return options.normalize ? options.normalize(s) : s; }

  const ScoreOptions& options;
  std::unique_ptr<PyRandom> random_fallback;  // mmmu-mc compat stream, drawn in line order; null when off
};

using ItemScorer = std::function<ItemResult(const MetricLine&, MetricContext&)>;
// Fills score, units, unit_scores/unit_clusters or statistic (and may add extras) from e.items.
using Aggregator = std::function<void(const std::vector<MetricLine>&, Evaluation&)>;
using LineCheck = std::function<void(const EvalItem&)>;  // InputError naming item.where
using ExtrasWriter = std::function<void(const std::vector<MetricLine>&, const ScoreOptions&, Evaluation&)>;

struct Metric : MetricInfo {
  ItemScorer score_item;
  Aggregator aggregate;
  LineCheck check_line;      // optional
  ExtrasWriter add_extras;   // optional
};

// The aggregations a record picks from.
Aggregator mean_of_items();    // unit = item; clustered SE when every item has a cluster
Aggregator circular_groups();  // unit = `group`: 1 when every row of the group scores 1 (CircularEval)
// Corpus score = score_of_sum(sum of the lines' statistics); nullopt = undefined (InputError on the
// whole corpus, 0 on a bootstrap resample).
using CorpusScore = std::function<std::optional<double>(const CorpusStatistics& summed)>;
Aggregator corpus_statistic(CorpusScore score_of_sum);
CorpusStatistics summed_statistics(const Evaluation& e);  // over all items

const Registry<Metric>& metric_registry();
// Shorthands of metric_registry(): InputError "unknown metric 'x' (known: ...)"; the names.
inline const Metric& find_metric(std::string_view name) { return metric_registry().find(name); }
inline const MetricInfo& metric_info(std::string_view name) { return find_metric(name); }
inline std::string metric_names() { return metric_registry().names(); }

// Reads a JSONL predictions file: one object per non-blank line with `prediction` (string),
// `references` (non-empty list of strings) and, where the metric needs them, `choices` (non-empty
// list of strings); optional `cluster`, `group`/`index`, `question_type`, `answer_type`,
// `precision`; then the record's check_line. Any problem -> InputError naming file:line and the field.
std::vector<EvalItem> read_eval_jsonl(const std::string& path, const Metric& metric);

// Scores `items` with the named metric (InputError for an unknown name).
Evaluation evaluate(const std::string& metric, const std::vector<EvalItem>& items, const ScoreOptions& opt);

// The JSON document of `g4u score`: metric, n, score, stderr, ci95 and the extras; with per_item a
// `per_item` list ({score, extracted, rule?, parsed?}) in input order.
nlohmann::json summarize(const Evaluation& e, const ScoreOptions& opt, bool per_item);

// Paired comparison of `system` against `baseline` scored on the same items: Student t on per-item
// differences for accuracy metrics, sacreBLEU's paired bootstrap for corpus metrics.
nlohmann::json compare(const Evaluation& system, const Evaluation& baseline, const ScoreOptions& opt);

// --- single-item scorers (exposed for tests) ---------------------------------------------------
bool relaxed_correctness(const U32& prediction, const U32& target, double max_relative_change = 0.05);
double anls_harness(const U32& prediction, const std::vector<U32>& golds, double threshold = 0.5);
double anls_official(const U32& prediction, const std::vector<U32>& golds, double threshold = 0.5);
double vqa_accuracy(const U32& prediction, const std::vector<U32>& golds);  // EvalAI-normalizes both

}  // namespace g4u::eval
