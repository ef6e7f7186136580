// Judged scores (eval/results/judge_log.h): which records go to the judge, what a judge output
// means, and the judged blocks computed from hand-made records and decisions with known scores.
#include "base/error.h"
#include "base/json_util.h"
#include "eval/results/judge_log.h"
#include "eval/results/results_test_util.h"
#include "test_util.h"

#include <filesystem>

using namespace g4u::runner;
using Catch::Detail::Approx;
using Catch::Matchers::Contains;
using g4u::test::ScratchDir;
using g4u::test::write_file;

namespace {

SampleRecord mc(const std::string& id, const std::string& pred, const std::string& ref) {
  SampleRecord r = g4u::test::record(id, "mmmu-val", "mmmu-mc", pred, {ref});
  r.choices = {"cat", "dog", "cow"};
  return r;
}

JudgeDecision decision(const std::string& id, const std::string& task, JudgeKind kind, const std::string& output,
                       size_t choices = 3) {
  JudgeDecision d;
  d.id = id;
  d.task = task;
  d.kind = kind;
  d.prompt_version = "v1";
  d.prompt_hash = "fnv1a64:0000000000000000";
  d.output = output;
  d.stopped = true;
  d.verdict = parse_judge_output(kind, output, choices, true, "gemma4");
  return d;
}

JudgeRecords judge_of(std::vector<JudgeDecision> ds) {
  JudgeRecords j;
  j.config = {{"schema", kJudgeConfigSchema}, {"prompt_version", "v1"}, {"config_hash", "fnv1a64:1"},
              {"model", {{"source", "judge-model"}, {"dtype", "fp32"}}}};
  for (auto& d : ds) j.decisions[d.id] = d;
  return j;
}

// Wilson interval of k/n at z = 1.959964 (the results' CI for right/wrong items).
std::pair<double, double> wilson(double k, double n) {
  const double z = 1.959963984540054, p = k / n, z2 = z * z;
  const double mid = p + z2 / (2 * n), half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)), den = 1 + z2 / n;
  return {(mid - half) / den, (mid + half) / den};
}

}  // namespace

TEST_CASE("judge_kind: unparsed multiple choice and every free-form record go to the judge", "[unit]") {
  SampleRecord r = mc("a", "x", "A");
  CHECK(!judge_kind(r, true));
  CHECK(judge_kind(r, false) == JudgeKind::kChoice);
  r.error = "unreadable image";
  CHECK(!judge_kind(r, false));  // nothing was generated

  SampleRecord mv = g4u::test::record("m", "mathvista", "mathvista", "x", {"3"});
  mv.question_type = "free_form";
  CHECK(judge_kind(mv, true) == JudgeKind::kAnswer);
  mv.question_type = "multi_choice";
  CHECK(!judge_kind(mv, true));
  CHECK(judge_kind(mv, false) == JudgeKind::kChoice);

  SampleRecord vis = g4u::test::record("v", "mathvision", "mathvision", "x", {"4"});
  CHECK(judge_kind(vis, true) == JudgeKind::kAnswer);
  vis.choices = {"1", "2"};
  CHECK(!judge_kind(vis, true));

  for (const char* metric : {"mmau", "anls", "vqa-accuracy", "wer", "cer", "bleu", "chrf"})
    CHECK(!judge_kind(g4u::test::record("z", "t", metric, "x", {"y"}), false));
  for (const char* metric : {"mmmu-open", "relaxed-accuracy", "exact-match"})
    CHECK(judge_kind(g4u::test::record("z", "t", metric, "x", {"y"}), true) == JudgeKind::kAnswer);
}

TEST_CASE("parse_judge_output: option letters, Z, extracted answers and garbage", "[unit]") {
  auto choice = [](const std::string& out, size_t n = 4) { return parse_judge_output(JudgeKind::kChoice, out, n, true, "gemma4"); };
  for (const char* ok : {"B", " B\n", "B.", "(B)", "B)", "Answer: B", "answer:B"}) {
    INFO(ok);
    JudgeVerdict v = choice(ok);
    CHECK(v.valid);
    CHECK(v.answer == std::optional<std::string>("B"));
  }
  JudgeVerdict none = choice("Z");
  CHECK(none.valid);
  CHECK(!none.answer);
  for (const char* bad : {"E", "b", "B or C", "", "The answer is B", "BB"}) {
    INFO(bad);
    JudgeVerdict v = choice(bad);
    CHECK(!v.valid);
    CHECK_THAT(v.problem, Contains("expected one option letter A-D or Z"));
  }
  // The judge's own reasoning trace is stripped first; an output cut inside it is invalid.
  CHECK(choice("<|channel>thought\nit says dog<channel|>B").answer == std::optional<std::string>("B"));
  CHECK_THAT(choice("<|channel>thought\nit says").problem, Contains("inside its reasoning trace"));

  auto answer = [](const std::string& out, bool stopped = true) {
    return parse_judge_output(JudgeKind::kAnswer, out, 0, stopped, "gemma4");
  };
  CHECK(answer("42\nbecause 6 * 7").answer == std::optional<std::string>("42"));
  CHECK(answer("\n  Answer: 3.5 \n").answer == std::optional<std::string>("3.5"));
  CHECK(answer("42\n", false).answer == std::optional<std::string>("42"));  // the line ended before the limit
  CHECK(answer("NONE").valid);
  CHECK(!answer("none").answer);
  CHECK_THAT(answer("  ").problem, Contains("empty output"));
  CHECK_THAT(answer("42 and then", false).problem, Contains("token limit"));
  CHECK_THAT(answer("4<unused7>2").problem, Contains("special tokens"));
  CHECK_THAT(answer("a\x01" "b").problem, Contains("control characters"));
  CHECK_THAT(answer(std::string(201, 'x')).problem, Contains("201 bytes"));
}

TEST_CASE("judged scores: hand-made records and decisions with known judge-free and judged scores", "[unit]") {
  Scorer scorer(ScoringOptions{});
  std::vector<SampleRecord> rs = {
      mc("a", "(A)", "A"),            // parsed, right: not sent
      mc("b", "(C)", "B"),            // parsed, wrong: not sent
      mc("c", "I am not sure", "B"),  // unparsed: the judge says B (right)
      mc("d", "no idea at all", "C"), // unparsed: the judge's output is garbage
      g4u::test::record("e", "arith", "exact-match", "The answer is 4", {"4"}),  // judged "4": right
      g4u::test::record("f", "arith", "exact-match", "5", {"5"}),                // judged NONE: wrong
      g4u::test::record("g", "arith", "exact-match", "7", {"7"}),                // no decision yet
      g4u::test::record("i", "docvqa-val", "anls", "x", {"y"}),                  // never sent
  };
  for (auto& r : rs) scorer.score_one(r);
  REQUIRE(!rs[2].parsed);
  REQUIRE(!rs[3].parsed);

  JudgeRecords judge = judge_of({decision("c", "mmmu-val", JudgeKind::kChoice, "B"),
                                 decision("d", "mmmu-val", JudgeKind::kChoice, "I think <unused3>"),
                                 decision("e", "arith", JudgeKind::kAnswer, "4"), decision("f", "arith", JudgeKind::kAnswer, "NONE"),
                                 decision("elsewhere", "arith", JudgeKind::kAnswer, "1")});
  CHECK(judged_prediction(judge.decisions.at("c")) == "B");
  CHECK(judged_prediction(judge.decisions.at("f")) == "");

  nlohmann::json res = build_results(g4u::test::results_input(), rs, scorer);
  add_judged_scores(res, rs, judge, scorer);
  std::map<std::string, nlohmann::json> by_task;
  for (const auto& t : res["variants"][0]["tasks"]) by_task[t["key"].get<std::string>()] = t;

  const auto& m = by_task.at("mmmu-val");
  CHECK(m["score"].get<double>() == Approx(0.25));  // judge-free: a only, unchanged
  const auto& mj = m["judged"];
  CHECK(mj["score"].get<double>() == Approx(0.5));   // a and c
  CHECK(mj["n"] == 4);
  CHECK(mj["sent"] == 2);
  CHECK(mj["judged"] == 1);
  CHECK(mj["changed"] == 1);
  CHECK(mj["invalid"] == 1);
  CHECK(mj["invalid_ids"] == nlohmann::json::array({"d"}));
  CHECK(mj["missing"] == 0);
  auto [lo, hi] = wilson(2, 4);
  CHECK(mj["ci95"][0].get<double>() == Approx(lo));
  CHECK(mj["ci95"][1].get<double>() == Approx(hi));

  const auto& a = by_task.at("arith");
  CHECK(a["score"].get<double>() == Approx(2.0 / 3));  // f and g right, e's sentence is not "4"
  const auto& aj = a["judged"];
  CHECK(aj["score"].get<double>() == Approx(2.0 / 3));  // e right now, f judged "no answer", g kept
  CHECK(aj["sent"] == 3);
  CHECK(aj["judged"] == 2);
  CHECK(aj["no_answer"] == 1);
  CHECK(aj["changed"] == 2);
  CHECK(aj["missing"] == 1);
  CHECK(aj["missing_ids"] == nlohmann::json::array({"g"}));

  CHECK(by_task.at("docvqa-val")["judged"].is_null());

  const auto& jb = res["variants"][0]["judge"];
  CHECK(jb["sent"] == 5);
  CHECK(jb["judged"] == 3);
  CHECK(jb["invalid"] == 1);
  CHECK(jb["missing"] == 1);
  CHECK(jb["complete"] == false);
  CHECK(jb["decisions_for_unknown_ids"] == 1);
  CHECK(jb["tasks"] == nlohmann::json::array({"arith", "mmmu-val"}));

  // The document passes the results reader's checks, and a broken judged block is named.
  ScratchDir dir;
  write_file(dir / "results.json", res.dump());
  CHECK_NOTHROW(read_results(dir / "results.json"));
  nlohmann::json broken = res;
  broken["variants"][0]["tasks"][0]["judged"]["invalid"] = "many";
  write_file(dir / "broken.json", broken.dump());
  CHECK_THROWS_WITH(read_results(dir / "broken.json"), Contains("judged: field 'invalid': expected an integer"));
  broken = res;
  broken["variants"][0]["judge"]["config"].erase("model");
  write_file(dir / "broken2.json", broken.dump());
  CHECK_THROWS_WITH(read_results(dir / "broken2.json"), Contains("judge.config: field 'model': missing"));
}

TEST_CASE("judge logs: round trip, torn tail, and a log without its config", "[unit]") {
  ScratchDir dir;
  JudgeDecision d = decision("x", "arith", JudgeKind::kAnswer, "12\n");
  d.new_tokens = 3;
  JudgeDecision back = judge_decision_from_json(judge_decision_to_json(d), "here");
  CHECK(judge_decision_to_json(back) == judge_decision_to_json(d));

  CHECK(!read_judge_records(dir.path));  // not judged
  write_file(dir / kJudgeLogFile, judge_decision_to_json(d).dump() + "\n");
  CHECK_THROWS_WITH(read_judge_records(dir.path), Contains("a judge log without judge.json"));

  nlohmann::json config = {{"schema", kJudgeConfigSchema}, {"prompt_version", "v1"}, {"config_hash", "fnv1a64:1"}};
  write_file(dir / kJudgeConfigFile, config.dump());
  const std::string torn = judge_decision_to_json(decision("y", "arith", JudgeKind::kAnswer, "3")).dump();
  write_file(dir / kJudgeLogFile, judge_decision_to_json(d).dump() + "\n" + torn.substr(0, torn.size() / 2));
  auto j = read_judge_records(dir.path, /*repair=*/true);
  REQUIRE(j);
  CHECK(j->decisions.size() == 1);
  CHECK(g4u::test::read_file(dir / kJudgeLogFile) == judge_decision_to_json(d).dump() + "\n");  // torn tail cut

  nlohmann::json other = judge_decision_to_json(d);
  other["prompt_version"] = "v0";
  write_file(dir / kJudgeLogFile, other.dump() + "\n" + other.dump() + "\n");
  CHECK_THROWS_WITH(read_judge_records(dir.path), Contains("judge.jsonl:1: field 'prompt_version': \"v0\""));
  other = judge_decision_to_json(d);
  other["kind"] = "vibes";
  write_file(dir / kJudgeLogFile, other.dump() + "\n" + other.dump() + "\n");
  CHECK_THROWS_WITH(read_judge_records(dir.path), Contains("judge.jsonl:1.kind: expected \"choice\" or \"answer\""));
}
