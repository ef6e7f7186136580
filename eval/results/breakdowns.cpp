#include "eval/results/breakdowns.h"

#include "datasets/tasks/tasks.h"
#include "eval/stats.h"

#include <cmath>
#include <map>
#include <set>
#include <string>

namespace g4u::runner {
namespace {

using json = nlohmann::json;

double number_or_nan(const json& v) { return v.is_number() ? v.get<double>() : std::nan(""); }
json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

json interval_or_null(double mean, double se) {
  if (!std::isfinite(mean) || !std::isfinite(se)) return nullptr;
  eval::Interval ci = eval::normal_ci95(mean, se);
  return {ci.lo, ci.hi};
}

std::string benchmark_of(const std::string& task) {
  const datasets::TaskInfo* t = datasets::lookup_task(task);
  return t ? t->source : task;
}

// One group of one breakdown: its records, split by task key (records stay sorted by id).
struct GroupRecords {
  std::map<std::string, TaskGroup> by_key;
  size_t records = 0, failed = 0;
};

json score_group(const std::string& name, const GroupRecords& g, Scorer& scorer) {
  json out;
  out["group"] = name;
  out["samples"] = g.records;
  out["failed"] = g.failed;
  if (g.by_key.size() == 1) {
    const TaskGroup& tg = g.by_key.begin()->second;
    json s = eval::summarize(evaluate_group(tg, scorer), scorer.score_options(tg.normalizer), /*per_item=*/false);
    for (const char* k : {"n", "score", "stderr", "stderr_method", "ci95", "ci95_method", "parse_failures"}) out[k] = s[k];
    return out;
  }
  // Several task keys: pool per-item scores when every key is scored per item.
  std::vector<double> scores;
  size_t parse_failures = 0;
  std::vector<std::string> not_pooled;
  for (const auto& [key, tg] : g.by_key) {
    eval::Evaluation e = evaluate_group(tg, scorer);
    if (e.corpus || e.unit_scores.size() != e.items.size()) {
      not_pooled.push_back(key + " (" + tg.metric + ")");
      continue;
    }
    scores.insert(scores.end(), e.unit_scores.begin(), e.unit_scores.end());
    parse_failures += e.parse_failures;
  }
  out["parse_failures"] = parse_failures;
  if (!not_pooled.empty()) {
    out["n"] = g.records;
    out["score"] = out["stderr"] = out["ci95"] = nullptr;
    out["stderr_method"] = out["ci95_method"] = nullptr;
    std::string keys;
    for (const std::string& k : not_pooled) keys += (keys.empty() ? "" : ", ") + k;
    out["note"] = "records of several tasks, not poolable item by item: " + keys;
    return out;
  }
  double mean = eval::mean(scores), se = eval::clt_stderr(scores);
  out["n"] = scores.size();
  out["score"] = number_or_null(mean);
  out["stderr"] = number_or_null(se);
  out["stderr_method"] = "clt (items of several tasks pooled)";
  // As eval::summarize: right/wrong items get the Wilson interval.
  if (eval::all_binary(scores)) {
    const eval::Interval ci = eval::wilson_ci95(mean, scores.size());
    out["ci95"] = {ci.lo, ci.hi};
    out["ci95_method"] = "wilson";
  } else {
    out["ci95"] = interval_or_null(mean, se);
    out["ci95_method"] = out["ci95"].is_null() ? json(nullptr) : json("normal");
  }
  return out;
}

json macro_average(const json& groups, bool overlapping) {
  double sum = 0, var = 0;
  size_t k = 0;
  for (const json& g : groups) {
    double score = number_or_nan(g["score"]);
    if (!std::isfinite(score)) continue;
    double se = number_or_nan(g["stderr"]);
    sum += score;
    var += se * se;  // NaN for a group without a stderr: the macro stderr is then undefined
    ++k;
  }
  json m;
  m["groups"] = k;
  double mean = k ? sum / static_cast<double>(k) : std::nan("");
  double se = k ? std::sqrt(var) / static_cast<double>(k) : std::nan("");
  m["score"] = number_or_null(mean);
  m["stderr"] = number_or_null(se);
  m["ci95"] = interval_or_null(mean, se);
  m["method"] = overlapping ? "unweighted mean of group scores; stderr sqrt(sum SE^2)/k is approximate (a record "
                              "may belong to several groups)"
                            : "unweighted mean of group scores; stderr sqrt(sum SE^2)/k (disjoint groups)";
  return m;
}

}  // namespace

json build_breakdowns(const std::vector<TaskGroup>& tasks, Scorer& scorer) {
  // (benchmark, breakdown name) -> group value -> records
  struct Breakdown {
    std::map<std::string, GroupRecords> groups;
    std::set<std::string> task_names, metrics;
    size_t records = 0, without_group = 0;
    bool overlapping = false;
  };
  std::map<std::pair<std::string, std::string>, Breakdown> all;
  std::map<std::string, std::set<std::string>> names_of_benchmark;
  for (const TaskGroup& tg : tasks)
    for (const SampleRecord* r : tg.records)
      for (const auto& [name, values] : r->breakdown) names_of_benchmark[benchmark_of(tg.task)].insert(name);
  for (const TaskGroup& tg : tasks) {
    std::string benchmark = benchmark_of(tg.task);
    for (const std::string& name : names_of_benchmark[benchmark]) {
      Breakdown& b = all[{benchmark, name}];
      b.task_names.insert(tg.task);
      b.metrics.insert(tg.metric);
      for (const SampleRecord* r : tg.records) {
        ++b.records;
        auto it = r->breakdown.find(name);
        if (it == r->breakdown.end() || it->second.empty()) {
          ++b.without_group;
          continue;
        }
        b.overlapping = b.overlapping || it->second.size() > 1;
        for (const std::string& value : std::set<std::string>(it->second.begin(), it->second.end())) {
          GroupRecords& g = b.groups[value];
          TaskGroup& sub = g.by_key[tg.key];
          if (sub.records.empty()) {
            sub.key = tg.key;
            sub.task = tg.task;
            sub.metric = tg.metric;
            sub.normalizer = tg.normalizer;
          }
          sub.records.push_back(r);
          ++g.records;
          if (!r->error.empty()) ++g.failed;
        }
      }
    }
  }
  json out = json::array();
  for (const auto& [id, b] : all) {
    json groups = json::array();
    for (const auto& [value, g] : b.groups) groups.push_back(score_group(value, g, scorer));
    json macro = macro_average(groups, b.overlapping);
    out.push_back({{"benchmark", id.first}, {"by", id.second}, {"tasks", b.task_names}, {"metrics", b.metrics},
                   {"records", b.records}, {"records_without_group", b.without_group}, {"groups", std::move(groups)},
                   {"macro", std::move(macro)}});
  }
  return out;
}

}  // namespace g4u::runner
