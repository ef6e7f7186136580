// `g4u generate/bench --draft`, `g4u init` of drafter presets, `g4u train-drafter` through the
// real binary: the JSON keys, greedy equality with the plain run, checkpoint round trips, errors.
#include "cli_runner.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace g4u::test;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("generate --model tiny --draft tiny-assistant --k 4 prints the speculative metrics", "[integration][mtp]") {
  json j = run_g4u_json("generate --model tiny --draft tiny-assistant --k 4 --prompt 'hello there' -n 24 --json");
  for (const char* k : {"tokens", "acceptance_rate", "tau", "per_position_acceptance", "speedup"}) CHECK(j.contains(k));
  CHECK(j["tau_includes_bonus_token"] == true);
  CHECK(j["matches_plain"] == true);  // greedy: token-identical to plain decoding
  CHECK(j["tokens"] == j["plain_tokens"]);
  CHECK(j["per_position_acceptance"].size() == 4);
  const double tau = j["tau"].get<double>(), rate = j["acceptance_rate"].get<double>();
  CHECK(tau >= 1.0);
  CHECK(tau <= 5.0);
  CHECK(rate >= 0.0);
  CHECK(rate <= 1.0);
  for (const char* d : {"tiny-mtp", "tiny-medusa"}) {
    auto o = run_g4u(std::string("generate --model tiny --draft ") + d + " --k 2 --k-schedule heuristic --prompt hi -n 12 --json");
    REQUIRE(o.code == 0);
    CHECK(json::parse(o.out)["matches_plain"] == true);
  }
  auto sampled = run_g4u("generate --model tiny --draft tiny-assistant --k 3 --temperature 1 --seed 4 --prompt hi -n 12 --json");
  REQUIRE(sampled.code == 0);
  CHECK(json::parse(sampled.out)["tokens"].size() == 12);
}

TEST_CASE("--draft-quant: a 4-bit drafter still gives the plain greedy output; bad recipes and drafters are errors",
          "[integration][mtp]") {
  json j = run_g4u_json("generate --model tiny --draft tiny-assistant --draft-quant q4_0 --k 3 --prompt 'hello there' -n 16 --json");
  CHECK(j["draft_quant"] == "q4_0");
  CHECK(j["matches_plain"] == true);
  CHECK(j["tokens"] == j["plain_tokens"]);
  auto dense = run_g4u("generate --model tiny --draft tiny-assistant --k 3 --prompt 'hello there' -n 16 --json");
  REQUIRE(dense.code == 0);
  CHECK(json::parse(dense.out)["draft_quant"].is_null());

  auto calibrated = run_g4u("generate --model tiny --draft tiny-assistant --draft-quant gptq_asym_g128 --prompt hi -n 4");
  CHECK(calibrated.code == 2);
  CHECK(calibrated.err.find("gptq_asym_g128") != std::string::npos);
  auto unknown = run_g4u("generate --model tiny --draft tiny-assistant --draft-quant q3_x --prompt hi -n 4");
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("q3_x") != std::string::npos);
  // The MTP module's block quantizes too (its eh_proj stays dense); Medusa's heads do not.
  json mtp = run_g4u_json("generate --model tiny --draft tiny-mtp --draft-quant q4_0 --k 3 --prompt 'hello there' -n 16 --json");
  CHECK(mtp["draft_quant"] == "q4_0");
  CHECK(mtp["matches_plain"] == true);
  auto medusa = run_g4u("generate --model tiny --draft tiny-medusa --draft-quant q4_0 --prompt hi -n 4");
  CHECK(medusa.code == 2);
  CHECK(medusa.err.find("no quantizable projections") != std::string::npos);
}

TEST_CASE("bench --draft adds the acceptance metrics and speedup", "[integration][mtp]") {
  json j = run_g4u_json("bench --model tiny -p 0 -n 16 -d 4 --reps 1 --draft tiny-assistant --k 2 --json");
  for (const char* k : {"decode", "acceptance_rate", "tau", "per_position_acceptance", "speedup", "matches_plain"})
    CHECK(j.contains(k));
  CHECK(j["matches_plain"] == true);
}

TEST_CASE("bench --k-sweep measures each draft length on one load, with the round's cost and break-even",
          "[integration][mtp]") {
  json j = run_g4u_json("bench --model tiny -p 0 -n 12 -d 4 --reps 1 --draft tiny-assistant --k-sweep 1,3 --json");
  REQUIRE(j["k_sweep"].size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const json& s = j["k_sweep"][i];
    CHECK(s["k"] == (i == 0 ? 1 : 3));
    CHECK(s["k_schedule"] == "fixed");
    CHECK(s["matches_plain"] == true);
    const double cost = s["round_cost_in_plain_steps"].get<double>();
    CHECK(cost == Approx((s["draft_seconds_per_round"].get<double>() + s["verify_seconds_per_round"].get<double>()) /
                         s["plain_seconds_per_token"].get<double>()));
    // The break-even rate a solves 1 + a + ... + a^k = cost (null when no rate pays).
    if (s["break_even_acceptance"].is_number()) {
      const double a = s["break_even_acceptance"].get<double>();
      double tokens = 0;
      for (int64_t p = 0; p <= s["k"].get<int64_t>(); ++p) tokens += std::pow(a, static_cast<double>(p));
      CHECK(tokens == Approx(std::max(cost, 1.0)).epsilon(1e-6));
    } else {
      CHECK(cost > s["k"].get<double>() + 1);
    }
  }
  CHECK(!j.contains("speedup"));  // the sweep replaces the single --k run
  CHECK(run_g4u("bench --model tiny -p 0 -n 4 --reps 1 --k-sweep 1,2").code == 2);  // no --draft
  CHECK(run_g4u("bench --model tiny -p 0 -n 4 --reps 1 --draft tiny-assistant --k-sweep 0,2").code == 2);
}

TEST_CASE("drafter errors: k <= 0, size or vocabulary mismatch, missing tensors", "[integration][mtp]") {
  auto k0 = run_g4u("generate --model tiny --draft tiny-assistant --k 0 --prompt hi -n 4");
  CHECK(k0.code == 2);
  CHECK(k0.err.find("--k 0") != std::string::npos);
  auto kneg = run_g4u("bench --model tiny -p 0 -n 4 --reps 1 --draft tiny-assistant --k -1");
  CHECK(kneg.code == 2);
  auto size = run_g4u("generate --model tiny --draft small-assistant --prompt hi -n 4");
  CHECK(size.code == 2);
  CHECK(size.err.find("backbone_hidden_size 256") != std::string::npos);
  auto unknown = run_g4u("generate --model tiny --draft nope --prompt hi -n 4");
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("tiny-assistant") != std::string::npos);

  // A checkpoint whose config declares a layer its safetensors lacks.
  ScratchDir dir_scratch("missing");
  const std::string dir = dir_scratch.path;
  REQUIRE(run_g4u("init --model tiny-assistant --out " + dir + " --dtype fp32").code == 0);
  json cfg = json::parse(std::ifstream(dir + "/config.json"));
  cfg["text_config"]["num_hidden_layers"] = 3;
  cfg["text_config"]["num_kv_shared_layers"] = 3;
  cfg["text_config"]["layer_types"] = {"sliding_attention", "full_attention", "full_attention"};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  auto missing = run_g4u("generate --model tiny --draft " + dir + " --prompt hi -n 4");
  CHECK(missing.code == 2);
  CHECK(missing.err.find("model.layers.2") != std::string::npos);
  CHECK(missing.err.find("missing") != std::string::npos);
}

TEST_CASE("init of a drafter preset equals the preset; train-drafter saves a checkpoint --draft loads", "[integration][mtp]") {
  ScratchDir dir_scratch("init");
  const std::string dir = dir_scratch.path;
  REQUIRE(run_g4u("init --model tiny-assistant --out " + dir + " --dtype fp32 --seed 3").code == 0);
  auto from_dir = run_g4u("generate --model tiny --draft " + dir + " --k 3 --prompt abc -n 10 --json --seed 3");
  auto from_preset = run_g4u("generate --model tiny --draft tiny-assistant --k 3 --prompt abc -n 10 --json --seed 3");
  REQUIRE(from_dir.code == 0);
  REQUIRE(from_preset.code == 0);
  CHECK(json::parse(from_dir.out)["accepted"] == json::parse(from_preset.out)["accepted"]);
  CHECK(json::parse(from_dir.out)["per_position_acceptance"] == json::parse(from_preset.out)["per_position_acceptance"]);

  for (const char* d : {"tiny-assistant", "tiny-mtp", "tiny-medusa"}) {
    INFO(d);
    ScratchDir out_scratch(std::string("trained_") + d);
  const std::string out = out_scratch.path;
    json j = run_g4u_json(std::string("train-drafter --model tiny --draft ") + d + " --out " + out +
                     " --steps 4 --samples 8 --batch 4 --seq-len 16 --eval-prompts 2 --eval-tokens 8 --json");
    CHECK(j["steps"] == 4);
    CHECK(j["log"].size() >= 2);
    CHECK(fs::exists(out + "/model.safetensors"));
    auto g = run_g4u("generate --model tiny --draft " + out + " --k 2 --prompt abc -n 8 --json");
    REQUIRE(g.code == 0);
    CHECK(json::parse(g.out)["matches_plain"] == true);
  }
}

TEST_CASE("train-drafter: bad option values and --prompts runs are handled", "[integration][mtp]") {
  ScratchDir scratch("train_drafter_flags");
  const std::string out = scratch.path + "/out";
  auto bad = run_g4u("train-drafter --model tiny --draft tiny-mtp --out " + out + " --steps -1");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--steps: must be >= 0") != std::string::npos);
  auto bad_temperature = run_g4u("train-drafter --model tiny --draft tiny-mtp --out " + out + " --sample-temperature -1");
  CHECK(bad_temperature.code == 2);
  CHECK(bad_temperature.err.find("--sample-temperature") != std::string::npos);
  CHECK(run_g4u("train-drafter --help").out.find("--min-lr-ratio") != std::string::npos);

  const std::string prompts = scratch.path + "/prompts.txt";
  std::ofstream(prompts) << "What is 1 + 1?\n\nName a colour.\n";
  auto both = run_g4u("train-drafter --model tiny --draft tiny-mtp --out " + out + " --data " + prompts +
                      " --prompts " + prompts);
  CHECK(both.code == 2);
  auto t = run_g4u("train-drafter --model tiny --draft tiny-mtp --out " + out + " --prompts " + prompts +
                   " --steps 2 --samples 4 --batch 2 --seq-len 16 --eval-prompts 0 --json");
  INFO(t.err);
  REQUIRE(t.code == 0);
  json j = json::parse(t.out);
  CHECK(j["steps"] == 2);
  CHECK(j["eval_before"].is_null());
  CHECK(j["data"].get<std::string>().find("4 sequences") == 0);
  CHECK(fs::exists(out + "/model.safetensors"));

  // A manifest of text tasks: each sample's prompt as g4u eval renders it; media samples are refused.
  const std::string arith = scratch.path + "/arith";
  REQUIRE(run_g4u("data synth --suite arith --n 3 --seed 1 --out " + arith).code == 0);
  auto m = run_g4u("train-drafter --model tiny --draft tiny-mtp --out " + scratch.path + "/from_manifest --prompts " + arith +
                   "/manifest.jsonl --steps 2 --samples 4 --batch 2 --seq-len 16 --eval-prompts 0 --json");
  INFO(m.err);
  REQUIRE(m.code == 0);
  CHECK(json::parse(m.out)["data"].get<std::string>().find("4 sequences: " + arith + "/manifest.jsonl prompts") == 0);
  const std::string shapes = scratch.path + "/shapes";
  REQUIRE(run_g4u("data synth --suite count-shapes --n 2 --seed 1 --out " + shapes).code == 0);
  auto media = run_g4u("train-drafter --model tiny --draft tiny-mtp --out " + scratch.path + "/media --prompts " + shapes +
                       "/manifest.jsonl --steps 1 --samples 2 --batch 2 --seq-len 16 --eval-prompts 0");
  CHECK(media.code == 2);
  CHECK(media.err.find("the sample has media; drafters are distilled on text prompts") != std::string::npos);
}
