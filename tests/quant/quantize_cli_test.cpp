// End to end through the CLI: g4u init -> g4u quantize -> generate / forward / bench / ppl.
#include "cli_runner.h"
#include "base/json_util.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using g4u::test::run_g4u;
using g4u::test::run_g4u_json;

TEST_CASE("CLI: a tiny model quantized end to end still generates, and ppl/KL run on it", "[integration]") {
  const fs::path dir = fs::temp_directory_path() / ("g4u_qcli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string d = (dir / "d").string(), q = (dir / "q").string(), text = (dir / "t.txt").string();
  REQUIRE(run_g4u("init --model tiny --out " + d).code == 0);
  auto r = run_g4u("quantize --model " + d + " --scheme q4_k_m --out " + q + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["quantized_tensors"] == 41);  // 40 projections + the embedding (q4_k_m)

  r = run_g4u("generate --model " + q + " --prompt hi -n 5 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["tokens"].size() == 5);

  r = run_g4u("forward --model " + q + " --tokens 2,40,41,42 --out " + (dir / "l.f32").string() + " --json");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(fs::file_size(dir / "l.f32") == 4 * 320 * 4);

  r = run_g4u("bench --model " + q + " -p 8 -n 4 --reps 1 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto b = nlohmann::json::parse(r.out);
  auto bd = nlohmann::json::parse(run_g4u("bench --model " + d + " -p 8 -n 4 --reps 1 --json").out);
  CHECK(b["weight_bytes"].get<int64_t>() < bd["weight_bytes"].get<int64_t>());

  {
    std::ofstream f(text);
    for (int i = 0; i < 40; ++i) f << "a tiny text for the perplexity test, line " << i << ".\n";
  }
  r = run_g4u("ppl --model " + q + " --data " + text + " --ctx 64 --kl-base " + d + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto p = nlohmann::json::parse(r.out);
  CHECK(p["scored_tokens"] == p["chunks"].get<int64_t>() * 31);
  CHECK(p["kld"]["mean"].get<double>() > 0);
  CHECK(std::isfinite(p["ppl"]["value"].get<double>()));
  r = run_g4u("ppl --model " + d + " --data " + text + " --ctx 64 --kl-base " + d + " --json");
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>() == 0.0);
  // A bf16 run against the same weights: the base in bf16 too by default (KL 0), in fp32 with
  // --kl-base-dtype (KL > 0: bf16's rounding is measured).
  r = run_g4u("ppl --model " + d + " --dtype bf16 --data " + text + " --ctx 64 --kl-base " + d + " --json");
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>() == 0.0);
  CHECK(nlohmann::json::parse(r.out)["kl_base_dtype"] == "bf16");
  r = run_g4u("ppl --model " + d + " --dtype bf16 --data " + text + " --ctx 64 --kl-base " + d + " --kl-base-dtype fp32 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>() > 0.0);
  CHECK(nlohmann::json::parse(r.out)["kl_base_dtype"] == "fp32");
  CHECK(run_g4u("ppl --model " + d + " --data " + text + " --ctx 64 --kl-base " + d + " --kl-base-dtype fp16").code == 2);
  // --quant in memory gives the same statistics as the quantized checkpoint (same policy, same bytes).
  r = run_g4u("ppl --model " + d + " --quant q4_k_m --data " + text + " --ctx 64 --kl-base " + d + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>() == Approx(p["kld"]["mean"].get<double>()).epsilon(1e-9));

  // Bad input: unknown scheme, existing output, text shorter than one chunk.
  r = run_g4u("quantize --model " + d + " --scheme q5_x --out " + (dir / "z").string());
  CHECK(r.code == 2);
  CHECK(r.err.find("known: q4_0") != std::string::npos);
  CHECK(run_g4u("quantize --model " + d + " --scheme q4_0 --out " + q).code == 2);
  CHECK(run_g4u("ppl --model " + q + " --data " + text + " --ctx 100000").code == 2);
  // A quantized checkpoint whose metadata lost a tensor is refused with exit code 2.
  auto meta = g4u::read_json_file(q + "/quantization.json");
  meta["tensors"].erase("model.language_model.layers.0.mlp.up_proj.weight");
  g4u::write_file_atomic(q + "/quantization.json", meta.dump());
  r = run_g4u("generate --model " + q + " --prompt hi -n 2");
  CHECK(r.code == 2);
  CHECK(r.err.find("up_proj") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("CLI: g4u info validates a fresh quantized checkpoint from its headers, and names what is wrong", "[integration]") {
  g4u::test::ScratchDir dir("qinfo");
  const std::string d = dir / "d", q = dir / "q";
  REQUIRE(run_g4u("init --model tiny --out " + d).code == 0);
  auto r = run_g4u("quantize --model " + d + " --scheme q4_0 --out " + q + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto made = nlohmann::json::parse(r.out);
  r = run_g4u("info --model " + q + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto info = nlohmann::json::parse(r.out);
  CHECK(info["checkpoint"]["valid"] == true);
  CHECK(info["checkpoint"]["quantized"]["recipe"] == "q4_0");
  CHECK(info["checkpoint"]["quantized"]["tensors"] == made["quantized_tensors"]);
  CHECK(info["checkpoint"]["quantized"]["by_scheme"]["q4_0"] == made["quantized_tensors"]);
  // The same parameter count as the float checkpoint it came from.
  CHECK(info["params"] == run_g4u_json("info --model " + d + " --json")["params"]);

  // A tensor the metadata no longer lists as quantized: its float form is missing (exit 2, named).
  auto meta = g4u::read_json_file(q + "/quantization.json");
  meta["tensors"].erase("model.language_model.layers.0.mlp.up_proj.weight");
  g4u::write_file_atomic(q + "/quantization.json", meta.dump());
  r = run_g4u("info --model " + q);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("model.language_model.layers.0.mlp.up_proj.weight"));
}

TEST_CASE("CLI: quantize and export-gguf name --out when the file system refuses it (exit 2)", "[integration]") {
  g4u::test::ScratchDir dir("qout");
  const std::string d = dir / "d", file = dir / "afile";
  g4u::test::write_file(file, "x");
  REQUIRE(run_g4u("init --model tiny --out " + d).code == 0);
  for (const std::string& out : {file + "/q", std::string("/sys/g4u_quant_out")}) {
    INFO(out);
    auto r = run_g4u("quantize --model " + d + " --scheme q4_0 --out " + out);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--out " + out + ": cannot create folder: "));
  }
  auto r = run_g4u("export-gguf -q --model " + d + " --out " + file + "/x.gguf");
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("--out " + file + "/x.gguf: " + file + " is not a folder"));
  r = run_g4u("export-gguf -q --model " + d + " --out /sys/g4u_x.gguf");
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("--out /sys/g4u_x.gguf: cannot create the file: "));
}

TEST_CASE("CLI: bench --quant runs a preset quantized in memory as its quantized checkpoint runs", "[integration]") {
  g4u::test::ScratchDir dir("bench_quant");
  const std::string d = dir / "d", q = dir / "q";
  // Stored in fp32, the run dtype: the kept tensors and the quantizer's input are the preset's values.
  REQUIRE(run_g4u("init --model tiny --seed 2 --dtype fp32 --out " + d).code == 0);
  for (const std::string recipe : {"q4_0", "q4_k_m"}) {
    INFO(recipe);
    const std::string qdir = q + "_" + recipe;
    REQUIRE(run_g4u("quantize --model " + d + " --scheme " + recipe + " --out " + qdir).code == 0);
    // Same prompt ids, greedy: the preset quantized in memory and the checkpoint `g4u quantize`
    // wrote from the same seed give the same tokens and count the same packed bytes.
    const std::string common = " -n 6 --reps 1 --tokens 2,40,41,42,43 --json";
    auto mem = run_g4u("bench --model tiny --seed 2 --quant " + recipe + common);
    INFO(mem.err);
    REQUIRE(mem.code == 0);
    const nlohmann::json jm = nlohmann::json::parse(mem.out);
    const nlohmann::json jd = run_g4u_json("bench --model " + qdir + common);
    CHECK(jm["quant"] == recipe);
    CHECK(jd["quant"].is_null());
    CHECK(jm["generated"] == jd["generated"]);
    CHECK(jm["weight_bytes"] == jd["weight_bytes"]);
    // A float checkpoint takes the other path (loaded whole, then quantized): the same model.
    const nlohmann::json jc = run_g4u_json("bench --model " + d + " --quant " + recipe + common);
    CHECK(jc["generated"] == jd["generated"]);
    CHECK(jc["weight_bytes"] == jd["weight_bytes"]);
  }
  // A quantized model, a calibrated or unknown recipe: exit 2 naming --quant.
  for (const std::string& args : {"--model " + q + "_q4_0 --quant q4_0", std::string("--model tiny --quant q5_x"),
                                 std::string("--model tiny --quant gptq_sym_g32")}) {
    auto r = run_g4u("bench " + args + " -p 4 -n 1 --reps 1");
    INFO(args << "\n" << r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--quant"));
  }
}
