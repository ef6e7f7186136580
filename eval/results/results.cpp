#include "eval/results/results.h"

#include "eval/unicode.h"
#include "base/error.h"
#include "base/json_util.h"
#include "base/hash.h"
#include "eval/results/breakdowns.h"
#include "eval/results/meters.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace g4u::runner {

std::string config_hash(const nlohmann::json& config) { return "fnv1a64:" + hex64(fnv1a64(config.dump())); }
namespace {

using json = nlohmann::json;

eval::U32 u32(const std::string& s, const std::string& where, const char* field) {
  return eval::utf8_decode_or_throw(s, where + ": field '" + field + "'");
}

}  // namespace

json ScoringOptions::to_json() const {
  return {{"reasoning_tags", reasoning},
          {"bootstrap_samples", bootstrap_samples},
          {"bootstrap_seed", bootstrap_seed}};
}

Scorer::Scorer(ScoringOptions options) : opt_(std::move(options)) {
  eval::reasoning_tags(opt_.reasoning);  // InputError for an unknown name, up front
  if (opt_.bootstrap_samples < 1) throw_input("--bootstrap-samples: must be at least 1");
}

eval::ScoreOptions Scorer::score_options(const std::string& normalizer) {
  eval::ScoreOptions o;
  o.normalizer = normalizer;
  auto it = normalizers_.find(normalizer);
  if (it == normalizers_.end()) {
    eval::NormalizerOptions no;
    no.spellings_path = opt_.spellings;
    it = normalizers_.emplace(normalizer, eval::make_normalizer(normalizer, no)).first;
  }
  o.normalize = it->second;
  o.reasoning = eval::reasoning_tags(opt_.reasoning);
  o.bootstrap_samples = opt_.bootstrap_samples;
  o.bootstrap_seed = opt_.bootstrap_seed;
  return o;
}

eval::EvalItem eval_item(const SampleRecord& r) {
  eval::EvalItem it;
  it.where = r.where.empty() ? r.id : r.where;
  it.prediction = u32(r.prediction, it.where, "prediction");
  for (const auto& s : r.references) it.references.push_back(u32(s, it.where, "references"));
  for (const auto& s : r.choices) it.choices.push_back(u32(s, it.where, "choices"));
  it.cluster = r.cluster;
  it.group = r.group;
  it.question_type = r.question_type;
  it.answer_type = r.answer_type;
  it.precision = r.precision;
  return it;
}

void Scorer::score_one(SampleRecord& r) {
  eval::Evaluation e = eval::evaluate(r.metric, {eval_item(r)}, score_options(r.normalizer));
  const eval::ItemResult& ir = e.items.at(0);
  r.extracted = ir.extracted;
  r.score = ir.score;
  r.parsed = ir.parsed;
  r.rule = ir.rule;
}

std::vector<TaskGroup> group_by_task(const std::vector<SampleRecord>& records) {
  std::map<std::string, std::set<std::string>> normalizers;
  for (const auto& r : records) normalizers[r.task].insert(r.normalizer);
  std::map<std::string, TaskGroup> groups;
  for (const auto& r : records) {
    bool split = normalizers[r.task].size() > 1;
    std::string key = split ? r.task + "[" + r.normalizer + "]" : r.task;
    TaskGroup& g = groups[key];
    if (g.records.empty()) {
      g.key = key;
      g.task = r.task;
      g.metric = r.metric;
      g.normalizer = r.normalizer;
    } else if (g.metric != r.metric) {
      throw_input("{}: field 'metric': '{}' but earlier records of task {} use '{}'", r.where.empty() ? r.id : r.where,
                  r.metric, r.task, g.metric);
    }
    g.records.push_back(&r);
  }
  std::vector<TaskGroup> out;
  for (auto& [k, g] : groups) {
    std::sort(g.records.begin(), g.records.end(), [](const SampleRecord* a, const SampleRecord* b) { return a->id < b->id; });
    out.push_back(std::move(g));
  }
  return out;
}

eval::Evaluation evaluate_group(const TaskGroup& g, Scorer& scorer) {
  std::vector<eval::EvalItem> items;
  items.reserve(g.records.size());
  for (const SampleRecord* r : g.records) items.push_back(eval_item(*r));
  return eval::evaluate(g.metric, items, scorer.score_options(g.normalizer));
}

json score_task(const TaskGroup& g, Scorer& scorer) {
  eval::ScoreOptions so = scorer.score_options(g.normalizer);
  eval::Evaluation e = evaluate_group(g, scorer);
  json j = eval::summarize(e, so, /*per_item=*/false);
  j["task"] = g.task;
  j["key"] = g.key;
  j["samples"] = g.records.size();
  size_t failed = 0, hit_max = 0;
  for (const SampleRecord* r : g.records) {
    if (!r->error.empty()) ++failed;
    else if (!r->stopped) ++hit_max;
  }
  j["failed"] = failed;
  j["hit_max_new_tokens"] = hit_max;
  j["latency"] = latency_summary(g.records);
  return j;
}

json build_results(const ResultsInput& in, const std::vector<SampleRecord>& records, Scorer& scorer) {
  json r;
  r["schema"] = kResultsSchema;
  r["schema_version"] = kResultsSchemaVersion;
  r["config"] = in.config;
  r["config_hash"] = config_hash(in.config);
  r["environment"] = in.environment;
  r["run"] = in.run;
  json v = in.variant;
  json tasks = json::array();
  std::vector<TaskGroup> groups = group_by_task(records);
  for (const TaskGroup& g : groups) tasks.push_back(score_task(g, scorer));
  v["tasks"] = tasks;
  v["breakdowns"] = build_breakdowns(groups, scorer);
  std::vector<const SampleRecord*> all;
  for (const auto& rec : records) all.push_back(&rec);
  json lat = latency_summary(all);
  v["latency"] = lat;
  if (!v.contains("memory")) v["memory"] = json::object();
  v["memory"]["kv_cache_bytes_max"] = lat["kv_cache_bytes_max"];
  v["memory"]["kv_cache_bytes_mean"] = lat["kv_cache_bytes_mean"];
  v["samples_path"] = in.samples_path;
  v["samples"] = records.size();
  v["scoring"] = scorer.options().to_json();
  r["variants"] = json::array({v});
  return r;
}

// --- reading -----------------------------------------------------------------------------------
namespace {

// Views, not std::string references: gcc >= 13 takes a temporary string bound to a reference
// parameter for a dangling result (-Wdangling-reference), although the result refers into `j`.
const json& field(const json& j, std::string_view key, std::string_view where) {
  auto it = j.find(key);
  if (it == j.end()) throw_input("{}: field '{}': missing", where, key);
  return *it;
}
void expect(bool ok, const std::string& where, const std::string& key, const char* what, const json& got) {
  if (!ok) throw_input("{}: field '{}': expected {}, got {}", where, key, what, got.type_name());
}
void check_num_or_null(const json& j, const std::string& key, const std::string& where) {
  const json& v = field(j, key, where);
  expect(v.is_number() || v.is_null(), where, key, "a number or null", v);
}

// A count that is a non-negative integer.
void check_count(const json& j, const std::string& key, const std::string& where) {
  const json& v = field(j, key, where);
  expect(v.is_number_integer(), where, key, "an integer", v);
  if (v.get<int64_t>() < 0) throw_input("{}: field '{}': {} is negative", where, key, v.get<int64_t>());
}

// A score on its metric's scale: >= 0, at most 1 for fractions, 100 for points; error rates
// (WER, CER) have no upper bound. Null: nothing was scored.
void check_score(const json& j, const eval::MetricInfo& metric, const std::string& where) {
  check_num_or_null(j, "score", where);
  check_num_or_null(j, "stderr", where);
  const json& score = j["score"];
  if (score.is_number()) {
    const double v = score.get<double>();
    const double top = metric.points_100 ? 100.0 : metric.lower_is_better ? HUGE_VAL : 1.0;
    if (!(v >= 0 && v <= top))
      throw_input("{}: field 'score': {} is outside {}'s range [0, {}]", where, v, metric.name,
                  metric.lower_is_better ? "inf" : fmt::format("{}", top));
  }
  if (j["stderr"].is_number() && !(j["stderr"].get<double>() >= 0))
    throw_input("{}: field 'stderr': {} is negative", where, j["stderr"].get<double>());
}

void check_ci(const json& j, const std::string& where) {
  const json& ci = field(j, "ci95", where);
  expect(ci.is_null() || (ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number()), where, "ci95",
         "[lo, hi] or null", ci);
}

// variants[].breakdowns (optional; eval/results/breakdowns.h): the fields reports use.
void check_breakdowns(const json& bs, const std::string& vw) {
  expect(bs.is_array(), vw, "breakdowns", "a list", bs);
  for (size_t i = 0; i < bs.size(); ++i) {
    std::string bw = fmt::format("{}.breakdowns[{}]", vw, i);
    const json& b = bs[i];
    expect(b.is_object(), vw, fmt::format("breakdowns[{}]", i), "an object", b);
    for (const char* key : {"benchmark", "by"}) expect(field(b, key, bw).is_string(), bw, key, "a string", b[key]);
    for (const char* key : {"records", "records_without_group"})
      expect(field(b, key, bw).is_number_integer(), bw, key, "an integer", b[key]);
    expect(field(b, "metrics", bw).is_array(), bw, "metrics", "a list", b["metrics"]);
    for (const json& m : b["metrics"]) expect(m.is_string(), bw, "metrics", "a list of strings", b["metrics"]);
    const json& gs = field(b, "groups", bw);
    expect(gs.is_array(), bw, "groups", "a list", gs);
    for (size_t k = 0; k < gs.size(); ++k) {
      std::string gw = fmt::format("{}.groups[{}]", bw, k);
      const json& g = gs[k];
      expect(g.is_object(), bw, fmt::format("groups[{}]", k), "an object", g);
      expect(field(g, "group", gw).is_string(), gw, "group", "a string", g["group"]);
      for (const char* key : {"samples", "n"}) check_count(g, key, gw);
      for (const char* key : {"score", "stderr"}) check_num_or_null(g, key, gw);
      check_ci(g, gw);
    }
    const json& m = field(b, "macro", bw);
    expect(m.is_object(), bw, "macro", "an object", m);
    expect(field(m, "groups", bw + ".macro").is_number_integer(), bw + ".macro", "groups", "an integer", m["groups"]);
    for (const char* key : {"score", "stderr"}) check_num_or_null(m, key, bw + ".macro");
    check_ci(m, bw + ".macro");
  }
}

// variants[].judge and tasks[].judged (optional; eval/results/judge_log.h): the fields reports use.
void check_judge(const json& v, const std::string& vw) {
  if (!v.contains("judge")) return;
  const json& jb = v["judge"];
  expect(jb.is_object(), vw, "judge", "an object", jb);
  const json& cfg = field(jb, "config", vw + ".judge");
  expect(cfg.is_object(), vw + ".judge", "config", "an object", cfg);
  expect(field(cfg, "prompt_version", vw + ".judge.config").is_string(), vw + ".judge.config", "prompt_version", "a string",
         cfg["prompt_version"]);
  const json& model = field(cfg, "model", vw + ".judge.config");
  expect(model.is_object(), vw + ".judge.config", "model", "an object", model);
  for (const char* key : {"source", "dtype"})
    expect(field(model, key, vw + ".judge.config.model").is_string(), vw + ".judge.config.model", key, "a string", model[key]);
}
void check_judged(const json& t, const eval::MetricInfo& metric, const std::string& tw) {
  if (!t.contains("judged") || t["judged"].is_null()) return;
  const json& j = t["judged"];
  expect(j.is_object(), tw, "judged", "an object or null", j);
  const std::string jw = tw + ".judged";
  for (const char* key : {"n", "sent", "judged", "changed", "no_answer", "invalid", "missing"}) check_count(j, key, jw);
  check_score(j, metric, jw);
  check_ci(j, jw);
  for (const char* key : {"invalid_ids", "missing_ids"}) {
    const json& ids = field(j, key, jw);
    expect(ids.is_array(), jw, key, "a list", ids);
    for (const json& id : ids) expect(id.is_string(), jw, key, "a list of strings", id);
  }
}

}  // namespace

json read_results(const std::string& path) {
  json r = read_json_file(path);
  if (!r.is_object()) throw_input("{}: expected a JSON object, got {}", path, r.type_name());
  const json& schema = field(r, "schema", path);
  if (!schema.is_string() || schema.get<std::string>() != kResultsSchema)
    throw_input("{}: field 'schema': expected \"{}\", got {} (not a g4u results file)", path, kResultsSchema, schema.dump());
  const json& ver = field(r, "schema_version", path);
  if (!ver.is_number_integer())
    throw_input("{}: field 'schema_version': expected an integer, got {}", path, ver.dump());
  if (ver.get<int64_t>() != kResultsSchemaVersion)
    throw_input("{}: field 'schema_version': version {} (this g4u reads version {}; regenerate the file with `g4u merge` "
                "or rerun)",
                path, ver.get<int64_t>(), kResultsSchemaVersion);
  for (const char* k : {"config", "environment", "run"}) expect(field(r, k, path).is_object(), path, k, "an object", r[k]);
  expect(field(r, "config_hash", path).is_string(), path, "config_hash", "a string", r["config_hash"]);
  // The fields of "run" and "environment" that reports read with a type (found by the results fuzz target).
  const json& run = r["run"];
  if (run.contains("complete")) expect(run["complete"].is_boolean(), path, "run.complete", "true or false", run["complete"]);
  if (run.contains("logged"))
    expect(run["logged"].is_number_unsigned(), path, "run.logged", "a count", run["logged"]);
  const json& env = r["environment"];
  if (env.contains("git_dirty")) expect(env["git_dirty"].is_boolean(), path, "environment.git_dirty", "true or false", env["git_dirty"]);
  const json& vs = field(r, "variants", path);
  expect(vs.is_array() && !vs.empty(), path, "variants", "a non-empty list", vs);
  for (size_t i = 0; i < vs.size(); ++i) {
    std::string vw = fmt::format("{}: variants[{}]", path, i);
    const json& v = vs[i];
    expect(v.is_object(), path, fmt::format("variants[{}]", i), "an object", v);
    expect(field(v, "name", vw).is_string(), vw, "name", "a string", v["name"]);
    expect(field(v, "samples_path", vw).is_string(), vw, "samples_path", "a string", v["samples_path"]);
    const json& w = field(v, "weights", vw);
    expect(w.is_object(), vw, "weights", "an object", w);
    check_num_or_null(w, "bits_per_weight", vw + ".weights");
    check_num_or_null(w, "total_bytes", vw + ".weights");
    const json& m = field(v, "memory", vw);
    expect(m.is_object(), vw, "memory", "an object", m);
    check_num_or_null(m, "peak_rss_bytes", vw + ".memory");
    check_num_or_null(m, "peak_cuda_bytes", vw + ".memory");
    const json& lat = field(v, "latency", vw);
    expect(lat.is_object(), vw, "latency", "an object", lat);
    const json& ts = field(v, "tasks", vw);
    expect(ts.is_array(), vw, "tasks", "a list", ts);
    for (size_t k = 0; k < ts.size(); ++k) {
      std::string tw = fmt::format("{}.tasks[{}]", vw, k);
      const json& t = ts[k];
      expect(t.is_object(), vw, fmt::format("tasks[{}]", k), "an object", t);
      for (const char* key : {"task", "key", "metric"}) expect(field(t, key, tw).is_string(), tw, key, "a string", t[key]);
      const eval::MetricInfo& metric =
          eval::metric_registry().find(t["metric"].get<std::string>(), fmt::format("{}: field 'metric'", tw));
      check_count(t, "n", tw);
      check_score(t, metric, tw);
      check_num_or_null(t, "parse_failure_rate", tw);
      check_ci(t, tw);
      check_judged(t, metric, tw);
    }
    if (v.contains("breakdowns")) check_breakdowns(v["breakdowns"], vw);
    check_judge(v, vw);
  }
  return r;
}

}  // namespace g4u::runner
