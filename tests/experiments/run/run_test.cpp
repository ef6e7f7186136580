// `g4u run` through the binary: a reduced main experiment end to end on the tiny model, resuming
// after a removed completion marker and after kill -9 at each step, dry runs of the shipped
// experiment files, and bad input.
#include "cli_runner.h"
#include "experiments/run/run_experiment.h"
#include "test_paths.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

namespace fs = std::filesystem;
using namespace g4u::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

std::string corpus(const ScratchDir& d) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  write_file(d / "corpus.txt", text);
  return d / "corpus.txt";
}

// The main job in miniature: every kind of step on the tiny model, a few seconds in all.
json tiny_experiment(const std::string& text) {
  json train = {{"model", "tiny"},
                {"seed", 7},
                {"data",
                 {{"suites", {{{"suite", "count-shapes"}, {"n", 8}}, {{"suite", "tone-compare"}, {"n", 8}}}},
                  {"text_files", {{{"path", text}, {"ctx", 32}}}},
                  {"eval_n", 4}}},
                {"train", {{"steps", 6}, {"batch_size", 4}, {"warmup_steps", 2}, {"checkpoint_every", 2}, {"threads", 1}}}};
  return {{"name", "tiny-main"},
          {"steps",
           {{{"name", "arith"}, {"kind", "synth"}, {"suite", "arith"}, {"n", 6}, {"seed", 3}},
            {{"name", "model"}, {"kind", "train"}, {"config", train}},
            {{"name", "q4_0"}, {"kind", "quantize"}, {"model", "@model"}, {"scheme", "q4_0"}},
            {{"name", "gptq"}, {"kind", "quantize"}, {"model", "@model"}, {"scheme", "gptq_asym_g32"}, {"calib", text},
             {"calib_segments", 2}, {"calib_len", 16}},
            {{"name", "drafter"}, {"kind", "train-drafter"}, {"target", "@model"}, {"draft", "tiny-mtp"}, {"steps", 2},
             {"samples", 4}, {"sample_len", 8}, {"seq_len", 8}, {"batch", 2}, {"eval_prompts", 0}},
            {{"name", "ppl-q4_0"}, {"kind", "ppl"}, {"model", "@q4_0"}, {"kl_base", "@model"}, {"data", text}, {"ctx", 16},
             {"chunks", 2}, {"variant", "q4_0"}},
            {{"name", "eval-fp32"}, {"kind", "eval"}, {"model", "@model"}, {"data", "@model/data/eval.jsonl"},
             {"variant", "fp32"}, {"batch", 4}},
            {{"name", "eval-q4_0"}, {"kind", "eval"}, {"model", "@q4_0"}, {"data", "@model/data/eval.jsonl"}, {"batch", 4},
             {"variant", "q4_0"}},
            {{"name", "eval-arith"}, {"kind", "eval"}, {"model", "@gptq"}, {"data", "@arith/manifest.jsonl"}, {"batch", 1},
             {"draft", "@drafter"}, {"k", 2}},
            {{"name", "bench-q4_0"}, {"kind", "bench"}, {"model", "@q4_0"}, {"variant", "q4_0"}, {"prompt_tokens", 8},
             {"gen_tokens", 4}, {"reps", 1}},
            {{"name", "report"}, {"kind", "report"}, {"baseline", "fp32"}, {"evals", {"@eval-fp32", "@eval-q4_0"}},
             {"ppl", {"@ppl-q4_0"}}, {"bench", {"@bench-q4_0"}}}}}};
}

std::string write_experiment(const ScratchDir& d, const json& e, const std::string& name = "exp.json") {
  write_file(d / name, e.dump(2));
  return d / name;
}

json run_json(const std::string& args) {
  CliResult r = run_g4u("run " + args + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  return json::parse(r.out);
}

std::map<std::string, std::string> statuses(const json& plan) {
  std::map<std::string, std::string> out;
  for (const auto& s : plan["steps"]) out[s["name"]] = s["status"];
  return out;
}

// What must not depend on interruptions: the trained weights, every eval score, the perplexities.
json outcome(const std::string& run) {
  json o = {{"weights", read_file(run + "/model/model.safetensors").size()}};
  o["weights_equal_to"] = std::hash<std::string>()(read_file(run + "/model/model.safetensors"));
  for (const char* e : {"eval-fp32", "eval-q4_0", "eval-arith"}) {
    json r = json::parse(read_file(run + "/" + e + "/results.json"));
    for (const auto& t : r["variants"][0]["tasks"]) o[e][t["key"].get<std::string>()] = t["score"];
  }
  o["ppl"] = json::parse(read_file(run + "/ppl-q4_0/ppl.json"))["ppl"]["value"];
  o["kld"] = json::parse(read_file(run + "/ppl-q4_0/ppl.json"))["kld"]["mean"];
  return o;
}

}  // namespace

TEST_CASE("g4u run: a reduced main experiment end to end; a rerun skips what is complete", "[integration]") {
  ScratchDir d("run");
  const std::string exp = write_experiment(d, tiny_experiment(corpus(d))), run = d / "out";
  json plan = run_json(exp + " --out " + run);
  for (const auto& [name, status] : statuses(plan)) CHECK(status == "done");
  CHECK(fs::exists(run + "/report/report.md"));
  CHECK(fs::exists(run + "/report/report.html"));
  CHECK(fs::exists(run + "/drafter/config.json"));
  CHECK(fs::exists(run + "/arith/manifest.jsonl"));
  for (const auto& s : plan["steps"]) CHECK(fs::exists(s["dir"].get<std::string>() + "/" + g4u::experiments::kStepCompleteFile));
  const json first = outcome(run);
  const std::string md = read_file(run + "/report/report.md");
  CHECK(md.find("q4_0") != std::string::npos);
  // The bench step's measurement and the ppl step's reach the report, matched by variant name.
  const json bench = json::parse(read_file(run + "/bench-q4_0/bench.json"));
  CHECK(bench["variant"] == "q4_0");
  CHECK(bench["prefill"]["tokens"] == 8);
  CHECK(bench["decode"]["tokens"] == 4);
  CHECK(bench["peak_rss_bytes"].get<int64_t>() >= bench["load_peak_rss_bytes"].get<int64_t>());
  CHECK_THAT(md, Contains("## Perplexity, KL and throughput") && Contains("## Findings"));
  const json ppl = json::parse(read_file(run + "/ppl-q4_0/ppl.json"));
  CHECK_THAT(md, Contains(fmt::format("| q4_0 | {:.2f} |", json::parse(read_file(run + "/eval-q4_0/results.json"))["variants"][0]["weights"]["bits_per_weight"].get<double>())));
  CHECK_THAT(md, Contains(fmt::format("{:.3f} ± ", ppl["ppl"]["value"].get<double>())));
  // The eval step with a drafter (the one trained in the run) decoded speculatively beside the plain run.
  const json arith = json::parse(read_file(run + "/eval-arith/results.json"));
  CHECK(arith["variants"][0]["speculative"]["lossless"] == true);
  CHECK(arith["variants"][0]["speculative"]["checked"] == 6);
  CHECK(arith["variants"][0]["drafter"]["kind"] == "mtp");
  // Every step's peak RSS counts from its own start (the marker keeps it).
  for (const char* step : {"eval-fp32", "bench-q4_0"})
    CHECK(json::parse(read_file(run + "/" + step + "/" + g4u::experiments::kStepCompleteFile))["peak_rss_bytes"].get<int64_t>() > 0);

  // Everything complete: nothing runs.
  json again = run_json(exp + " --out " + run);
  CHECK(again["estimate"]["seconds"] == 0);
  for (const auto& [name, status] : statuses(again)) CHECK(status == "done");

  // A removed marker (an interruption after the step's work, before its marker) redoes that step
  // alone; a marker that does not parse counts as missing.
  fs::remove(run + "/eval-q4_0/" + g4u::experiments::kStepCompleteFile);
  write_file(run + "/q4_0/" + g4u::experiments::kStepCompleteFile, "{\"trunc");
  json redo = run_json(exp + " --out " + run + " --dry-run");
  auto st = statuses(redo);
  CHECK(st["eval-q4_0"] == "resume");
  CHECK(st["q4_0"] == "run");
  CHECK(st["model"] == "done");
  CHECK(st["report"] == "done");
  run_json(exp + " --out " + run);
  CHECK(outcome(run) == first);

  // Other settings for a completed step (or for a step it uses) are refused, naming its folder.
  json changed = tiny_experiment(d / "corpus.txt");
  changed["steps"][2]["scheme"] = "q4_1";
  CliResult other = run_g4u("run " + write_experiment(d, changed, "changed.json") + " --out " + run + " --dry-run");
  CHECK(other.code == 2);
  CHECK_THAT(other.err, Contains(run + "/q4_0: step 'q4_0' was completed with other settings"));

  // --only runs the named steps; a step whose input is not complete is refused.
  fs::remove(run + "/model/" + g4u::experiments::kStepCompleteFile);
  fs::remove(run + "/eval-fp32/" + g4u::experiments::kStepCompleteFile);
  CliResult only = run_g4u("run " + exp + " --out " + run + " --only eval-fp32");
  CHECK(only.code == 2);
  CHECK_THAT(only.err, Contains("'eval-fp32' needs step 'model'"));
}

TEST_CASE("g4u run killed with SIGKILL in each step resumes to the results of an uninterrupted run", "[integration]") {
  ScratchDir d("run_kill");
  const std::string exp = write_experiment(d, tiny_experiment(corpus(d)));
  run_json(exp + " --out " + (d / "whole"));
  const json expected = outcome(d / "whole");

  // Start, wait until step k's folder appears, kill -9; then the next attempt goes on from there.
  const std::string run = d / "killed";
  for (const char* step : {"arith", "model", "q4_0", "gptq", "drafter", "ppl-q4_0", "eval-fp32", "eval-q4_0", "bench-q4_0", "report"}) {
    const std::string script = "(" + std::string(G4U_BINARY) + " run " + exp + " --out " + run + " -q 2>/dev/null & echo $! > " +
                               (d / "pid") + "; wait) & for i in $(seq 1 400); do [ -e " + run + "/" + step +
                               " ] && break; sleep 0.02; done; kill -9 $(cat " + (d / "pid") + ") 2>/dev/null; sleep 0.2";
    REQUIRE(std::system(("bash -c '" + script + "'").c_str()) == 0);
  }
  run_json(exp + " --out " + run);
  CHECK(outcome(run) == expected);
}

TEST_CASE("g4u run --jobs 2 gives the results of a serial run; SIGTERM stops it where a rerun resumes", "[integration]") {
  ScratchDir d("run_jobs");
  const std::string exp = write_experiment(d, tiny_experiment(corpus(d)));
  run_json(exp + " --out " + (d / "serial") + " --threads 1");
  const json expected = outcome(d / "serial");
  json plan = run_json(exp + " --out " + (d / "parallel") + " --threads 1 --jobs 2");
  for (const auto& [name, status] : statuses(plan)) CHECK(status == "done");
  CHECK(plan["estimate"]["jobs"] == 2);
  CHECK(outcome(d / "parallel") == expected);
  // Each step ran in its own process, its output in logs/<step>.log.
  CHECK_THAT(read_file(d / "parallel/logs/model.log"), Contains("[2/11] model (train)"));
  CHECK(json::parse(read_file(d / "parallel/eval-fp32/" + g4u::experiments::kStepCompleteFile))["peak_rss_bytes"].get<int64_t>() > 0);

  // SIGTERM to the parent (as a job scheduler sends it) reaches the running steps; the run stops
  // with exit code 3, or 0 when it was already done, and the rerun ends where the serial run did.
  const std::string run = d / "stopped";
  const std::string script = std::string(G4U_BINARY) + " run " + exp + " --out " + run + " --threads 1 --jobs 2 -q & pid=$!; " +
                             "for i in $(seq 1 400); do [ -e " + run + "/model ] && break; sleep 0.02; done; kill -TERM $pid; " +
                             "wait $pid; echo $? > " + (d / "code");
  REQUIRE(std::system(("bash -c '" + script + "'").c_str()) == 0);
  const std::string code = read_file(d / "code");
  CHECK((code == "3\n" || code == "0\n"));
  run_json(exp + " --out " + run + " --threads 1 --jobs 2");
  CHECK(outcome(run) == expected);

  CliResult bad = run_g4u("run " + exp + " --out " + (d / "bad") + " --jobs 0");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Contains("--jobs 0: must be >= 1"));
}

TEST_CASE("every experiment file shipped in experiments/ passes --dry-run", "[integration]") {
  ScratchDir d("run_dry");
  // Stand-ins for the variables that name what this machine does not hold: the 12B checkpoint (its
  // config.json alone) and the benchmark exports (the fixtures, in each release's layout).
  const std::string source = G4U_SOURCE_DIR;
  fs::create_directories(d / "gemma4-12b");
  fs::copy_file(source + "/tests/fixtures/gemma4-12b/config.json", d / "gemma4-12b/config.json");
  const std::map<std::string, std::string> stand_ins = {{"checkpoint", d / "gemma4-12b"},
                                                        {"data_root", source + "/tests/fixtures/benchmarks"}};
  int files = 0;
  for (const auto& e : fs::directory_iterator(source + "/experiments")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path().string());
    std::string set;
    const json doc = json::parse(read_file(e.path().string()));
    for (const auto& [name, value] : stand_ins)
      if (doc.contains("variables") && doc["variables"].contains(name)) set += " --set " + name + "=" + value;
    CliResult r = run_g4u("run " + e.path().string() + set + " --dry-run --json --out " + (d / "out"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    json plan = json::parse(r.out);
    CHECK(plan["steps"].size() > 0);
    CHECK(plan["estimate"]["seconds"].get<double>() > 0);
    CHECK_THAT(r.err, Contains("est. time"));
    CHECK_FALSE(fs::exists(d / "out"));  // a dry run writes nothing
    ++files;
  }
  CHECK(files >= 4);  // main, reproduce_gemma4_12b, quant_comparison, mtp_study
}

TEST_CASE("g4u run refuses bad experiment files with exit 2, naming the file and the key", "[integration]") {
  ScratchDir d("run_bad");
  const std::string text = corpus(d);
  auto refused = [&](const std::string& content, std::vector<std::string> needles, const std::string& extra = "") {
    write_file(d / "bad.json", content);
    CliResult r = run_g4u("run " + (d / "bad.json") + " --dry-run --out " + (d / "out") + extra);
    INFO(content);
    INFO(r.err);
    CHECK(r.code == 2);
    for (const auto& n : needles) CHECK_THAT(r.err, Contains(n));
  };
  refused("{\"name\": \"x\",\n \"steps\": [\n}", {"bad.json:3", "invalid JSON"});
  json e = tiny_experiment(text);
  json bad = e;
  bad["stpes"] = 1;
  refused(bad.dump(), {"bad.json", "unknown key 'stpes'"});
  bad = e;
  bad["steps"][2]["shceme"] = "q4_0";
  refused(bad.dump(), {"bad.json: steps[2] (q4_0)", "unknown key 'shceme'"});
  bad = e;
  bad["steps"][1]["config"]["train"]["setps"] = 3;
  refused(bad.dump(), {"setps"});
  bad = e;
  bad["steps"][2]["kind"] = "quantise";
  refused(bad.dump(), {"steps[2].kind", "unknown step kind 'quantise'", "quantize"});
  bad = e;
  bad["steps"][2]["scheme"] = "q3_x";
  refused(bad.dump(), {"steps[2] (q4_0).scheme", "unknown quantization scheme 'q3_x'"});
  bad = e;
  bad["steps"][6]["model"] = "@nope";
  refused(bad.dump(), {"reference '@nope'", "no step named 'nope'"});
  bad = e;
  bad["steps"][6]["model"] = "@report";
  refused(bad.dump(), {"comes later"});
  bad = e;
  bad["steps"][6]["tasks"] = {"no-such-task"};
  refused(bad.dump(), {"tasks", "unknown task 'no-such-task'"});
  bad = e;
  bad["steps"][1]["config"]["data"]["suites"][0]["suite"] = "no-such-suite";
  refused(bad.dump(), {"no-such-suite"});
  bad = e;
  bad["steps"][1]["config"]["config_overrides"] = {{"audio_config", {{"g4u_projector", "no-such-projector"}}}};
  refused(bad.dump(), {"no-such-projector"});
  bad = e;
  bad["steps"][5]["data"] = d / "missing.txt";
  refused(bad.dump(), {"steps[5] (ppl-q4_0).data", "missing.txt"});
  bad = e;
  bad["steps"][10]["evals"] = {"@q4_0"};
  refused(bad.dump(), {"not a reference to an eval step"});
  bad = e;
  bad["steps"][10]["ppl"] = {"@eval-q4_0"};
  refused(bad.dump(), {"steps[10] (report).ppl", "not a reference to a ppl step"});
  bad = e;
  bad["steps"][1]["patch"] = 3;
  refused(bad.dump(), {"steps[1] (model).patch", "expected a JSON merge patch object"});
  bad = e;
  bad["steps"][1]["patch"] = {{"config_overrides", {{"audio_config", {{"g4u_projector", "no-such-projector"}}}}}};
  refused(bad.dump(), {"patched by", "steps[1] (model).patch", "no-such-projector"});
  bad = e;
  bad["steps"][8]["batch"] = 2;
  refused(bad.dump(), {"steps[8] (eval-arith).batch", "batch must be 1"});
  bad = e;
  bad["steps"][8]["k_schedule"] = "sometimes";
  refused(bad.dump(), {"k_schedule", "sometimes"});
  bad = e;
  bad["steps"][9]["reps"] = 0;
  refused(bad.dump(), {"steps[9] (bench-q4_0)", "reps must be in [1, 1000]"});
  bad = e;
  bad["steps"][9]["prompt_tokns"] = 8;
  refused(bad.dump(), {"steps[9] (bench-q4_0)", "unknown key 'prompt_tokns'"});
  bad = e;
  bad["steps"][9]["prompt_tokens"] = 100000;  // past the tiny model's positions
  refused(bad.dump(), {"bench-q4_0"});
  refused(e.dump(), {"--only: no step named 'nope'"}, " --only nope");
}
