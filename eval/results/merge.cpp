#include "eval/results/merge.h"

#include "eval/results/judge_log.h"
#include "eval/results/speculative.h"

#include "datasets/manifest/shard.h"
#include "base/error.h"
#include "base/json_util.h"
#include "eval/results/sample_log.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

namespace g4u::runner {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct ShardDir {
  std::string dir;
  json run, results;
  std::string hash;
  datasets::Shard shard;
  SampleLog log;
  bool lost_lines = false;  // the log holds fewer records than the shard's results counted
};

}  // namespace

ScoringOptions scoring_from_config(const json& config, const std::string& where, const std::string& spellings) {
  if (!config.is_object() || !config.contains("scoring") || !config["scoring"].is_object())
    throw_input("{}: field 'config.scoring': missing", where);
  JsonObject s(config["scoring"], where + ": config.scoring");
  ScoringOptions o;
  o.reasoning = s.get_string("reasoning_tags");
  int64_t samples = s.get_int("bootstrap_samples");
  if (samples < 1) throw_input("{}: field 'bootstrap_samples': must be >= 1", s.where());
  o.bootstrap_samples = static_cast<size_t>(samples);
  const json& seed = s.raw("bootstrap_seed");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0))
    throw_input("{}: field 'bootstrap_seed': expected an unsigned integer", s.where());
  o.bootstrap_seed = seed.get<uint64_t>();
  o.spellings = spellings;
  return o;
}

namespace {

// Judge decisions (`g4u judge`, eval/results/judge_log.h): shards judged with one judge config are
// joined into the merged folder; a mix of judged and unjudged shards, or of judges, is refused. With
// no judged shard, a judge log already in the merged folder (the merged folder was judged before)
// is kept and rescored over the new records.
void merge_judge_decisions(const std::vector<ShardDir>& shards, const std::string& out,
                           const std::vector<SampleRecord>& records, json& results, Scorer& scorer) {
  std::optional<JudgeRecords> merged;
  const ShardDir* judged = nullptr;
  const ShardDir* unjudged = nullptr;
  for (const ShardDir& s : shards) {
    std::optional<JudgeRecords> j = read_judge_records(s.dir);
    if (!j) {
      unjudged = &s;
      continue;
    }
    if (!merged) {
      merged = std::move(j);
      judged = &s;
      continue;
    }
    if (j->config["config_hash"] != merged->config["config_hash"])
      throw_input("{}: field 'config_hash': judged with another judge config than {} (judge every shard alike)",
                  (fs::path(s.dir) / kJudgeConfigFile).string(), (fs::path(judged->dir) / kJudgeConfigFile).string());
    for (auto& [id, d] : j->decisions) merged->decisions[id] = std::move(d);
  }
  if (merged && unjudged)
    throw_input("{}: not judged, but {} was (run `g4u judge` on every shard, or on the merged folder)", unjudged->dir,
                judged->dir);
  if (!merged) {
    if (std::optional<JudgeRecords> kept = read_judge_records(out)) add_judged_scores(results, records, *kept, scorer);
    return;
  }
  std::string text;
  for (const auto& [id, d] : merged->decisions) text += judge_decision_to_json(d).dump() + "\n";
  write_file_atomic((fs::path(out) / kJudgeConfigFile).string(), merged->config.dump(2) + "\n");
  write_file_atomic((fs::path(out) / kJudgeLogFile).string(), text);
  add_judged_scores(results, records, *merged, scorer);
}

}  // namespace

json merge_shards(const MergeOptions& mo) {
  if (mo.dirs.empty()) throw_input("g4u merge: no shard folders given");
  if (mo.out.empty()) throw_input("--out: required");
  std::vector<ShardDir> shards;
  std::set<std::string> seen_dirs;
  const std::string out_canon = fs::weakly_canonical(mo.out).string();
  for (const std::string& d : mo.dirs) {
    ShardDir s;
    s.dir = d;
    std::string canon = fs::weakly_canonical(d).string();
    if (!seen_dirs.insert(canon).second) throw_input("{}: given twice", d);
    if (canon == out_canon)
      throw_input("--out {}: is one of the shard folders (merging would overwrite its samples.jsonl)", mo.out);
    if (!fs::is_directory(d)) throw_input("{}: not a folder", d);
    std::string run_path = (fs::path(d) / "run.json").string();
    if (!fs::exists(run_path)) throw_input("{}: missing (not a g4u eval output folder)", run_path);
    s.run = read_json_file(run_path);
    JsonObject ro(s.run, run_path);
    s.hash = ro.get_string("config_hash");
    s.shard = datasets::parse_shard(ro.get_string("shard"), run_path + ": field 'shard'");
    std::string results_path = (fs::path(d) / "results.json").string();
    if (!fs::exists(results_path))
      throw_input("{}: missing: the shard has not finished (rerun `g4u eval` with the same flags there; it resumes)",
                  results_path);
    s.results = read_results(results_path);
    if (s.results["config_hash"] != s.hash)
      throw_input("{}: field 'config_hash': {} but run.json says {}", results_path, s.results["config_hash"].dump(), s.hash);
    s.log = read_sample_log((fs::path(d) / "samples.jsonl").string());
    if (s.log.torn_tail && !mo.allow_partial)
      throw_input("{}: ends in a torn line: the shard was interrupted (rerun `g4u eval` there; it resumes)",
                  (fs::path(d) / "samples.jsonl").string());
    const json& run = s.results["run"];
    // A log with fewer records than its results counted lost lines after the shard finished.
    const size_t counted = run.value("logged", s.log.records.size());
    if (s.log.records.size() < counted && !mo.allow_partial)
      throw_input("{}: {} records, but {} counted {} (lines were lost; rerun `g4u eval` there, or pass --allow-partial)",
                  (fs::path(d) / "samples.jsonl").string(), s.log.records.size(), results_path, counted);
    s.lost_lines = s.log.records.size() < counted;
    bool complete = run.value("complete", false);
    if (!complete && !mo.allow_partial)
      throw_input("{}: field 'run.complete': false (the shard ran with --limit; rerun it without, or pass --allow-partial)",
                  results_path);
    shards.push_back(std::move(s));
  }
  const ShardDir& first = shards.front();
  std::set<uint32_t> indices;
  for (const ShardDir& s : shards) {
    if (s.hash != first.hash)
      throw_input("{}: config_hash {} differs from {} in {} (different model, data, tasks, prompt or scoring)", s.dir,
                  s.hash, first.hash, first.dir);
    if (s.shard.count != first.shard.count)
      throw_input("{}: shard {} but {} is shard {} (different shard counts)", s.dir, s.shard.str(), first.dir,
                  first.shard.str());
    if (!indices.insert(s.shard.index).second) throw_input("{}: shard {} given twice", s.dir, s.shard.str());
    if (s.results["variants"][0]["name"] != first.results["variants"][0]["name"])
      throw_input("{}: variant {} differs from {} in {}", s.dir, s.results["variants"][0]["name"].dump(),
                  first.results["variants"][0]["name"].dump(), first.dir);
  }
  std::vector<std::string> missing;
  for (uint32_t i = 0; i < first.shard.count; ++i)
    if (!indices.count(i)) missing.push_back(std::to_string(i) + "/" + std::to_string(first.shard.count));
  if (!missing.empty() && !mo.allow_partial)
    throw_input("g4u merge: missing shards {} (pass --allow-partial to merge what is there)", fmt::join(missing, ", "));

  std::vector<SampleRecord> records;
  std::unordered_map<std::string, std::string> owner;  // id -> shard dir
  for (ShardDir& s : shards) {
    for (SampleRecord& r : s.log.records) {
      if (!datasets::in_shard(r.id, s.shard))
        throw_input("{}: field 'id': '{}' belongs to another shard than {}", r.where, r.id, s.shard.str());
      auto [it, fresh] = owner.emplace(r.id, s.dir);
      if (!fresh) throw_input("{}: field 'id': '{}' also logged in {}", r.where, r.id, it->second);
      records.push_back(std::move(r));
    }
  }
  std::sort(records.begin(), records.end(), [](const SampleRecord& a, const SampleRecord& b) { return a.id < b.id; });

  ScoringOptions so = scoring_from_config(first.results["config"], (fs::path(first.dir) / "results.json").string(), mo.spellings);
  Scorer scorer(so);

  std::error_code ec;
  fs::create_directories(mo.out, ec);
  if (ec) throw_input("--out {}: cannot create folder: {}", mo.out, ec.message());
  std::string text;
  for (const auto& r : records) text += record_to_json(r).dump() + "\n";
  write_file_atomic((fs::path(mo.out) / "samples.jsonl").string(), text);

  ResultsInput in;
  in.config = first.results["config"];
  json env = first.results["environment"];
  json shard_envs = json::array();
  json variant = first.results["variants"][0];
  for (const char* k : {"tasks", "latency", "samples_path", "samples", "scoring"}) variant.erase(std::string(k));
  json peak_rss = nullptr, peak_cuda = nullptr;
  size_t selected = 0;
  bool complete = missing.empty();
  json shard_list = json::array(), dirs = json::array();
  for (const ShardDir& s : shards) {
    const json& v = s.results["variants"][0];
    auto take_max = [](json& acc, const json& x) {
      if (x.is_number() && (acc.is_null() || x.get<double>() > acc.get<double>())) acc = x;
    };
    take_max(peak_rss, v["memory"]["peak_rss_bytes"]);
    take_max(peak_cuda, v["memory"]["peak_cuda_bytes"]);
    selected += s.results["run"].value("selected", size_t(0));
    complete = complete && s.results["run"].value("complete", false) && !s.log.torn_tail && !s.lost_lines;
    shard_envs.push_back({{"shard", s.shard.str()}, {"dir", s.dir}, {"environment", s.results["environment"]}});
    shard_list.push_back(s.shard.str());
    dirs.push_back(s.dir);
  }
  variant["memory"] = {{"peak_rss_bytes", peak_rss}, {"peak_cuda_bytes", peak_cuda}, {"peak_is", "max over shards"}};
  // Speculative decoding (eval --draft): recomputed from the shards' logs, which are joined too.
  if (variant.contains("speculative")) {
    std::map<std::string, SpeculativeSample> spec;
    for (const ShardDir& s : shards)
      for (auto& [id, line] : read_speculative_log((fs::path(s.dir) / kSpeculativeLogFile).string())) spec[id] = line;
    std::vector<std::string> ids;
    for (const auto& r : records) ids.push_back(r.id);
    variant["speculative"] = summarize_speculative(spec, ids);
    std::string spec_text;
    for (const auto& [id, line] : spec) spec_text += speculative_sample_to_json(line).dump() + "\n";
    write_file_atomic((fs::path(mo.out) / kSpeculativeLogFile).string(), spec_text);
  }
  env["shards"] = shard_envs;
  in.environment = env;
  in.variant = variant;
  in.run = {{"merged_from", dirs},
            {"shards", shard_list},
            {"shard_count", first.shard.count},
            {"missing_shards", missing},
            {"selected", selected},
            {"logged", records.size()},
            {"complete", complete}};
  json results = build_results(in, records, scorer);
  merge_judge_decisions(shards, mo.out, records, results, scorer);
  write_file_atomic((fs::path(mo.out) / "results.json").string(), results.dump(2) + "\n");
  return results;
}

}  // namespace g4u::runner
