// Breakdowns in results.json on hand-made sample logs with known per-group scores (worked out by
// hand in the comments), and their recomputation by `g4u merge` from shard folders.
#include "datasets/manifest/shard.h"
#include "eval/results/breakdowns.h"
#include "eval/results/merge.h"
#include "eval/results/results.h"
#include "eval/results/results_test_util.h"
#include "test_util.h"

#include <cmath>
#include <map>

using namespace g4u::runner;
using Catch::Detail::Approx;
using namespace g4u::test;  // ScratchDir, write_file, record, results_input
using json = nlohmann::json;

namespace {

constexpr double kZ = 1.959963984540054;

// A record in the given breakdown groups.
SampleRecord grouped_record(const std::string& id, const std::string& task, const std::string& metric,
                            const std::string& pred, const std::string& ref,
                            std::map<std::string, std::vector<std::string>> breakdown,
                            const std::string& normalizer = "none") {
  SampleRecord r = g4u::test::record(id, task, metric, pred, {ref}, normalizer);
  r.breakdown = std::move(breakdown);
  return r;
}

// The records go through a sample log file, as results.json and `g4u merge` read them.
std::vector<SampleRecord> through_log(const ScratchDir& dir, std::vector<SampleRecord> rs) {
  Scorer scorer(ScoringOptions{});
  std::string text;
  for (auto& r : rs) {
    scorer.score_one(r);
    text += record_to_json(r).dump() + "\n";
  }
  write_file(dir / "samples.jsonl", text);
  return read_sample_log(dir / "samples.jsonl").records;
}

// MMMU: multiple-choice and open records of two subjects (one record without a subject).
std::vector<SampleRecord> mmmu_records() {
  const std::vector<std::string> abc = {"x", "y", "z"};
  auto mc = [&](const std::string& id, const std::string& pred, const std::string& gold,
                std::map<std::string, std::vector<std::string>> b) {
    SampleRecord r = grouped_record(id, "mmmu-val-mc", "mmmu-mc", pred, gold, std::move(b));
    r.choices = abc;
    return r;
  };
  std::map<std::string, std::vector<std::string>> art = {{"subject", {"Art"}}, {"discipline", {"Art & Design"}}};
  std::map<std::string, std::vector<std::string>> math = {{"subject", {"Math"}}, {"discipline", {"Science"}}};
  return {mc("m1", "(A)", "A", art),  // right
          mc("m2", "(B)", "A", art),  // wrong
          mc("m3", "(C)", "C", math),  // right
          grouped_record("m4", "mmmu-val-open", "mmmu-open", "42", "42", math),  // right
          grouped_record("m5", "mmmu-val-open", "mmmu-open", "7", "42", math),   // wrong
          mc("m6", "(A)", "A", {})};  // no subject: counted, in no group
}

const json& breakdown(const json& results, const std::string& benchmark, const std::string& by) {
  for (const json& b : results["variants"][0]["breakdowns"])
    if (b["benchmark"] == benchmark && b["by"] == by) return b;
  FAIL("no breakdown " << benchmark << " by " << by);
  static json none;
  return none;
}

const json& group(const json& b, const std::string& name) {
  for (const json& g : b["groups"])
    if (g["group"] == name) return g;
  FAIL("no group " << name);
  static json none;
  return none;
}

}  // namespace

TEST_CASE("breakdowns: MMMU per subject and discipline, tasks pooled, CIs by hand", "[unit]") {
  ScratchDir dir;
  Scorer scorer(ScoringOptions{});
  json res = build_results(g4u::test::results_input(), through_log(dir, mmmu_records()), scorer);
  const json& subject = breakdown(res, "mmmu", "subject");
  CHECK(subject["records"] == 6);
  CHECK(subject["records_without_group"] == 1);
  CHECK(subject["tasks"] == json({"mmmu-val-mc", "mmmu-val-open"}));
  // Art: scores 1, 0 of one task: mean 0.5, sample std 0.7071, SE 0.7071 / sqrt(2) = 0.5.
  const json& art = group(subject, "Art");
  CHECK(art["n"] == 2);
  CHECK(art["score"].get<double>() == Approx(0.5));
  CHECK(art["stderr"].get<double>() == Approx(0.5));
  CHECK(art["stderr_method"] == "clt");
  // Right/wrong items: the Wilson interval of 1/2 with n = 2 (the normal one would be 0.5 -+ kZ * 0.5).
  CHECK(art["ci95"][0].get<double>() == Approx(0.09453120573423074));
  CHECK(art["ci95"][1].get<double>() == Approx(0.9054687942657693));
  // Math: 1 (mc) and 1, 0 (open) pooled: mean 2/3; squared deviations 1/9 + 1/9 + 4/9 = 2/3, variance
  // 1/3, SE sqrt(1/3) / sqrt(3) = 1/3.
  const json& math = group(subject, "Math");
  CHECK(math["n"] == 3);
  CHECK(math["samples"] == 3);
  CHECK(math["score"].get<double>() == Approx(2.0 / 3));
  CHECK(math["stderr"].get<double>() == Approx(1.0 / 3));
  CHECK(math["ci95"][1].get<double>() == Approx(0.9385080552796037));  // Wilson, 2 of 3
  // Macro: (0.5 + 2/3) / 2 = 7/12; SE sqrt(0.5^2 + (1/3)^2) / 2 = sqrt(13) / 12.
  const json& macro = subject["macro"];
  CHECK(macro["groups"] == 2);
  CHECK(macro["score"].get<double>() == Approx(7.0 / 12));
  CHECK(macro["stderr"].get<double>() == Approx(std::sqrt(13.0) / 12));
  CHECK(macro["ci95"][0].get<double>() == Approx(7.0 / 12 - kZ * std::sqrt(13.0) / 12));
  // Disciplines group the same records here.
  const json& disc = breakdown(res, "mmmu", "discipline");
  CHECK(group(disc, "Science")["score"] == math["score"]);
  CHECK(group(disc, "Art & Design")["score"] == art["score"]);
  // Every key of a task entry is still there.
  CHECK(res["variants"][0]["tasks"].size() == 2);
}

TEST_CASE("breakdowns: FLEURS per language (corpus WER and CER) with a macro average", "[unit]") {
  ScratchDir dir;
  Scorer scorer(ScoringOptions{});
  auto lang = [](const char* l) { return std::map<std::string, std::vector<std::string>>{{"language", {l}}}; };
  std::vector<SampleRecord> rs = {
      grouped_record("f1", "fleurs", "wer", "a b c d", "a b c x", lang("en_us"), "whisper-basic"),  // 1 substitution / 4 words
      grouped_record("f2", "fleurs", "wer", "e f", "e f", lang("en_us"), "whisper-basic"),          // 0 / 2
      grouped_record("f3", "fleurs", "wer", "g h", "g i", lang("fr_fr"), "whisper-basic"),          // 1 / 2
      grouped_record("f4", "fleurs-cer", "cer", "你好", "你们", lang("cmn_hans_cn"), "whisper-basic")};  // 1 / 2 characters
  json res = build_results(g4u::test::results_input(), through_log(dir, rs), scorer);
  const json& b = breakdown(res, "fleurs", "language");
  CHECK(b["metrics"] == json({"cer", "wer"}));
  // en_us: corpus WER (1 + 0) / (4 + 2) = 1/6, not the mean of 1/4 and 0.
  CHECK(group(b, "en_us")["score"].get<double>() == Approx(1.0 / 6));
  CHECK(group(b, "en_us")["stderr_method"] == "bootstrap");
  CHECK(group(b, "en_us")["ci95"].is_array());
  CHECK(group(b, "fr_fr")["score"].get<double>() == Approx(0.5));
  CHECK(group(b, "cmn_hans_cn")["score"].get<double>() == Approx(0.5));
  // Macro over the three languages: (1/6 + 1/2 + 1/2) / 3 = 7/18; SE from the groups' bootstrap SEs.
  CHECK(b["macro"]["score"].get<double>() == Approx(7.0 / 18));
  double var = 0;
  for (const json& g : b["groups"]) var += std::pow(g["stderr"].get<double>(), 2);
  CHECK(b["macro"]["stderr"].get<double>() == Approx(std::sqrt(var) / 3));
}

TEST_CASE("breakdowns: MathVista skills put a record in every group it names", "[unit]") {
  ScratchDir dir;
  Scorer scorer(ScoringOptions{});
  auto mv = [](const std::string& id, const std::string& pred, std::vector<std::string> skills) {
    SampleRecord r = grouped_record(id, "mathvista-testmini", "mathvista", pred, "4",
                         {{"skill", std::move(skills)}, {"task_type", {"figure question answering"}}});
    r.question_type = "free_form";
    r.answer_type = "integer";
    return r;
  };
  json res = build_results(g4u::test::results_input(), through_log(dir, {mv("1", "4", {"arithmetic", "statistical"}), mv("2", "5", {"arithmetic"})}),
                           scorer);
  const json& b = breakdown(res, "mathvista", "skill");
  CHECK(group(b, "arithmetic")["n"] == 2);
  CHECK(group(b, "arithmetic")["score"].get<double>() == Approx(0.5));
  CHECK(group(b, "statistical")["score"].get<double>() == Approx(1.0));
  CHECK(group(b, "statistical")["stderr"].is_null());  // one item: no sample std
  CHECK(b["macro"]["score"].get<double>() == Approx(0.75));
  CHECK(b["macro"]["stderr"].is_null());
  CHECK(b["macro"]["method"].get<std::string>().find("approximate") != std::string::npos);
  CHECK(group(breakdown(res, "mathvista", "task_type"), "figure question answering")["score"].get<double>() ==
        Approx(0.5));
}

TEST_CASE("g4u merge recomputes the breakdowns from the shards' records", "[integration]") {
  ScratchDir dir;
  Scorer scorer(ScoringOptions{});
  std::vector<SampleRecord> all = through_log(dir, mmmu_records());
  json whole = build_results(g4u::test::results_input(), all, scorer);
  const g4u::datasets::Shard shards[2] = {{0, 2}, {1, 2}};
  std::vector<std::string> dirs;
  for (const auto& shard : shards) {
    std::string d = dir / ("shard" + std::to_string(shard.index));
    std::filesystem::create_directories(d);
    std::vector<SampleRecord> mine;
    std::string text;
    for (const SampleRecord& r : all)
      if (g4u::datasets::in_shard(r.id, shard)) {
        mine.push_back(r);
        text += record_to_json(r).dump() + "\n";
      }
    write_file(d + "/samples.jsonl", text);
    ResultsInput in = g4u::test::results_input();
    in.run = {{"complete", true}, {"selected", mine.size()}};
    json res = build_results(in, mine, scorer);
    write_file(d + "/results.json", res.dump());
    write_file(d + "/run.json", json({{"config_hash", res["config_hash"]}, {"shard", shard.str()}}).dump());
    dirs.push_back(d);
  }
  MergeOptions mo;
  mo.dirs = dirs;
  mo.out = dir / "merged";
  json merged = merge_shards(mo);
  CHECK(merged["variants"][0]["breakdowns"] == whole["variants"][0]["breakdowns"]);
  CHECK(read_results(dir / "merged/results.json")["variants"][0]["breakdowns"] == whole["variants"][0]["breakdowns"]);
}

TEST_CASE("read_results checks the breakdowns it will show", "[unit]") {
  ScratchDir dir;
  Scorer scorer(ScoringOptions{});
  json good = build_results(results_input(), through_log(dir, mmmu_records()), scorer);
  std::string path = dir / "results.json";
  auto fails = [&](json j, const std::string& what) {
    write_file(path, j.dump());
    CHECK_THROWS_WITH(read_results(path), Catch::Matchers::Contains(path) && Catch::Matchers::Contains(what));
  };
  json j = good;
  j["variants"][0]["breakdowns"] = json::object();
  fails(j, "field 'breakdowns': expected a list");
  j = good;
  j["variants"][0]["breakdowns"][0]["groups"][0]["score"] = "0.5";
  fails(j, "variants[0].breakdowns[0].groups[0]: field 'score'");
  j = good;
  j["variants"][0]["breakdowns"][1].erase("macro");
  fails(j, "breakdowns[1]: field 'macro': missing");
  j = good;
  j["variants"][0].erase("breakdowns");  // results files written before breakdowns existed
  write_file(path, j.dump());
  CHECK(read_results(path) == j);
}
