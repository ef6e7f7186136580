// `g4u eval` and `g4u merge` end to end on the tiny preset and a small synthetic manifest (6 text +
// 4 image samples): records, scores recomputed by hand, resume after --limit and a torn line,
// shard + merge == unsharded, batch-size invariance, bad input.
#include "runner_test_util.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>
#include <map>
#include <set>

using namespace g4u::test;
using Catch::Matchers::Contains;
using Catch::Detail::Approx;
using json = nlohmann::json;

namespace {

// Python's str.strip() on ASCII whitespace (what exact-match compares); enough for these outputs'
// checks since a non-ASCII space never equals a digit answer anyway.
std::string strip(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n\r\f\v"), b = s.find_last_not_of(" \t\n\r\f\v");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::map<std::string, json> by_id(const std::vector<json>& records) {
  std::map<std::string, json> m;
  for (const auto& r : records) m[r["id"].get<std::string>()] = r;
  return m;
}

// One unsharded reference run per process (batch 1).
const json& reference_run(std::string* dir_out = nullptr) {
  static ScratchDir dir;
  static json results = [] {
    auto r = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (dir / "ref") + " --batch 1 --json");
    INFO(r.err);
    REQUIRE(r.code == 0);
    return json::parse(r.out);
  }();
  if (dir_out) *dir_out = dir / "ref";
  return results;
}

}  // namespace

TEST_CASE("g4u eval: one record per sample, scores recomputable from the records", "[integration]") {
  std::string dir;
  const json& res = reference_run(&dir);
  auto records = read_jsonl(dir + "/samples.jsonl");
  REQUIRE(records.size() == 10);
  std::set<std::string> ids;
  std::map<std::string, std::vector<double>> scores;
  for (const auto& r : records) {
    ids.insert(r["id"].get<std::string>());
    for (const char* k : {"id", "task", "prompt_hash", "prediction", "extracted", "score", "ttft_s", "token_s", "batch"})
      CHECK(r.contains(k));
    CHECK(r["prompt_hash"].get<std::string>().rfind("fnv1a64:", 0) == 0);
    CHECK(r["prompt_tokens"].get<int64_t>() > 0);
    CHECK(r["new_tokens"].get<int64_t>() >= 1);
    CHECK(r["new_tokens"].get<int64_t>() <= r["max_new_tokens"].get<int64_t>());
    CHECK(r["token_s"].size() == static_cast<size_t>(r["new_tokens"].get<int64_t>() - 1));
    // exact-match by hand: stripped prediction equals the reference.
    double expect = strip(r["prediction"].get<std::string>()) == r["references"][0].get<std::string>() ? 1.0 : 0.0;
    CHECK(r["score"].get<double>() == expect);
    scores[r["task"].get<std::string>()].push_back(expect);
  }
  CHECK(ids.size() == 10);
  // The image task's max_new_tokens (4) and the text task's (8) come from the task registry.
  for (const auto& r : records) CHECK(r["max_new_tokens"] == (r["task"] == "arith" ? 8 : 4));
  const json& v = res["variants"][0];
  REQUIRE(v["tasks"].size() == 2);
  for (const auto& t : v["tasks"]) {
    auto& s = scores[t["task"].get<std::string>()];
    double mean = 0;
    for (double x : s) mean += x;
    mean /= static_cast<double>(s.size());
    CHECK(t["n"] == s.size());
    CHECK(t["score"].get<double>() == Approx(mean));
    CHECK(t["metric"] == "exact-match");
  }
  CHECK(res["run"]["complete"] == true);
  CHECK(res["run"]["selected"] == 10);
  CHECK(v["weights"]["bits_per_weight"].get<double>() == Approx(32));
  CHECK(v["memory"]["peak_rss_bytes"].get<int64_t>() > 0);
  CHECK(v["memory"]["peak_cuda_bytes"].is_null());
  CHECK(v["latency"]["per_token_s"]["p50"].get<double>() > 0);
  CHECK(v["latency"]["prefill_tokens_per_s"].get<double>() > 0);
  const json& env = res["environment"];
  for (const char* k : {"git_commit", "libtorch_version", "cpu_model", "threads", "gpu", "seeds"}) CHECK(env.contains(k));
  CHECK(res["config_hash"].get<std::string>().rfind("fnv1a64:", 0) == 0);
  // results.json on disk is the document printed with --json.
  CHECK(json::parse(read_file(dir + "/results.json")) == res);
}

TEST_CASE("g4u eval resumes: --limit then full, with a torn last line, loses and redoes nothing", "[integration]") {
  std::string ref_dir;
  const json& ref = reference_run(&ref_dir);
  ScratchDir d;
  std::string out = d / "run";
  std::string base = "eval --model tiny --data " + small_manifest() + " --out " + out + " --batch 1 --json";
  json r1 = run_g4u_json(base + " --limit 3");
  CHECK(r1["run"]["selected"] == 3);
  CHECK(r1["run"]["complete"] == false);
  auto logged = read_jsonl(out + "/samples.jsonl");
  REQUIRE(logged.size() == 3);
  // Simulate a kill mid-write: half of a fourth record, no newline.
  std::string partial = logged[0].dump();
  partial = partial.substr(0, partial.size() / 2);
  write_file(out + "/samples.jsonl", read_file(out + "/samples.jsonl") + partial);
  auto second = run_g4u(base);
  INFO(second.err);
  REQUIRE(second.code == 0);
  json r2 = json::parse(second.out);
  CHECK(r2["run"]["resumed_from_log"] == 3);
  CHECK(r2["run"]["generated"] == 7);
  CHECK(r2["run"]["torn_tail_cut"] == true);
  CHECK(r2["run"]["complete"] == true);
  auto all = read_jsonl(out + "/samples.jsonl");  // parses: the torn piece is gone
  REQUIRE(all.size() == 10);
  auto mine = by_id(all), theirs = by_id(read_jsonl(ref_dir + "/samples.jsonl"));
  REQUIRE(mine.size() == 10);
  for (auto& [id, r] : mine) {
    REQUIRE(theirs.count(id));
    CHECK(r["prediction"] == theirs[id]["prediction"]);
    CHECK(r["prompt_hash"] == theirs[id]["prompt_hash"]);
  }
  CHECK(task_stats(r2) == task_stats(ref));
  // A third run has nothing left to do.
  auto third = run_g4u(base);
  REQUIRE(third.code == 0);
  CHECK(json::parse(third.out)["run"]["generated"] == 0);
  CHECK(read_jsonl(out + "/samples.jsonl").size() == 10);
}

TEST_CASE("g4u eval --shard + g4u merge equals the unsharded run", "[integration]") {
  std::string ref_dir;
  const json& ref = reference_run(&ref_dir);
  ScratchDir d;
  std::vector<std::string> dirs;
  size_t total = 0;
  for (int i = 0; i < 3; ++i) {
    std::string out = d / ("shard" + std::to_string(i));
    auto r = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + out + " --batch 1 --shard " +
                     std::to_string(i) + "/3 --json");
    INFO(r.err);
    REQUIRE(r.code == 0);
    total += read_jsonl(out + "/samples.jsonl").size();
    dirs.push_back(out);
  }
  CHECK(total == 10);
  std::string merged = d / "merged";
  auto m = run_g4u("merge --out " + merged + " " + dirs[0] + " " + dirs[1] + " " + dirs[2] + " --json");
  INFO(m.err);
  REQUIRE(m.code == 0);
  json mres = json::parse(m.out);
  CHECK(task_stats(mres) == task_stats(ref));
  CHECK(mres["config_hash"] == ref["config_hash"]);
  CHECK(mres["run"]["complete"] == true);
  CHECK(mres["run"]["logged"] == 10);
  auto mine = by_id(read_jsonl(merged + "/samples.jsonl")), theirs = by_id(read_jsonl(ref_dir + "/samples.jsonl"));
  REQUIRE(mine.size() == 10);
  for (auto& [id, r] : mine) CHECK(r["prediction"] == theirs[id]["prediction"]);
  CHECK(json::parse(read_file(merged + "/results.json")) == mres);

  // Missing or repeated shards, and a shard of another config, are refused.
  auto missing = run_g4u("merge --out " + (d / "m2") + " " + dirs[0] + " " + dirs[1]);
  CHECK(missing.code == 2);
  CHECK_THAT(missing.err, Contains("missing shards 2/3"));
  CHECK(run_g4u("merge --out " + (d / "m3") + " " + dirs[0] + " " + dirs[1] + " --allow-partial").code == 0);
  auto twice = run_g4u("merge --out " + (d / "m4") + " " + dirs[0] + " " + dirs[0] + " " + dirs[1]);
  CHECK(twice.code == 2);
  CHECK_THAT(twice.err, Contains("given twice"));
  auto mixed = run_g4u("merge --out " + (d / "m5") + " " + dirs[0] + " " + dirs[1] + " " + ref_dir);
  CHECK(mixed.code == 2);
  CHECK_THAT(mixed.err, Contains("shard"));
  // --out naming a shard folder would overwrite that shard's log.
  auto over = run_g4u("merge --out " + dirs[1] + " " + dirs[0] + " " + dirs[1] + " " + dirs[2]);
  CHECK(over.code == 2);
  CHECK_THAT(over.err, Contains("is one of the shard folders"));
  // A shard log that lost a line after its results were written is not merged as complete.
  std::string log = read_file(dirs[2] + "/samples.jsonl");
  write_file(dirs[2] + "/samples.jsonl", log.substr(log.find('\n') + 1));
  auto lost = run_g4u("merge --out " + (d / "m6") + " " + dirs[0] + " " + dirs[1] + " " + dirs[2]);
  CHECK(lost.code == 2);
  CHECK_THAT(lost.err, Contains("lines were lost"));
  json partial = run_g4u_json("merge --out " + (d / "m7") + " " + dirs[0] + " " + dirs[1] + " " + dirs[2] +
                              " --allow-partial --json");
  CHECK(partial["run"]["complete"] == false);
  CHECK(partial["run"]["logged"] == 9);
}

TEST_CASE("g4u eval: batched greedy decoding gives the batch-1 outputs", "[integration]") {
  std::string ref_dir;
  reference_run(&ref_dir);
  ScratchDir d;
  auto r = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "b4") + " --batch 4");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto mine = by_id(read_jsonl(d / "b4/samples.jsonl")), theirs = by_id(read_jsonl(ref_dir + "/samples.jsonl"));
  REQUIRE(mine.size() == 10);
  std::set<int64_t> sizes;
  for (auto& [id, rec] : mine) {
    CHECK(rec["prediction"] == theirs[id]["prediction"]);
    sizes.insert(rec["batch"]["size"].get<int64_t>());
  }
  CHECK(sizes.count(4));  // batches really were formed (6 arith -> 4 + 2, 4 count-shapes -> 4)
  CHECK(sizes.count(2));
}

TEST_CASE("g4u eval: --tasks filter, config mismatch on resume, bad input", "[integration]") {
  ScratchDir d;
  std::string out = d / "arith";
  json res = run_g4u_json("eval --model tiny --data " + small_manifest() + " --out " + out + " --tasks arith --json");
  CHECK(res["run"]["selected"] == 6);
  CHECK(res["run"]["other_tasks"] == 4);
  // Same folder, different tasks: another config.
  auto clash = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + out);
  CHECK(clash.code == 2);
  CHECK_THAT(clash.err, Contains("run.json") && Contains("config_hash"));
  auto unknown = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "u") + " --tasks nope");
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Contains("unknown task 'nope'"));
  CHECK(run_g4u("eval --model tiny --data " + (d / "none.jsonl") + " --out " + (d / "n")).code == 2);
  CHECK(run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "b") + " --batch 0").code == 2);
  CHECK(run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "s") + " --shard 3/3").code == 2);
  // A corrupt line in the middle of the log is not silently dropped.
  std::string log = read_file(out + "/samples.jsonl");
  size_t nl = log.find('\n');
  write_file(out + "/samples.jsonl", log.substr(0, nl + 1) + "{\"v\": 1, \"id\": 5}\n" + log.substr(nl + 1));
  auto corrupt = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + out + " --tasks arith");
  CHECK(corrupt.code == 2);
  CHECK_THAT(corrupt.err, Contains("samples.jsonl:2") && Contains("field 'id'"));
}

TEST_CASE("g4u eval killed with SIGKILL at random points resumes without losing or repeating samples", "[integration]") {
  ScratchDir d;
  REQUIRE(run_g4u("data synth --suite arith --n 40 --seed 2 --out " + (d / "big")).code == 0);
  const std::string args = " eval --model tiny --data " + (d / "big/manifest.jsonl");
  const json whole = run_g4u_json(args + " --out " + (d / "whole") + " --json");
  std::string out = d / "k", log = out + "/samples.jsonl";
  // Kill points: after a random number of logged records (seeded), each run resuming the last.
  std::mt19937 rng(40);
  std::vector<size_t> points;
  for (int i = 0; i < 4; ++i) points.push_back(1 + rng() % 38);
  std::sort(points.begin(), points.end());
  int killed = 0;
  for (size_t at : points) {
    INFO("killed once " << at << " records were logged");
    killed += run_g4u_killed_when(args + " --out " + out, [&] {
      std::ifstream f(log);
      return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(f), {}, '\n')) >= at;
    });
  }
  CHECK(killed >= 3);
  auto r = run_g4u(args + " --out " + out + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  json res = json::parse(r.out);
  CHECK(res["run"]["logged"] == 40);
  CHECK(res["run"]["complete"] == true);
  CHECK(res["run"]["resumed_from_log"].get<int64_t>() + res["run"]["generated"].get<int64_t>() == 40);
  auto all = read_jsonl(log);
  CHECK(all.size() == 40);
  // The same predictions and scores as the uninterrupted run, item for item.
  auto mine = by_id(all), theirs = by_id(read_jsonl(d / "whole/samples.jsonl"));
  REQUIRE(mine.size() == 40);
  for (auto& [id, rec] : mine) {
    CHECK(rec["prediction"] == theirs[id]["prediction"]);
    CHECK(rec["score"] == theirs[id]["score"]);
  }
  CHECK(task_stats(res) == task_stats(whole));
}

TEST_CASE("g4u eval --thinking-budget: the thought's tokens come on top of each task's answer budget", "[integration]") {
  ScratchDir d;
  // --max-new-tokens 2 caps the answers (arith 8, image task 4 -> 2); thinking adds 5 to each.
  auto r = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "think") +
                   " --limit 4 --max-new-tokens 2 --thinking --thinking-budget 5 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const auto& rec : read_jsonl(d / "think/samples.jsonl")) CHECK(rec["max_new_tokens"] == 2 + 5);
  CHECK(json::parse(r.out)["config"]["generation"]["thinking_budget"] == 5);
  // Without it the config (and its hash) is what it was before the option existed.
  auto plain = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "plain") + " --limit 1 --json");
  REQUIRE(plain.code == 0);
  CHECK_FALSE(json::parse(plain.out)["config"]["generation"].contains("thinking_budget"));
  auto refused = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "bad") + " --thinking-budget 5");
  CHECK(refused.code == 2);
  CHECK_THAT(refused.err, Contains("--thinking-budget 5: needs --thinking"));
}

TEST_CASE("g4u eval --draft: speculative decoding beside the plain run, lossless, resumable, merged over shards",
          "[integration]") {
  std::string ref_dir;
  const json& ref = reference_run(&ref_dir);
  ScratchDir d;
  const std::string base = "eval --model tiny --data " + small_manifest() + " --batch 1 --draft tiny-mtp --k 3";
  // Resumable: 4 samples, then all 10 (the log holds each sample's speculative line once).
  auto first = run_g4u(base + " --out " + (d / "spec") + " --limit 4");
  INFO(first.err);
  REQUIRE(first.code == 0);
  json res = run_g4u_json(base + " --out " + (d / "spec") + " --json");
  // The scored outputs are the plain run's, item for item.
  CHECK(task_stats(res) == task_stats(ref));
  auto mine = by_id(read_jsonl(d / "spec/samples.jsonl")), theirs = by_id(read_jsonl(ref_dir + "/samples.jsonl"));
  for (auto& [id, r] : mine) CHECK(r["prediction"] == theirs[id]["prediction"]);
  const json& v = res["variants"][0];
  CHECK(v["drafter"]["draft"] == "tiny-mtp");
  CHECK(v["drafter"]["kind"] == "mtp");
  CHECK(v["drafter"]["k"] == 3);
  const json& s = v["speculative"];
  CHECK(s["checked"] == 10);
  CHECK(s["not_checked"] == 0);
  CHECK(s["mismatches"] == 0);
  CHECK(s["lossless"] == true);
  // The summary from the per-sample lines, by the definitions (quant-and-mtp.md §7.6).
  auto lines = read_jsonl(d / "spec/speculative.jsonl");
  REQUIRE(lines.size() == 10);
  int64_t rounds = 0, drafted = 0, accepted = 0, plain_after = 0, spec_after = 0;
  double plain_s = 0, spec_s = 0;
  std::map<std::string, int64_t> per_task;
  for (const auto& l : lines) {
    CHECK(l["equal"] == true);
    CHECK(l["plain_tokens"] == mine[l["id"].get<std::string>()]["new_tokens"]);
    CHECK(l["position_drafted"].size() <= 3);  // short answers end rounds early
    rounds += l["rounds"].get<int64_t>();
    drafted += l["drafted"].get<int64_t>();
    accepted += l["accepted"].get<int64_t>();
    plain_after += l["plain_tokens"].get<int64_t>() - 1;
    spec_after += l["spec_tokens"].get<int64_t>() - 1;
    plain_s += l["plain_decode_s"].get<double>();
    spec_s += l["spec_decode_s"].get<double>();
    ++per_task[l["task"].get<std::string>()];
  }
  CHECK(s["drafted"] == drafted);
  CHECK(s["rounds"] == rounds);
  CHECK(s["acceptance_rate"].get<double>() == Approx(static_cast<double>(accepted) / static_cast<double>(drafted)));
  CHECK(s["tau"].get<double>() == Approx(1.0 + static_cast<double>(accepted) / static_cast<double>(rounds)));
  CHECK(s["speedup"].get<double>() == Approx((spec_after / spec_s) / (plain_after / plain_s)));
  for (const auto& [task, n] : per_task) CHECK(s["tasks"][task]["checked"] == n);
  CHECK(res["config"]["speculative"]["draft"] == "tiny-mtp");

  // The report shows it, and says it first.
  auto rep = run_g4u("report --out " + (d / "report") + " " + (d / "spec/results.json"));
  REQUIRE(rep.code == 0);
  const std::string md = read_file(d / "report/report.md");
  CHECK_THAT(md, Contains("## Speculative decoding") && Contains("| 10 | 10 of 10 |") &&
                     Contains("Speculative decoding of tiny (\"tiny-mtp\"): lossless on all 10 samples"));

  // Two shards merged: the same checks and counts as the unsharded run.
  std::vector<std::string> dirs;
  for (int i = 0; i < 2; ++i) {
    dirs.push_back(d / ("shard" + std::to_string(i)));
    auto r = run_g4u(base + " --out " + dirs.back() + " --shard " + std::to_string(i) + "/2");
    INFO(r.err);
    REQUIRE(r.code == 0);
  }
  json merged = run_g4u_json("merge --out " + (d / "merged") + " " + dirs[0] + " " + dirs[1] + " --json");
  const json& ms = merged["variants"][0]["speculative"];
  CHECK(ms["checked"] == 10);
  CHECK(ms["lossless"] == true);
  CHECK(ms["drafted"] == s["drafted"]);
  CHECK(ms["accepted"] == s["accepted"]);
  CHECK(read_jsonl(d / "merged/speculative.jsonl").size() == 10);

  // Bad input: batched speculative decoding, a bad k, an unknown drafter.
  auto batched = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "b") + " --batch 2 --draft tiny-mtp");
  CHECK(batched.code == 2);
  CHECK_THAT(batched.err, Contains("--draft") && Contains("--batch 1"));
  auto badk = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "k") + " --batch 1 --draft tiny-mtp --k 0");
  CHECK(badk.code == 2);
  CHECK_THAT(badk.err, Contains("--k 0"));
  auto nodraft = run_g4u("eval --model tiny --data " + small_manifest() + " --out " + (d / "n") + " --batch 1 --draft no-such-drafter");
  CHECK(nodraft.code == 2);
  CHECK_THAT(nodraft.err, Contains("no-such-drafter"));
}
