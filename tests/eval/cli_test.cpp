// `g4u normalize` and `g4u score` end to end: stdout, stderr and exit codes.
#include "cli_runner.h"
#include "eval_test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using g4u::test::CliResult;
using g4u::test::run_g4u;

namespace {

// A file in a scratch folder shared by the CLI tests of this process.
std::string write_tmp(const std::string& name, const std::string& content) {
  static g4u::test::ScratchDir dir("eval_cli");
  g4u::test::write_file(dir / name, content);
  return dir / name;
}

}  // namespace

TEST_CASE("g4u normalize: one line out per line in, spaces kept", "[integration]") {
  CliResult r = run_g4u("normalize --normalizer whisper-basic", "Hello, World!\n  (x) y\n\n");
  CHECK(r.code == 0);
  CHECK(r.out == "hello world \n y\n\n");
  CliResult e = run_g4u("normalize --normalizer whisper-en --spellings " + g4u::test::spelling_file(),
                        "Mr. Smith's colour\ntwenty one\n");
  CHECK(e.code == 0);
  CHECK(e.out == "mister smith is color\n21\n");
  CliResult v = run_g4u("normalize --normalizer vqa", "Two dogs.\n");
  CHECK(v.out == "2 dogs\n");
}

TEST_CASE("g4u normalize: bad input exits 2", "[integration]") {
  CHECK(run_g4u("normalize --normalizer whisper-basic", "ok\nbad \xff byte\n").code == 2);
  CHECK(run_g4u("normalize --normalizer nope", "x\n").code == 2);
  CHECK(run_g4u("normalize --normalizer whisper-en --spellings /nonexistent.json", "x\n").code == 2);
}

TEST_CASE("g4u score: JSON document with per-item results", "[integration]") {
  std::string f = write_tmp("mc.jsonl",
                            "{\"prediction\": \"The answer is (B).\", \"references\": [\"B\"], \"choices\": [\"cat\", \"dog\"]}\n"
                            "{\"prediction\": \"A\", \"references\": [\"B\"], \"choices\": [\"cat\", \"dog\"]}\n"
                            "\n"
                            "{\"prediction\": \"<|channel>thought\\n<channel|>B\", \"references\": [\"B\"], \"choices\": [\"cat\", \"dog\"]}\n");
  CliResult r = run_g4u("score --metric mmmu-mc --input " + f + " --per-item --json");
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["metric"] == "mmmu-mc");
  CHECK(j["n"] == 3);
  CHECK(j["score"].get<double>() == Catch::Detail::Approx(2.0 / 3));
  CHECK(j["ci95"].size() == 2);
  CHECK(j["ci95_method"] == "wilson");
  CHECK(j["ci95"][0].get<double>() == Catch::Detail::Approx(0.20765960080204765));  // 2 of 3, by hand
  CHECK(j["per_item"][1]["extracted"] == "A");
  CHECK(j["per_item"][2]["score"] == 1.0);
  std::string w = write_tmp("wer.jsonl", "{\"prediction\": \"a b\", \"references\": [\"a b c\"]}\n");
  CliResult wr = run_g4u("score --metric wer --input " + w + " --json");
  REQUIRE(wr.code == 0);
  auto wj = nlohmann::json::parse(wr.out);
  CHECK(wj["score"].get<double>() == Catch::Detail::Approx(1.0 / 3));
  CHECK(wj["deletions"] == 1);
  CHECK(wj["stderr_method"] == "bootstrap");
}

TEST_CASE("g4u score: bad input names file:line and field, exit 2", "[integration]") {
  struct BadInput {
    std::string file, content, metric, message;
  };
  const BadInput cases[] = {
      {"missing.jsonl", "{\"prediction\": \"x\", \"references\": [\"x\"]}\n{\"prediction\": \"x\"}\n", "exact-match",
       ":2: field 'references': missing"},
      {"type.jsonl", "{\"prediction\": 3, \"references\": [\"x\"]}\n", "exact-match",
       ":1: field 'prediction': expected a string"},
      {"empty.jsonl", "{\"prediction\": \"x\", \"references\": []}\n", "exact-match",
       "field 'references': the list is empty"},
      {"utf8.jsonl", "{\"prediction\": \"ok\", \"references\": [\"bad \xff\"]}\n", "exact-match",
       ":1: field 'references': invalid UTF-8"},
      {"nochoice.jsonl", "{\"prediction\": \"A\", \"references\": [\"A\"]}\n", "mmmu-mc", "field 'choices': missing"},
      {"ok.jsonl", "{\"prediction\": \"A\", \"references\": [\"A\"]}\n", "accuracy", "known: exact-match"},
      {"badjson.jsonl", "{\"prediction\": \n", "exact-match", ":1: invalid JSON"},
  };
  for (const BadInput& c : cases) {
    INFO(c.file);
    CliResult r = run_g4u("score --metric " + c.metric + " --input " + write_tmp(c.file, c.content));
    CHECK(r.code == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
  }
}
