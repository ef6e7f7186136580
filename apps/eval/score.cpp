// g4u score: scores a JSONL predictions file with one metric and reports n, score, stderr, ci95,
// parse failures and (with --per-item) the per-item scores and extracted answers; with
// --baseline, a paired comparison against another predictions file on the same items.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "eval/metrics.h"
#include "base/error.h"

#include <fmt/format.h>

#include <cmath>

namespace g4u::app {
namespace {

struct ScoreArgs {
  std::string metric, input, baseline, normalizer = "none", spellings, reasoning = "gemma4";
  bool per_item = false, json = false, mmmu_random_fallback = false;
  uint64_t mmmu_seed = 42, bootstrap_seed = 12345;
  size_t bootstrap_samples = 1000;
};

void print_score_human(const nlohmann::json& j) {
  auto num = [](const nlohmann::json& v) { return v.is_number() ? fmt::format("{:.6g}", v.get<double>()) : std::string("n/a"); };
  std::string ci = j["ci95"].is_array() ? fmt::format("[{}, {}]", num(j["ci95"][0]), num(j["ci95"][1])) : "n/a";
  fmt::print(stderr, "{}: n={} score={} stderr={} ({}) ci95={}\n", j["metric"].get<std::string>(),
             j["n"].get<size_t>(), num(j["score"]), num(j["stderr"]), j["stderr_method"].get<std::string>(), ci);
  fmt::print(stderr, "parse failures: {} ({}), truncated reasoning: {}\n", j["parse_failures"].get<size_t>(),
             num(j["parse_failure_rate"]), j["truncated_reasoning"].get<size_t>());
  if (j.contains("paired")) {
    const auto& p = j["paired"];
    std::string pci = p["ci95"].is_array() ? fmt::format("[{}, {}]", num(p["ci95"][0]), num(p["ci95"][1])) : "n/a";
    fmt::print(stderr, "vs baseline ({}): baseline={} diff={} ci95={} p={}\n", p["method"].get<std::string>(),
               num(p["baseline_score"]), num(p["mean_diff"]), pci, num(p["p_value"]));
  }
}

Command score_cmd("score", "Score a JSONL predictions file with a metric (accuracy, WER, BLEU, ...)", [](CLI::App& sub) {
  auto a = std::make_shared<ScoreArgs>();
  sub.add_option("--metric", a->metric, "Metric: " + eval::metric_names())->required();
  sub.add_option("--input", a->input, "JSONL: prediction, references[, choices, cluster, group, ...] per line")
      ->required();
  sub.add_option("--normalizer", a->normalizer, "Applied to prediction, references and choices: " + eval::normalizer_names());
  sub.add_option("--spellings", a->spellings, "UK->US spelling map for --normalizer whisper-en");
  sub.add_option("--reasoning-tags", a->reasoning,
                 "Reasoning trace to strip before scoring: " + eval::reasoning_tag_names() + " (default gemma4)");
  sub.add_option("--baseline", a->baseline, "Second predictions file on the same items: paired comparison");
  sub.add_flag("--per-item", a->per_item, "Include per-item scores and extracted answers");
  sub.add_flag("--json", a->json, "Print JSON on stdout");
  sub.add_flag("--mmmu-random-fallback", a->mmmu_random_fallback,
               "mmmu-mc official-compat: unparsed answers get a seeded random letter (default: scored wrong)");
  sub.add_option("--mmmu-seed", a->mmmu_seed, "Seed of the compat fallback (MMMU uses random.seed(42))");
  sub.add_option("--bootstrap-samples", a->bootstrap_samples, "Bootstrap resamples for corpus metrics (default 1000)");
  sub.add_option("--bootstrap-seed", a->bootstrap_seed, "Bootstrap seed (sacreBLEU default 12345)");
  return [a]() -> int {
    const eval::Metric& metric = eval::find_metric(a->metric);
    eval::ScoreOptions opt;
    opt.normalizer = a->normalizer;
    eval::NormalizerOptions nopt;
    nopt.spellings_path = a->spellings;
    opt.normalize = eval::make_normalizer(a->normalizer, nopt);
    opt.reasoning = eval::reasoning_tags(a->reasoning);
    opt.mmmu_random_fallback = a->mmmu_random_fallback;
    opt.mmmu_seed = a->mmmu_seed;
    if (a->bootstrap_samples < 1) throw_input("--bootstrap-samples: must be at least 1");
    opt.bootstrap_samples = a->bootstrap_samples;
    opt.bootstrap_seed = a->bootstrap_seed;
    std::vector<eval::EvalItem> items = eval::read_eval_jsonl(a->input, metric);
    eval::Evaluation e = eval::evaluate(a->metric, items, opt);
    nlohmann::json j = eval::summarize(e, opt, a->per_item);
    if (!a->baseline.empty()) {
      std::vector<eval::EvalItem> base_items = eval::read_eval_jsonl(a->baseline, metric);
      eval::ScoreOptions bopt = opt;
      bopt.mmmu_random_fallback = opt.mmmu_random_fallback;
      eval::Evaluation b = eval::evaluate(a->metric, base_items, bopt);
      j["paired"] = eval::compare(e, b, opt);
    }
    if (a->json) print_json(j);
    else print_score_human(j);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
