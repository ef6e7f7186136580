// `g4u report`: results.json files (eval/results/results.h) -> report.md and one self-contained
// report.html (inline CSS and SVG, no scripts, nothing fetched) with
//   - findings: what differs significantly from the baseline, at what size and speed
//   - variants: weights (bytes by class, bits/weight), memory, latency
//   - perplexity, KL and throughput per variant (ppl.json / bench.json files), speed vs quality chart
//   - per-task scores with n, 95 % CI, stderr, parse failures
//   - paired differences vs a baseline variant on the ids both logged (eval::compare: paired t for
//     accuracy metrics, paired bootstrap for corpus metrics), from the per-sample logs
//   - charts: accuracy vs bits/weight, latency vs memory
//   - published vs ours (reports/published.h)
//   - the environment of every results file
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace g4u::reports {

struct ReportOptions {
  std::vector<std::string> results;  // results.json files
  std::string out;                   // folder for report.md and report.html
  std::string baseline;              // variant name; empty: the first variant
  std::string published;             // published scores file; empty: none
  std::string spellings;             // whisper-en spelling map for rescoring (paired differences)
  std::string title = "g4u evaluation report";
  // Measurements of the same variants by other commands, each file naming its variant ("variant"):
  // ppl.json of `g4u ppl --variant` (perplexity, KL vs a base) and bench.json of `g4u bench
  // --variant --json` (prefill/decode tokens/s, load time, peak RSS).
  std::vector<std::string> ppl, bench;
};

struct Report {
  std::string markdown, html;
  nlohmann::json summary;  // variants, baseline, tasks, paired (machine-readable, for --json)
};

// InputError for unreadable/invalid results files (naming file and field), duplicate variant names,
// an unknown --baseline.
Report build_report(const ReportOptions& options);
// build_report + writes <out>/report.md and <out>/report.html atomically. Returns the summary.
nlohmann::json write_report(const ReportOptions& options);

}  // namespace g4u::reports
