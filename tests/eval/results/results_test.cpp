// results.json from records: scores recomputed per task, order-independent; schema checks.
#include "base/error.h"
#include "eval/results/results.h"
#include "eval/results/results_test_util.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>

using namespace g4u::runner;
using Catch::Detail::Approx;
using Catch::Matchers::Contains;
using g4u::test::ScratchDir;
using g4u::test::write_file;

namespace {

using g4u::test::results_input;
SampleRecord rec(const std::string& id, const std::string& task, const std::string& metric, const std::string& pred,
                 std::vector<std::string> refs, const std::string& normalizer = "none") {
  return g4u::test::record(id, task, metric, pred, std::move(refs), normalizer);
}

}  // namespace

TEST_CASE("per-task scores: mean, CLT stderr and CI computed by hand", "[unit]") {
  Scorer scorer(ScoringOptions{});
  std::vector<SampleRecord> rs = {rec("d", "arith", "exact-match", " 7 ", {"7"}), rec("a", "arith", "exact-match", "8", {"7"}),
                                  rec("c", "arith", "exact-match", "3", {"3"}), rec("b", "arith", "exact-match", "11", {"11"})};
  for (auto& r : rs) scorer.score_one(r);
  CHECK(rs[0].score == 1.0);  // exact match strips whitespace
  CHECK(rs[1].score == 0.0);
  nlohmann::json res = build_results(results_input(), rs, scorer);
  CHECK(res["schema"] == "g4u.results");
  CHECK(res["schema_version"] == kResultsSchemaVersion);
  CHECK(res["config_hash"] == config_hash(results_input().config));
  const auto& t = res["variants"][0]["tasks"][0];
  CHECK(t["task"] == "arith");
  CHECK(t["n"] == 4);
  CHECK(t["score"].get<double>() == Approx(0.75));
  // scores 1,0,1,1: sample std = 0.5, SE = 0.5 / sqrt(4) = 0.25; right/wrong items get the Wilson
  // interval of 3/4 (z = 1.959964): (p + z²/8 ± z·sqrt(p(1-p)/4 + z²/64)) / (1 + z²/4).
  CHECK(t["stderr"].get<double>() == Approx(0.25));
  CHECK(t["ci95_method"] == "wilson");
  CHECK(t["ci95"][0].get<double>() == Approx(0.30064184258240184));
  CHECK(t["ci95"][1].get<double>() == Approx(0.9544127391902995));
  CHECK(t["failed"] == 0);
  CHECK(res["variants"][0]["samples"] == 4);

  // The same records in another order give the same document.
  std::vector<SampleRecord> shuffled = {rs[2], rs[0], rs[3], rs[1]};
  CHECK(build_results(results_input(), shuffled, scorer)["variants"][0]["tasks"] == res["variants"][0]["tasks"]);
}

TEST_CASE("corpus metrics and per-line normalizers are grouped per task", "[unit]") {
  Scorer scorer(ScoringOptions{});
  // WER over the corpus: 1 substitution in 4 reference words + 0 in 2 = 1/6 (not the mean of 1/4 and 0).
  std::vector<SampleRecord> rs = {rec("1", "spoken-words", "wer", "apple river red one", {"apple river red two"}, "whisper-basic"),
                                  rec("2", "spoken-words", "wer", "Blue, sky!", {"blue sky"}, "whisper-basic"),
                                  rec("3", "fleurs", "wer", "a b", {"a b"}, "whisper-basic"),
                                  rec("4", "fleurs", "wer", "a", {"a c"}, "none")};
  nlohmann::json res = build_results(results_input(), rs, scorer);
  std::map<std::string, nlohmann::json> by_key;
  for (auto& t : res["variants"][0]["tasks"]) by_key[t["key"].get<std::string>()] = t;
  REQUIRE(by_key.count("spoken-words"));
  CHECK(by_key["spoken-words"]["score"].get<double>() == Approx(1.0 / 6));
  CHECK(by_key["spoken-words"]["stderr_method"] == "bootstrap");
  CHECK(by_key.count("fleurs[whisper-basic]"));  // a task whose lines carry two normalizers is split
  CHECK(by_key.count("fleurs[none]"));
  CHECK(by_key["fleurs[none]"]["score"].get<double>() == Approx(0.5));
}

TEST_CASE("failed samples are scored as empty outputs and counted", "[unit]") {
  Scorer scorer(ScoringOptions{});
  SampleRecord f = rec("x", "arith", "exact-match", "", {"4"});
  f.error = "cannot read image";
  f.stopped = false;
  scorer.score_one(f);
  CHECK(f.score == 0.0);
  nlohmann::json res = build_results(results_input(), {f, rec("y", "arith", "exact-match", "4", {"4"})}, scorer);
  CHECK(res["variants"][0]["tasks"][0]["failed"] == 1);
  CHECK(res["variants"][0]["tasks"][0]["hit_max_new_tokens"] == 0);
}

TEST_CASE("read_results: schema name, version and fields are checked", "[unit]") {
  ScratchDir d;
  Scorer scorer(ScoringOptions{});
  std::vector<SampleRecord> rs = {rec("a", "arith", "exact-match", "1", {"1"}), rec("b", "arith", "exact-match", "2", {"1"})};
  for (auto& r : rs) scorer.score_one(r);
  nlohmann::json good = build_results(results_input(), rs, scorer);
  std::string path = d / "results.json";
  write_file(path, good.dump());
  CHECK(read_results(path) == good);
  auto fails = [&](nlohmann::json j, const std::string& what) {
    write_file(path, j.dump());
    CHECK_THROWS_WITH(read_results(path), Contains(path) && Contains(what));
  };
  nlohmann::json j = good;
  j["schema_version"] = 2;
  fails(j, "field 'schema_version': version 2");
  j = good;
  j["schema"] = "other";
  fails(j, "not a g4u results file");
  j = good;
  j["variants"][0].erase("weights");
  fails(j, "variants[0]: field 'weights': missing");
  j = good;
  j["variants"][0]["tasks"][0]["n"] = "2";
  fails(j, "tasks[0]: field 'n'");
  j = good;
  j["variants"][0]["tasks"][0]["metric"] = "accuracy";
  fails(j, "unknown metric 'accuracy'");
  j = good;
  j["variants"][0]["tasks"][0]["ci95"] = {1};
  fails(j, "field 'ci95'");
  // Values a report would print as nonsense (a 500 % exact match, n = -3).
  j = good;
  j["variants"][0]["tasks"][0]["score"] = 5.0;
  fails(j, "outside exact-match's range [0, 1]");
  j = good;
  j["variants"][0]["tasks"][0]["n"] = -3;
  fails(j, "field 'n': -3 is negative");
  j = good;
  j["variants"][0]["tasks"][0]["stderr"] = -0.1;
  fails(j, "field 'stderr'");
  write_file(path, "{\"schema\": ");
  CHECK_THROWS_AS(read_results(path), g4u::InputError);
}

TEST_CASE("config hash ignores key order and sees every value", "[unit]") {
  nlohmann::json a = {{"b", 1}, {"a", {{"y", 2}, {"x", "s"}}}};
  nlohmann::json b;
  b["a"]["x"] = "s";
  b["a"]["y"] = 2;
  b["b"] = 1;
  CHECK(config_hash(a) == config_hash(b));
  b["a"]["y"] = 3;
  CHECK(config_hash(a) != config_hash(b));
  CHECK(config_hash(a).rfind("fnv1a64:", 0) == 0);
  CHECK(config_hash(a).size() == 8 + 16);
}
