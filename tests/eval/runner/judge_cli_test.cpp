// `g4u judge` with the tiny model as judge: the plumbing (which records are sent, one logged
// decision per record, resume, refusal of another judge), judged blocks beside unchanged judge-free
// scores, shards judged alike and merged, and the report's side-by-side table.
#include "eval/runner/runner_test_util.h"

#include <set>

using namespace g4u::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

// 4 `diagram-mc` (mmmu-mc: the tiny model's output rarely parses, so those go to the judge as
// choices) and 4 `arith` samples (exact-match, free-form: all go to the judge).
const std::string& judge_manifest() {
  static ScratchDir dir("judge");
  static std::string manifest = [] {
    std::string img = dir / "mc", txt = dir / "text";
    REQUIRE(run_g4u("data synth --suite diagram-mc --n 4 --seed 2 --out " + img).code == 0);
    REQUIRE(run_g4u("data synth --suite arith --n 4 --seed 2 --out " + txt).code == 0);
    std::string m = img + "/mixed.jsonl";
    write_file(m, read_file(txt + "/manifest.jsonl") + read_file(img + "/manifest.jsonl"));
    return m;
  }();
  return manifest;
}

// The ids that must go to the judge, from the records as logged: every arith record, and the
// mmmu-mc records whose extraction failed.
std::set<std::string> expected_requests(const std::string& samples) {
  std::set<std::string> ids;
  for (const json& r : read_jsonl(samples))
    if (r["metric"] == "exact-match" || (r["metric"] == "mmmu-mc" && r["parsed"] == false)) ids.insert(r["id"].get<std::string>());
  return ids;
}

// The judged blocks and judge totals of a results document (no config or timing).
json judged_parts(const json& results) {
  json out = json::object();
  for (const auto& t : results["variants"][0]["tasks"]) out[t["key"].get<std::string>()] = t.value("judged", json());
  json jb = results["variants"][0]["judge"];
  for (const char* k : {"sent", "judged", "invalid", "missing", "changed"}) out["_" + std::string(k)] = jb[k];
  return out;
}

}  // namespace

TEST_CASE("g4u judge: one logged decision per sent record, judged beside unchanged judge-free scores, resumable",
          "[integration]") {
  ScratchDir dir("judge_cli");
  const std::string run = dir / "eval";
  json before = run_g4u_json("eval --model tiny --data " + judge_manifest() + " --out " + run + " --batch 1 --json");
  const std::set<std::string> sent = expected_requests(run + "/samples.jsonl");
  REQUIRE(sent.size() >= 5);  // 4 arith + at least one unparsed choice

  // A first call cut short by --limit, then a second that finishes: the first decisions are kept.
  json partial = run_g4u_json("judge --run " + run + " --model tiny --batch 1 --limit 3 --json");
  CHECK(read_jsonl(run + "/judge.jsonl").size() == 3);
  CHECK(partial["variants"][0]["judge"]["missing"] == sent.size() - 3);
  CHECK(partial["variants"][0]["judge"]["complete"] == false);
  auto second = run_g4u("judge --run " + run + " --model tiny --batch 1");
  INFO(second.err);
  REQUIRE(second.code == 0);
  CHECK_THAT(second.err, Contains(std::to_string(sent.size()) + " records to judge: 3 decided earlier, " +
                                  std::to_string(sent.size() - 3) + " now"));
  json after = json::parse(read_file(run + "/results.json"));

  // Every sent record has exactly one decision, with the prompt version and hash, and its raw output.
  std::set<std::string> decided;
  std::set<std::string> invalid;
  for (const json& d : read_jsonl(run + "/judge.jsonl")) {
    CHECK(decided.insert(d["id"].get<std::string>()).second);
    CHECK(d["prompt_version"] == "v1");
    CHECK(d["prompt_hash"].get<std::string>().rfind("fnv1a64:", 0) == 0);
    CHECK(d["output"].is_string());
    CHECK(d["kind"] == (d["task"] == "arith" ? "answer" : "choice"));
    if (d["valid"] == false) {
      CHECK(!d["problem"].get<std::string>().empty());
      invalid.insert(d["id"].get<std::string>());
    }
  }
  CHECK(decided == sent);

  // Judge-free blocks unchanged; judged blocks count every sent record once.
  json free_before = task_stats(before), free_after = task_stats(after);
  int64_t invalid_total = 0;
  for (auto& [key, t] : free_after.items()) {
    json judged = t["judged"];
    t.erase("judged");
    CHECK(t == free_before[key]);
    REQUIRE(judged.is_object());
    CHECK(judged["judged"].get<int64_t>() + judged["invalid"].get<int64_t>() + judged["missing"].get<int64_t>() ==
          judged["sent"].get<int64_t>());
    CHECK(judged["missing"] == 0);
    invalid_total += judged["invalid"].get<int64_t>();
    for (const auto& id : judged["invalid_ids"]) CHECK(invalid.count(id.get<std::string>()));
  }
  CHECK(invalid_total == static_cast<int64_t>(invalid.size()));
  const json& jb = after["variants"][0]["judge"];
  CHECK(jb["sent"] == sent.size());
  CHECK(jb["complete"] == true);
  CHECK(jb["config"]["model"]["source"] == "tiny");
  CHECK(jb["config"]["prompt_version"] == "v1");

  // Nothing left: a third call judges nothing; a resumed eval keeps the judged blocks.
  auto third = run_g4u("judge --run " + run + " --model tiny --batch 1");
  CHECK_THAT(third.err, Contains(std::to_string(sent.size()) + " decided earlier, 0 now"));
  json again = run_g4u_json("eval --model tiny --data " + judge_manifest() + " --out " + run + " --batch 1 --json");
  CHECK(judged_parts(again) == judged_parts(after));

  // Another judge config in the same folder is refused, naming the file and field.
  auto other = run_g4u("judge --run " + run + " --model tiny --max-new-tokens-answer 20");
  CHECK(other.code != 0);
  CHECK_THAT(other.err, Contains("judge.json: field 'max_new_tokens'"));
  auto version = run_g4u("judge --run " + run + " --model tiny --prompt-version v9");
  CHECK_THAT(version.err, Contains("--prompt-version 'v9': unknown (known: v1)"));
  auto no_run = run_g4u("judge --run " + (dir / "nowhere") + " --model tiny");
  CHECK_THAT(no_run.err, Contains("nowhere/results.json: missing"));

  // A missing manifest is named before any model is loaded.
  const std::string copy = dir / "copy";
  std::filesystem::create_directories(copy);
  for (const char* f : {"run.json", "samples.jsonl", "results.json"})
    std::filesystem::copy_file(run + "/" + f, copy + "/" + f);
  auto no_data = run_g4u("judge --run " + copy + " --model tiny --data " + (dir / "gone.jsonl"));
  CHECK(no_data.code != 0);
  CHECK_THAT(no_data.err, Contains("gone.jsonl: the manifest of this evaluation is missing"));

  // The report shows both scores side by side and names the invalid judge outputs.
  auto rep = run_g4u("report --out " + (dir / "report") + " " + run + "/results.json");
  REQUIRE(rep.code == 0);
  const std::string md = read_file(dir / "report/report.md");
  CHECK_THAT(md, Contains("## Judged scores beside judge-free scores"));
  CHECK_THAT(md, Contains("| judge-free score | judge-free 95% CI | judged score |"));
  CHECK_THAT(md, Contains("tiny (fp32), prompt v1"));
  for (const std::string& id : invalid) CHECK_THAT(md, Contains(id));
}

TEST_CASE("g4u judge on shards: judged alike, merged equal to judging the unsharded run; a mix is refused",
          "[integration]") {
  ScratchDir dir("judge_shards");
  const std::string whole = dir / "whole";
  run_g4u_json("eval --model tiny --data " + judge_manifest() + " --out " + whole + " --batch 1 --json");
  json judged_whole = run_g4u_json("judge --run " + whole + " --model tiny --batch 1 --json");
  std::string shards;
  for (int i = 0; i < 2; ++i) {
    const std::string out = dir / ("s" + std::to_string(i));
    run_g4u_json("eval --model tiny --data " + judge_manifest() + " --out " + out + " --batch 1 --shard " +
                 std::to_string(i) + "/2 --json");
    shards += " " + out;
  }
  run_g4u_json("judge --run " + (dir / "s0") + " --model tiny --batch 1 --json");
  auto mixed = run_g4u("merge --out " + (dir / "merged") + shards);
  CHECK(mixed.code != 0);
  CHECK_THAT(mixed.err, Contains("s1: not judged, but"));
  run_g4u_json("judge --run " + (dir / "s1") + " --model tiny --batch 1 --json");
  json merged = run_g4u_json("merge --out " + (dir / "merged") + shards + " --json");
  CHECK(judged_parts(merged) == judged_parts(judged_whole));
  CHECK(read_jsonl(dir / "merged/judge.jsonl").size() == read_jsonl(whole + "/judge.jsonl").size());
}
