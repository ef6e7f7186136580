// `g4u normalize` and `g4u score` end to end: stdout, stderr and exit codes.
#include "test_paths.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>

namespace {

struct Run {
  int code = -1;
  std::string out;
};

// Runs `cmd` through the shell with stdin from a file holding `input`; captures stdout.
Run run(const std::string& args, const std::string& input = "") {
  static int counter = 0;
  std::string in_path = (std::filesystem::temp_directory_path() / ("g4u_eval_cli_in_" + std::to_string(::getpid()) + "_" + std::to_string(counter++))).string();
  {
    std::ofstream f(in_path, std::ios::binary);
    f << input;
  }
  std::string cmd = std::string(G4U_BINARY) + " " + args + " < " + in_path + " 2>/dev/null";
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::filesystem::remove(in_path);
  return r;
}

std::string write_tmp(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() / ("g4u_eval_cli_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream f(path, std::ios::binary);
  f << content;
  return path.string();
}

std::string spellings() {
  std::string p = std::string(G4U_SHARED_DATA_DIR) + "/whisper_english_spellings.json";
  const char* env = std::getenv("G4U_SPELLINGS");
  if (!std::filesystem::exists(p) && env) p = env;
  return p;
}

}  // namespace

TEST_CASE("g4u normalize: one line out per line in, spaces kept", "[integration]") {
  Run r = run("normalize --normalizer whisper-basic", "Hello, World!\n  (x) y\n\n");
  CHECK(r.code == 0);
  CHECK(r.out == "hello world \n y\n\n");
  Run e = run("normalize --normalizer whisper-en --spellings " + spellings(), "Mr. Smith's colour\ntwenty one\n");
  CHECK(e.code == 0);
  CHECK(e.out == "mister smith is color\n21\n");
  Run v = run("normalize --normalizer vqa", "Two dogs.\n");
  CHECK(v.out == "2 dogs\n");
}

TEST_CASE("g4u normalize: bad input exits 2", "[integration]") {
  CHECK(run("normalize --normalizer whisper-basic", "ok\nbad \xff byte\n").code == 2);
  CHECK(run("normalize --normalizer nope", "x\n").code == 2);
  CHECK(run("normalize --normalizer whisper-en --spellings /nonexistent.json", "x\n").code == 2);
}

TEST_CASE("g4u score: JSON document with per-item results", "[integration]") {
  std::string f = write_tmp("mc.jsonl",
                            "{\"prediction\": \"The answer is (B).\", \"references\": [\"B\"], \"choices\": [\"cat\", \"dog\"]}\n"
                            "{\"prediction\": \"A\", \"references\": [\"B\"], \"choices\": [\"cat\", \"dog\"]}\n"
                            "\n"
                            "{\"prediction\": \"<|channel>thought\\n<channel|>B\", \"references\": [\"B\"], \"choices\": [\"cat\", \"dog\"]}\n");
  Run r = run("score --metric mmmu-mc --input " + f + " --per-item --json");
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["metric"] == "mmmu-mc");
  CHECK(j["n"] == 3);
  CHECK(j["score"].get<double>() == Catch::Detail::Approx(2.0 / 3));
  CHECK(j["ci95"].size() == 2);
  CHECK(j["per_item"][1]["extracted"] == "A");
  CHECK(j["per_item"][2]["score"] == 1.0);
  std::string w = write_tmp("wer.jsonl", "{\"prediction\": \"a b\", \"references\": [\"a b c\"]}\n");
  Run wr = run("score --metric wer --input " + w + " --json");
  REQUIRE(wr.code == 0);
  auto wj = nlohmann::json::parse(wr.out);
  CHECK(wj["score"].get<double>() == Catch::Detail::Approx(1.0 / 3));
  CHECK(wj["deletions"] == 1);
  CHECK(wj["stderr_method"] == "bootstrap");
}

TEST_CASE("g4u score: bad input names file:line and field, exit 2", "[integration]") {
  auto expect_fail = [](const std::string& name, const std::string& content, const std::string& metric) {
    std::string f = write_tmp(name, content);
    std::string cmd = std::string(G4U_BINARY) + " score --metric " + metric + " --input " + f + " 2>&1 >/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    std::string err;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) err.append(buf.data(), n);
    int status = pclose(p);
    CHECK(WEXITSTATUS(status) == 2);
    return err;
  };
  std::string e1 = expect_fail("missing.jsonl", "{\"prediction\": \"x\", \"references\": [\"x\"]}\n{\"prediction\": \"x\"}\n", "exact-match");
  CHECK(e1.find(":2: field 'references': missing") != std::string::npos);
  std::string e2 = expect_fail("type.jsonl", "{\"prediction\": 3, \"references\": [\"x\"]}\n", "exact-match");
  CHECK(e2.find(":1: field 'prediction': expected a string") != std::string::npos);
  std::string e3 = expect_fail("empty.jsonl", "{\"prediction\": \"x\", \"references\": []}\n", "exact-match");
  CHECK(e3.find("field 'references': the list is empty") != std::string::npos);
  std::string e4 = expect_fail("utf8.jsonl", "{\"prediction\": \"ok\", \"references\": [\"bad \xff\"]}\n", "exact-match");
  CHECK(e4.find(":1: field 'references': invalid UTF-8") != std::string::npos);
  std::string e5 = expect_fail("nochoice.jsonl", "{\"prediction\": \"A\", \"references\": [\"A\"]}\n", "mmmu-mc");
  CHECK(e5.find("field 'choices': missing") != std::string::npos);
  std::string e6 = expect_fail("ok.jsonl", "{\"prediction\": \"A\", \"references\": [\"A\"]}\n", "accuracy");
  CHECK(e6.find("known: exact-match") != std::string::npos);
  std::string e7 = expect_fail("badjson.jsonl", "{\"prediction\": \n", "exact-match");
  CHECK(e7.find(":1: invalid JSON") != std::string::npos);
}
