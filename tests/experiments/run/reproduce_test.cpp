// The reproduction experiment (experiments/reproduce_gemma4_12b.json) dry-run on the 12B config
// without its weights (shapes from tests/fixtures/gemma4-12b/config.json, timings from the small
// preset) and the benchmark fixtures; variables of experiment files and --set; bad input.
#include "cli_runner.h"
#include "experiments/run/cost_model.h"
#include "experiments/run/experiment.h"
#include "model/io/config.h"
#include "test_paths.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;
using namespace g4u::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

const std::string kSource = G4U_SOURCE_DIR;
const std::string kExperiment = kSource + "/experiments/reproduce_gemma4_12b.json";
const std::string kFixtures = kSource + "/tests/fixtures/benchmarks";

// A checkpoint folder holding the 12B's config.json and nothing else (no 22 GiB of weights).
std::string config_only_checkpoint(const ScratchDir& d) {
  fs::create_directories(d / "gemma4-12b");
  fs::copy_file(kSource + "/tests/fixtures/gemma4-12b/config.json", d / "gemma4-12b/config.json",
                fs::copy_options::overwrite_existing);
  return d / "gemma4-12b";
}

std::string stand_ins(const ScratchDir& d) {
  return " --set checkpoint=" + config_only_checkpoint(d) + " --set data_root=" + kFixtures;
}

// Non-blank lines of a fixture's rows.jsonl, optionally only those `keep` accepts.
int64_t fixture_rows(const std::string& export_dir, const std::function<bool(const json&)>& keep = nullptr) {
  std::ifstream in(kFixtures + "/" + export_dir + "/rows.jsonl");
  int64_t n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos && (!keep || keep(json::parse(line)))) ++n;
  return n;
}

// Parameters of the 12B's decoder (the tied embedding included), by hand from config.json: per layer
// q, k, v (sliding layers only: the full layers use K as V), o, 4 norms of the hidden size, q/k norms
// of the head size, gate/up/down, the layer scalar; plus the embedding table and the final norm.
double decoder_params_12b() {
  const json c = json::parse(read_file(kSource + "/tests/fixtures/gemma4-12b/config.json"))["text_config"];
  const double H = c["hidden_size"], I = c["intermediate_size"], V = c["vocab_size"];
  const double heads = c["num_attention_heads"];
  double params = V * H + H;
  for (const auto& type : c["layer_types"]) {
    const bool full = type == "full_attention";
    const double hd = full ? c["global_head_dim"].get<double>() : c["head_dim"].get<double>();
    const double kv = full ? c["num_global_key_value_heads"].get<double>() : c["num_key_value_heads"].get<double>();
    const bool v_proj = !(full && c["attention_k_eq_v"].get<bool>());
    params += heads * hd * H * 2 + kv * hd * H * (v_proj ? 2 : 1) + 3 * I * H + 4 * H + 2 * hd + 1;
  }
  return params;
}

const json& step_of(const json& plan, const std::string& name) {
  for (const auto& s : plan["steps"])
    if (s["name"] == name) return s;
  FAIL("no step " << name);
  throw;
}

}  // namespace

TEST_CASE("reproduce_gemma4_12b.json: dry run on the 12B config and the fixtures plans every benchmark", "[integration]") {
  ScratchDir d("repro_dry");
  const std::string out = d / "out";
  CliResult r = run_g4u("run " + kExperiment + stand_ins(d) + " --shards 4 --dry-run --json --out " + out);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const json plan = json::parse(r.out);
  CHECK_FALSE(fs::exists(out));  // a dry run writes nothing
  CHECK_THAT(r.err, Contains("per benchmark"));
  CHECK_THAT(r.err, Contains("holds no weights"));  // said, not hidden
  CHECK(plan["assumptions"]["shards"] == 4);
  CHECK(plan["assumptions"]["cpu"]["probe"] == "small");
  CHECK(plan["assumptions"]["cpu"]["prefill_flops_per_s"].get<double>() > 0);
  const double memory = plan["assumptions"]["cpu"]["memory_bytes"];
  CHECK(memory > 0);

  // Items: every fixture row of the tasks the step runs (FLEURS without the Chinese row).
  const std::map<std::string, int64_t> items = {
      {"mmmu-pro-vision", fixture_rows("mmmu-pro/vision")},
      {"mmmu-pro-standard", fixture_rows("mmmu-pro")},
      {"mathvision", fixture_rows("mathvision")},
      {"docvqa", fixture_rows("docvqa")},
      {"infovqa", fixture_rows("infovqa")},
      {"fleurs", fixture_rows("fleurs", [](const json& row) { return row["lang_id"] != "cmn_hans_cn"; })},
      {"covost2", fixture_rows("covost2")}};
  // New-token budgets: the tasks' (lmms-eval's) plus the thought budget where the step thinks.
  const std::map<std::string, int64_t> max_new = {{"mmmu-pro-vision", 128 + 4096}, {"mmmu-pro-standard", 128 + 4096},
                                                  {"mathvision", 16384},          {"docvqa", 32},
                                                  {"infovqa", 32},                {"fleurs", 256},
                                                  {"covost2", 256}};
  const double decode_bytes = 2 * decoder_params_12b();  // bf16
  const double bandwidth = 3.35e12;                        // H100 SXM, the file's estimate.gpu
  for (const auto& [step, n] : items) {
    INFO(step);
    const json& b = step_of(plan, step)["estimate"]["benchmark"];
    REQUIRE(b.is_object());
    CHECK(b["items"] == n);
    CHECK(n > 0);
    CHECK(b["max_new_tokens"] == n * max_new.at(step));
    CHECK(b["prompt_tokens"].get<int64_t>() > 10 * n);
    CHECK(b["tokens"] == b["prompt_tokens"].get<int64_t>() + b["max_new_tokens"].get<int64_t>());
    // The GPU's decode step reads every decoder weight once: 12B bf16 bytes / bandwidth.
    CHECK(b["model"]["text_params"].get<double>() == decoder_params_12b());
    CHECK(b["gpu"]["decode_seconds_per_token"].get<double>() == Approx(decode_bytes / bandwidth).epsilon(1e-12));
    // ... so the benchmark takes at least that for every new token, and far less than a second each.
    const double gpu_s = b["gpu"]["seconds"], cpu_s = b["cpu"]["seconds"];
    CHECK(gpu_s >= b["max_new_tokens"].get<double>() * decode_bytes / bandwidth);
    CHECK(gpu_s < b["tokens"].get<double>() * 0.1);
    CHECK(cpu_s > gpu_s);  // this 2-core CPU is not an H100
    CHECK(b["cpu"]["per_shard_seconds"].get<double>() == Approx(cpu_s / 4));
    CHECK(b["gpu"]["per_shard_seconds"].get<double>() == Approx(gpu_s / 4));
    // Memory: the bf16 weights of the whole model (vision and audio projections too) and more.
    const double weights = 2 * b["model"]["params"].get<double>();
    CHECK(b["model"]["params"].get<double>() > decoder_params_12b());
    CHECK(b["gpu"]["peak_bytes"].get<double>() > weights);
    CHECK(b["cpu"]["peak_bytes"].get<double>() > weights);
    CHECK(b["gpu"]["fits"] == true);  // 24 GB of weights in 80 GB
    CHECK(b["cpu"]["fits"] == (b["cpu"]["peak_bytes"].get<double>() <= memory));
  }
  // Image soft tokens follow the budget: a square image at budget B gets floor(sqrt(B))^2 tokens
  // (+ BOI/EOI): 33^2 at 1120 (DocVQA) against 16^2 at the default 280 (MATH-Vision).
  const json& doc = step_of(plan, "docvqa")["estimate"]["benchmark"];
  CHECK(doc["settings"]["image_budget"] == 1120);
  CHECK(doc["prompt_tokens"].get<int64_t>() >= items.at("docvqa") * (33 * 33 + 2));
  const json& math = step_of(plan, "mathvision")["estimate"]["benchmark"];
  CHECK(math["settings"]["image_budget"] == 280);
  CHECK(math["prompt_tokens"].get<int64_t>() < items.at("mathvision") * (33 * 33));

  // The published numbers are those of reports/published_gemma4_12b.json, with their sources.
  const json published = json::parse(read_file(kSource + "/reports/published_gemma4_12b.json"));
  int compared = 0;
  for (const auto& s : plan["steps"]) {
    if (!s["estimate"].contains("benchmark") || !s["estimate"]["benchmark"].contains("published")) continue;
    const json& p = s["estimate"]["benchmark"]["published"];
    bool found = false;
    for (const auto& e : published["entries"])
      if (e["benchmark"] == p["benchmark"]) {
        CHECK(e["value"] == p["value"]);
        CHECK(e["source"] == p["source"]);
        found = true;
      }
    CHECK(found);
    ++compared;
  }
  CHECK(compared == 6);
  // Judged scores beside the judge-free ones for the choice and free-form benchmarks; the report waits for them.
  for (const char* bench : {"mmmu-pro-vision", "mmmu-pro-standard", "mathvision"}) {
    const json& j = step_of(plan, std::string("judge-") + bench);
    CHECK(j["kind"] == "judge");
    CHECK(j["needs"] == json::array({bench}));
    CHECK(j["estimate"]["bytes"].get<double>() > 2 * decoder_params_12b());  // bf16 judge weights
  }
  bool waits = false;
  for (const auto& n : step_of(plan, "report")["needs"]) waits = waits || n == "judge-mathvision";
  CHECK(waits);

  // Twice the shards halve the time per shard; half the bandwidth doubles the GPU's decode step.
  // (--set before the experiment file: each --set takes one value.)
  const json wider = run_g4u_json("run" + stand_ins(d) + " " + kExperiment + " --shards 8 --gpu-bandwidth 1.675 --dry-run --json --out " + out);
  const json& w = step_of(wider, "docvqa")["estimate"]["benchmark"];
  CHECK(w["shards"] == 8);
  CHECK(w["cpu"]["per_shard_seconds"].get<double>() * 8 == Approx(w["cpu"]["seconds"].get<double>()));
  CHECK(w["gpu"]["decode_seconds_per_token"].get<double>() == Approx(2 * decode_bytes / bandwidth).epsilon(1e-12));
}

TEST_CASE("experiment variables: ${name}, defaults, --set, and what is refused", "[integration]") {
  ScratchDir d("repro_vars");
  const std::string ckpt = config_only_checkpoint(d);
  json e = {{"name", "vars"},
            {"variables", {{"root", kFixtures}, {"docs", "${root}/docvqa"}, {"model", "tiny"}}},
            {"steps",
             {{{"name", "data"}, {"kind", "import"}, {"benchmark", "docvqa"}, {"input", "${docs}"}},
              {{"name", "eval"}, {"kind", "eval"}, {"model", "${model}"}, {"data", "@data/manifest.jsonl"}}}}};
  write_file(d / "exp.json", e.dump(2));
  auto dry = [&](const std::string& extra) { return run_g4u("run " + (d / "exp.json") + " --dry-run --json --out " + (d / "out") + extra); };

  // Variables may use variables; --set replaces a default (here the model: tiny -> the 12B config).
  json plan = json::parse(dry("").out);
  CHECK(plan["variables"]["docs"] == kFixtures + "/docvqa");
  CHECK(step_of(plan, "eval")["estimate"]["benchmark"]["model"]["params"].get<double>() < 1e7);
  json big = run_g4u_json("run " + (d / "exp.json") + " --dry-run --json --out " + (d / "out") + " --set model=" + ckpt);
  CHECK(step_of(big, "eval")["estimate"]["benchmark"]["model"]["params"].get<double>() > 1e10);
  CHECK(step_of(big, "eval")["estimate"]["benchmark"]["items"] == fixture_rows("docvqa"));

  // A checkpoint with weights: their headers are checked against its config (no warning then).
  REQUIRE(run_g4u("init --model tiny --out " + (d / "tiny-ckpt")).code == 0);
  json with_weights = run_g4u_json("run " + (d / "exp.json") + " --dry-run --json --out " + (d / "out") + " --set model=" + (d / "tiny-ckpt"));
  CHECK_FALSE(with_weights["warnings"].dump().find("holds no weights") != std::string::npos);
  CHECK(step_of(with_weights, "eval")["estimate"]["benchmark"]["text_tokens"] == "tokenizer");

  auto refused = [&](const json& doc, const std::string& extra, std::vector<std::string> needles) {
    write_file(d / "bad.json", doc.dump(2));
    CliResult r = run_g4u("run " + (d / "bad.json") + " --dry-run --out " + (d / "out") + extra);
    INFO(doc.dump() << extra << "\n" << r.err);
    CHECK(r.code == 2);
    for (const auto& n : needles) CHECK_THAT(r.err, Contains(n));
  };
  json bad = e;
  bad["steps"][0]["input"] = "${nope}/docvqa";
  refused(bad, "", {"bad.json: steps[0] (data).input", "undefined variable '${nope}'", "--set nope="});
  refused(e, " --set root", {"--set root", "name=value"});
  // A missing dataset: the import step names its setting and the folder.
  refused(e, " --set root=" + (d / "no-such-exports"), {"steps[0] (data).input", "no-such-exports"});
  // Unknown keys of the new settings stay errors naming the key.
  bad = e;
  bad["steps"][1]["thinkng"] = true;
  refused(bad, "", {"steps[1] (eval)", "unknown key 'thinkng'"});
  bad = e;
  bad["estimate"] = {{"shards", 2}, {"gpu", {{"bandwith", 1}}}};
  refused(bad, "", {"estimate", "unknown key 'bandwith'"});
  bad = e;
  bad["steps"][1]["thinking_budget"] = 100;
  refused(bad, "", {"thinking_budget", "thinking is off"});
  bad = e;
  bad["steps"][1]["budget"] = 5000;
  refused(bad, " --set model=" + ckpt, {"steps[1] (eval).budget"});
  bad = e;
  bad["steps"][1]["tasks"] = {"infovqa-val"};
  refused(bad, "", {"steps[1] (eval)", "no item of tasks infovqa-val"});
  // Weights that do not match the config are refused, naming the setting.
  json tiny_config = json::parse(read_file(d / "tiny-ckpt/config.json"));
  tiny_config["text_config"]["intermediate_size"] = tiny_config["text_config"]["intermediate_size"].get<int>() * 2;
  write_file(d / "tiny-ckpt/config.json", tiny_config.dump(2));
  refused(e, " --set model=" + (d / "tiny-ckpt"), {"steps[1] (eval).model", "mlp"});
  // The published number a step claims must be the published file's.
  bad = e;
  bad["steps"][1]["published"] = {{"file", kSource + "/reports/published_gemma4_12b.json"}, {"benchmark", "DocVQA (ANLS)"}, {"value", 95.0}};
  refused(bad, "", {"steps[1] (eval).published.value", "says 94.9 for 'DocVQA (ANLS)'"});
  bad["steps"][1]["published"]["benchmark"] = "DocVQA";
  refused(bad, "", {"published.benchmark", "no entry 'DocVQA'"});
}

TEST_CASE("cost model: FLOPs and KV bytes of the tiny preset, by hand", "[unit]") {
  using namespace g4u::experiments;
  const ModelCost m = model_cost(*g4u::model::model_preset("tiny"), 32, 4);
  // tiny: vocab 320, hidden 64, intermediate 128; layers S S F S S F; sliding: 4 heads, 2 KV heads
  // of 16, window 8; full: 4 heads, 1 KV head of 32, K used as V (no v_proj).
  const double sliding = 4 * 16 * 64 * 2 + 2 * 16 * 64 * 2 + 3 * 128 * 64;  // q, o, k, v, mlp
  const double full = 4 * 32 * 64 * 2 + 1 * 32 * 64 + 3 * 128 * 64;         // q, o, k, mlp
  CHECK(m.matmul_params == 320 * 64 + 4 * sliding + 2 * full);
  // Positions 10 and 11 see 11 and 12 positions; the sliding layers 8 of them each.
  const double attention = 4 * (4 * 4 * 16 * (8 + 8)) + 2 * (4 * 4 * 32 * (11 + 12));
  CHECK(forward_flops(m, 10, 2) == 2.0 * m.matmul_params * 2 + attention);
  // K and V of every kept position, fp32.
  CHECK(kv_read_bytes(m, 10, 2) == 4 * (2 * 2 * 16 * 4 * (8 + 8)) + 2 * (2 * 1 * 32 * 4 * (11 + 12)));
  // A GPU decode step at an empty context reads the decoder's weights once, in bf16.
  GpuSpec gpu;
  gpu.memory_bandwidth = 1e9;
  gpu.flops = 1e15;
  CHECK(gpu_decode_seconds_per_token(m, gpu) == Approx(2.0 * m.text_params / 1e9));
  // Longer outputs cost more on both machines; memory grows with the KV cache.
  CpuRates cpu;
  cpu.prefill_flops = cpu.decode_flops = 1e10;
  cpu.read_bandwidth = 1e10;
  const ItemCost short_item = item_cost(m, 100, 10, cpu, gpu), long_item = item_cost(m, 100, 1000, cpu, gpu);
  CHECK(long_item.cpu.seconds > short_item.cpu.seconds);
  CHECK(long_item.gpu.seconds > short_item.gpu.seconds);
  CHECK(long_item.cpu.bytes > short_item.cpu.bytes);
}

TEST_CASE("experiment variables: expansion, overrides and errors, by the library", "[unit]") {
  using g4u::experiments::load_experiment;
  ScratchDir d("vars_unit");
  json e = {{"name", "v"},
            {"variables", {{"root", "/data"}, {"docs", "${root}/docvqa"}, {"lit", "$${root}"}}},
            {"steps", {{{"name", "s"}, {"kind", "synth"}, {"suite", "arith"}, {"seed", 1}, {"n", 2}}}}};
  auto load = [&](const json& doc, const std::map<std::string, std::string>& set = {}) {
    write_file(d / "exp.json", doc.dump());
    return load_experiment(d / "exp.json", "", set);
  };
  const auto x = load(e);
  CHECK(x.variables.at("docs") == "/data/docvqa");
  CHECK(x.variables.at("lit") == "${root}");  // $${ is a literal ${
  CHECK(x.variables.at("experiment_dir") == fs::path(d.path).lexically_normal().string());
  CHECK(load(e, {{"root", "/elsewhere"}}).variables.at("docs") == "/elsewhere/docvqa");
  json used = e;
  used["steps"][0]["suite"] = "${lit}";  // values are substituted once: no re-expansion
  CHECK(load(used).steps[0].settings["suite"] == "${root}");
  auto refused = [&](const json& doc, const std::map<std::string, std::string>& set, const std::string& needle) {
    g4u::test::expect_input_error([&] { load(doc, set); }, needle);
  };
  refused(e, {{"nope", "1"}}, "declares no variable 'nope'");
  json bad = e;
  bad["steps"][0]["suite"] = "${nope}";
  refused(bad, {}, "steps[0] (s).suite: undefined variable '${nope}'");
  bad = e;
  bad["steps"][0]["suite"] = "${unclosed";
  refused(bad, {}, "without a closing");
  bad = e;
  bad["variables"]["a"] = "${b}";
  bad["variables"]["b"] = "${a}";
  refused(bad, {}, "refers to itself");
  bad = e;
  bad["variables"]["n"] = 3;
  refused(bad, {}, "variables.n: expected a string");
  bad = e;
  bad["variables"]["experiment_dir"] = "/x";
  refused(bad, {}, "is built in");
}

TEST_CASE("an import + eval + report experiment runs end to end on the tiny model and the DocVQA fixture", "[integration]") {
  ScratchDir d("repro_run");
  const std::string published = kSource + "/reports/published_gemma4_12b.json";
  json e = {{"name", "mini"},
            {"variables", {{"data_root", kFixtures}, {"model", "tiny"}}},
            {"steps",
             {{{"name", "data"}, {"kind", "import"}, {"benchmark", "docvqa"}, {"input", "${data_root}/docvqa"}},
              {{"name", "docvqa"}, {"kind", "eval"}, {"model", "${model}"}, {"data", "@data/manifest.jsonl"},
               {"max_new_tokens", 4}, {"note", "first note"},
               {"published", {{"file", published}, {"benchmark", "DocVQA (ANLS)"}, {"value", 94.9}}}},
              {{"name", "report"}, {"kind", "report"}, {"evals", {"@docvqa"}}, {"published", published}}}}};
  write_file(d / "exp.json", e.dump(2));
  const json plan = run_g4u_json("run " + (d / "exp.json") + " --json --out " + (d / "out"));
  for (const auto& s : plan["steps"]) CHECK(s["status"] == "done");
  CHECK(read_jsonl(d / "out/data/manifest.jsonl").size() == static_cast<size_t>(fixture_rows("docvqa")));
  const json results = json::parse(read_file(d / "out/docvqa/results.json"));
  CHECK(results["variants"][0]["tasks"][0]["n"] == fixture_rows("docvqa"));
  CHECK(read_file(d / "out/report/report.md").find("94.9") != std::string::npos);
  // A note or published claim annotates the step: editing it does not redo the evaluation.
  e["steps"][1]["note"] = "second note";
  write_file(d / "exp.json", e.dump(2));
  const json again = run_g4u_json("run " + (d / "exp.json") + " --dry-run --json --out " + (d / "out"));
  for (const auto& s : again["steps"]) CHECK(s["status"] == "done");
}

TEST_CASE("a judge step judges an eval step's records, and the report waiting for it shows judged scores", "[integration]") {
  ScratchDir d("repro_judge");
  json e = {{"name", "judged"},
            {"steps",
             {{{"name", "data"}, {"kind", "synth"}, {"suite", "arith"}, {"n", 3}, {"seed", 4}},
              {{"name", "eval"}, {"kind", "eval"}, {"model", "tiny"}, {"data", "@data/manifest.jsonl"}},
              {{"name", "judge"}, {"kind", "judge"}, {"eval", "@eval"}, {"model", "tiny"}, {"batch", 2}},
              {{"name", "report"}, {"kind", "report"}, {"evals", {"@eval"}}, {"judge", {"@judge"}}}}}};
  write_file(d / "exp.json", e.dump(2));
  const json plan = run_g4u_json("run " + (d / "exp.json") + " --json --out " + (d / "out"));
  for (const auto& s : plan["steps"]) CHECK(s["status"] == "done");
  CHECK(read_jsonl(d / "out/eval/judge.jsonl").size() == 3);  // arith: every record is free-form
  const json results = json::parse(read_file(d / "out/eval/results.json"));
  CHECK(results["variants"][0]["judge"]["sent"] == 3);
  CHECK(read_file(d / "out/report/report.md").find("Judged scores beside judge-free scores") != std::string::npos);

  // A judge step must name an eval step.
  e["steps"][2]["eval"] = "@data";
  write_file(d / "bad.json", e.dump(2));
  auto r = run_g4u("run " + (d / "bad.json") + " --dry-run --out " + (d / "bad"));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Matchers::Contains("is not a reference to an eval step"));
}
