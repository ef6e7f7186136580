// The "speculative" block of results.json from hand-made per-sample lines (eval/results/speculative.h),
// and reading speculative.jsonl: torn last line, a redone sample, bad lines.
#include "base/error.h"
#include "eval/results/speculative.h"
#include "test_util.h"

#include <catch2/catch.hpp>

using namespace g4u::runner;
using namespace g4u::test;
using Catch::Detail::Approx;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {
SpeculativeSample sample(const std::string& id, const std::string& task, bool equal, int64_t rounds, int64_t drafted,
                         int64_t accepted, std::vector<int64_t> pd, std::vector<int64_t> pa, int64_t plain, double plain_s,
                         int64_t spec, double spec_s) {
  SpeculativeSample s;
  s.id = id;
  s.task = task;
  s.equal = equal;
  s.rounds = rounds;
  s.drafted = drafted;
  s.accepted = accepted;
  s.position_drafted = std::move(pd);
  s.position_accepted = std::move(pa);
  s.plain_tokens = plain;
  s.plain_decode_s = plain_s;
  s.spec_tokens = spec;
  s.spec_decode_s = spec_s;
  s.k_sum = drafted;
  return s;
}
}  // namespace

TEST_CASE("speculative summary: acceptance, tau, per-position acceptance, speedup, losslessness", "[unit]") {
  std::map<std::string, SpeculativeSample> m;
  // a: 4 rounds of k=2: 8 drafted, 5 accepted; positions drafted 4/4, all-accepted prefixes 3 and 2.
  m["a"] = sample("a", "t1", true, 4, 8, 5, {4, 4}, {3, 2}, 11, 1.0, 11, 0.5);
  // b: 2 rounds, 4 drafted, 1 accepted; its tokens differ from the plain run's.
  m["b"] = sample("b", "t2", false, 2, 4, 1, {2, 2}, {1, 0}, 6, 0.5, 6, 0.5);
  json s = summarize_speculative(m, {"a", "b", "c"});  // c: a failed sample without a line
  CHECK(s["checked"] == 2);
  CHECK(s["not_checked"] == 1);
  CHECK(s["mismatches"] == 1);
  CHECK(s["mismatched_ids"] == json::array({"b"}));
  CHECK(s["lossless"] == false);
  CHECK(s["acceptance_rate"].get<double>() == Approx(6.0 / 12.0));
  CHECK(s["tau"].get<double>() == Approx(1.0 + 6.0 / 6.0));
  CHECK(s["per_position_acceptance"][0].get<double>() == Approx(4.0 / 6.0));
  CHECK(s["per_position_acceptance"][1].get<double>() == Approx(2.0 / 6.0));
  // tau = 1 + sum of the per-position acceptances (vLLM's identity).
  CHECK(s["tau"].get<double>() == Approx(1.0 + 4.0 / 6.0 + 2.0 / 6.0));
  // Plain: (10 + 5) tokens after the first in 1.5 s = 10/s; speculative: 15 in 1.0 s = 15/s.
  CHECK(s["plain_decode_tokens_per_s"].get<double>() == Approx(10.0));
  CHECK(s["speculative_decode_tokens_per_s"].get<double>() == Approx(15.0));
  CHECK(s["speedup"].get<double>() == Approx(1.5));
  CHECK(s["mean_k"].get<double>() == Approx(2.0));
  CHECK(s["tasks"]["t1"]["tau"].get<double>() == Approx(1.0 + 5.0 / 4.0));
  CHECK(s["tasks"]["t1"]["speedup"].get<double>() == Approx(2.0));
  CHECK(s["tasks"]["t2"]["mismatches"] == 1);
  json only_a = summarize_speculative(m, {"a"});
  CHECK(only_a["lossless"] == true);
  CHECK(summarize_speculative(m, {"c"})["lossless"] == false);  // nothing checked proves nothing
}

TEST_CASE("speculative.jsonl: a torn last line is ignored, a redone sample's later line wins, bad lines named",
          "[unit]") {
  ScratchDir d;
  const std::string path = d / "speculative.jsonl";
  std::map<std::string, SpeculativeSample> none = read_speculative_log(path);
  CHECK(none.empty());
  SpeculativeSample a = sample("a", "t", true, 1, 2, 1, {1, 1}, {1, 0}, 3, 0.1, 3, 0.1);
  SpeculativeSample a2 = a;
  a2.accepted = 2;
  a2.position_accepted = {1, 1};
  const std::string line_a = speculative_sample_to_json(a).dump(), line_a2 = speculative_sample_to_json(a2).dump();
  write_file(path, line_a + "\n" + line_a2 + "\n" + line_a.substr(0, 20));
  auto m = read_speculative_log(path);
  REQUIRE(m.size() == 1);
  CHECK(m.at("a").accepted == 2);
  CHECK(speculative_sample_to_json(m.at("a")) == json::parse(line_a2));
  // Repair cuts the torn tail, so that a line appended next stands on its own.
  read_speculative_log(path, /*repair=*/true);
  CHECK(read_file(path) == line_a + "\n" + line_a2 + "\n");
  write_file(path, line_a + "\n" + line_a2 + "\n" + line_a.substr(0, 20) + std::string("\0\0\n", 3));  // zero-filled last line
  CHECK(read_speculative_log(path).size() == 1);
  write_file(path, line_a.substr(0, 20) + "\n" + line_a2 + "\n");
  CHECK_THROWS_WITH(read_speculative_log(path), Contains(path + ":1") && Contains("invalid JSON"));
  json bad = json::parse(line_a);
  bad["accepted"] = 5;  // more than drafted
  write_file(path, bad.dump() + "\n");
  CHECK_THROWS_WITH(read_speculative_log(path), Contains(path + ":1") && Contains("accepted > drafted"));
  bad = json::parse(line_a);
  bad.erase("rounds");
  write_file(path, bad.dump() + "\n");
  CHECK_THROWS_WITH(read_speculative_log(path), Contains(path + ":1") && Contains("rounds"));
}
