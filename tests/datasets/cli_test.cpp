// `g4u data ...` end to end: JSON on stdout, messages on stderr, exit codes, determinism across
// processes.
#include "cli_runner.h"
#include "datasets/synth/synth.h"
#include "datasets_test_util.h"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

using namespace g4u::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
const std::string& kFixtures = g4u::test::kBenchmarkFixtures;
}  // namespace

TEST_CASE("g4u data synth --list --json lists every suite with modality and chance", "[integration]") {
  auto r = run_g4u("data synth --list --json");
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["suites"].size() == 14);
  std::set<std::string> modalities;
  for (auto& s : j["suites"]) {
    modalities.insert(s["modality"].get<std::string>());
    CHECK(s.contains("chance"));
    CHECK(s["task"] == s["name"]);
  }
  CHECK(modalities == std::set<std::string>{"image", "audio", "text"});
  auto t = run_g4u("data tasks --json");
  REQUIRE(t.code == 0);
  CHECK(nlohmann::json::parse(t.out)["tasks"].size() == 32);
  auto b = run_g4u("data import --list --json");
  REQUIRE(b.code == 0);
  CHECK(nlohmann::json::parse(b.out)["benchmarks"].size() == 14);
}

TEST_CASE("g4u data synth is byte-identical across processes, and matches the library", "[integration]") {
  ScratchDir dir;
  for (const char* suite : {"spoken-digits"}) {
    std::string a = dir / (std::string(suite) + "-a"), b = dir / (std::string(suite) + "-b");
    auto r1 = run_g4u(std::string("data synth --suite ") + suite + " --n 6 --seed 3 --json --out " + a);
    auto r2 = run_g4u(std::string("data synth --suite ") + suite + " --n 6 --seed 3 --out " + b);
    REQUIRE(r1.code == 0);
    REQUIRE(r2.code == 0);
    auto j = nlohmann::json::parse(r1.out);
    CHECK(j["n"] == 6);
    CHECK(j["seconds"].get<double>() >= 0);
    CHECK_THAT(r2.err, Contains("6 items"));
    CHECK(folder_files(a) == folder_files(b));
    // The same items from this process (espeak-ng state does not leak between items).
    std::string c = dir / (std::string(suite) + "-c");
    g4u::datasets::synthesize({suite, 6, 3, c, false});
    CHECK(folder_files(a) == folder_files(c));
  }
  auto again = run_g4u("data synth --suite arith --n 3 --out " + (dir / "spoken-digits-a"));
  CHECK(again.code == 2);
  CHECK_THAT(again.err, Contains("not empty (pass --overwrite"));
  auto bad = run_g4u("data synth --suite nope --n 3 --out " + (dir / "x"));
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Contains("unknown suite 'nope' (known: count-shapes"));
}

TEST_CASE("g4u data import and check: fixture to manifest, shards, bad manifests", "[integration]") {
  ScratchDir dir;
  auto r = run_g4u("data import --benchmark mmbench --input " + kFixtures + "mmbench --out " + (dir / "mmb") + " --json");
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["lines"] == 3);
  CHECK(j["tasks"]["mmbench-en-dev"] == 3);

  std::set<std::string> all;
  for (int i = 0; i < 2; ++i) {
    auto c = run_g4u("data check --manifest " + (dir / "mmb/manifest.jsonl") + " --shard " + std::to_string(i) +
                     "/2 --ids --json");
    REQUIRE(c.code == 0);
    auto cj = nlohmann::json::parse(c.out);
    for (auto& id : cj["ids"]) CHECK(all.insert(id.get<std::string>()).second);
    CHECK(cj["samples"].get<int>() + cj["other_shards"].get<int>() == 3);
  }
  CHECK(all == std::set<std::string>{"5", "7", "1000005"});

  g4u::test::write_file(dir / "bad/manifest.jsonl",
                        "{\"id\": \"a\", \"task\": \"arith\", \"question\": \"1+1\", \"answers\": [2]}\n"
                        "{\"id\": \"b\", \"task\": \"arith\", \"question\": \"1+1\", \"answers\": [\"2\"]}\n");
  auto strict = run_g4u("data check --manifest " + (dir / "bad/manifest.jsonl"));
  CHECK(strict.code == 2);
  CHECK_THAT(strict.err, Contains("manifest.jsonl:2: field 'answers[0]': expected a JSON number"));
  auto skip = run_g4u("data check --skip-invalid --json --manifest " + (dir / "bad/manifest.jsonl"));
  REQUIRE(skip.code == 0);
  auto sj = nlohmann::json::parse(skip.out);
  CHECK(sj["samples"] == 1);
  CHECK(sj["skipped"] == 1);
  CHECK(sj["skipped_lines"][0]["id"] == "b");
  CHECK(sj["skipped_lines"][0]["line"] == 2);
}
