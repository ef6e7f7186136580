// The memory a command plans to use, checked before it allocates (model/io/memory_plan.h): sizes
// parsed from G4U_MEMORY_LIMIT, the KV-cache and activation estimates, and the error that says how
// much is needed and how much is there. The available memory is injected, never the machine's.
#include "model/io/config.h"
#include "model/io/memory_plan.h"
#include "model/io/tensor_specs.h"
#include "cli_runner.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

using namespace g4u::model;
using g4u::test::expect_input_error;

using g4u::test::ScopedEnv;

TEST_CASE("memory sizes: bytes or K/M/G/T in powers of 1024; anything else names the variable", "[unit]") {
  CHECK(parse_memory_size("123", "X") == 123);
  CHECK(parse_memory_size("2k", "X") == 2048);
  CHECK(parse_memory_size("1.5G", "X") == 1.5 * 1073741824.0);
  CHECK(parse_memory_size("1T", "X") == 1099511627776.0);
  for (const char* bad : {"", "G", "12Q", "-1G", "1GG", "nan"}) {
    INFO(bad);
    expect_input_error([&] { parse_memory_size(bad, "G4U_MEMORY_LIMIT"); }, "G4U_MEMORY_LIMIT");
  }
  {
    ScopedEnv env(kMemoryLimitEnv, "3M");
    auto a = available_memory();
    REQUIRE(a);
    CHECK(a->bytes == 3 * 1048576.0);
    CHECK(a->source == kMemoryLimitEnv);
  }
  {
    ScopedEnv env(kMemoryLimitEnv, "off");
    CHECK_FALSE(available_memory());
  }
}

TEST_CASE("a plan over the memory available is an InputError saying what is needed and what is there", "[unit]") {
  MemoryPlan plan{{{"weights", 3.0 * 1073741824}, {"KV cache", 1.0 * 1073741824}}};
  CHECK(plan.total() == 4.0 * 1073741824);
  const AvailableMemory two_gib{2.0 * 1073741824, "MemAvailable in /proc/meminfo"};
  expect_input_error([&] { check_memory_plan(plan, "--model big", two_gib); },
                     "--model big needs about 4.0 GiB (weights 3.0 GiB, KV cache 1.0 GiB) but only 2.0 GiB is "
                     "available (MemAvailable in /proc/meminfo); set G4U_MEMORY_LIMIT=<size>");
  CHECK_NOTHROW(check_memory_plan(plan, "--model big", AvailableMemory{4.0 * 1073741824, "x"}));
  CHECK_NOTHROW(check_memory_plan(plan, "--model big", std::nullopt));  // the check is off
}

TEST_CASE("run plan: the KV cache as the cache keeps it, activations at least the attention scores", "[unit]") {
  const ModelConfig tiny = *model_preset("tiny");
  const TextConfig& t = tiny.text;
  REQUIRE(t.sliding_window == 8);
  // tiny: 4 sliding layers (2 KV heads of 16, window 8), 2 full layers (1 KV head of 32, K=V cached as K and V).
  const int64_t S = 1000;
  const double kv = 4 * (2.0 * 8 * 2 * 16 * 4) + 2 * (2.0 * S * 1 * 32 * 4);
  MemoryPlan p = run_memory_plan(t, 3, 900, S, 4, 0);
  REQUIRE(p.parts[0].first == "KV cache");
  CHECK(p.parts[0].second == 3 * kv);
  REQUIRE(p.parts[1].first == "activations");
  const double scores = 3.0 * t.sliding.num_heads * 900 * S * 4;  // one fp32 [B, heads, T, S] tensor
  CHECK(p.parts[1].second >= scores);
  CHECK(p.parts[1].second <= 5 * scores);
  CHECK(run_memory_plan(t, 1, 1, 1, 4, 7).parts[2].second == 7.0 * 320 * 4);  // 7 rows of fp32 logits
}

TEST_CASE("weight bytes: the parameter count times the bytes per parameter", "[unit]") {
  const ModelConfig c = *model_preset("gemma4-12b");
  CHECK(weight_bytes(c, 2) == 2.0 * static_cast<double>(count_params(model_tensor_specs(c))["total"]));
}

TEST_CASE("CLI: a run that needs more memory than is available stops before allocating, with exit 2", "[integration]") {
  using g4u::test::run_g4u;
  {
    // tiny's weights are about 1.1 MiB in fp32.
    ScopedEnv env(kMemoryLimitEnv, "100K");
    auto r = run_g4u("generate --model tiny --prompt hi -n 2");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--model tiny needs about 1.1 MiB (weights 1.1 MiB)") &&
                          Catch::Contains("only 100.0 KiB is available (G4U_MEMORY_LIMIT)"));
  }
  {
    // The weights fit in 32 MiB; 4000 positions of attention scores (4 heads, fp32) do not.
    ScopedEnv env(kMemoryLimitEnv, "32M");
    auto r = run_g4u("bench --model tiny -p 4000 -n 1 --reps 1");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("bench: a prompt of 4000 tokens + 1 new (batch 1) needs about") &&
                          Catch::Contains("activations"));
    CHECK(run_g4u("bench --model tiny -p 16 -n 2 --reps 1").code == 0);
  }
  {
    // g4u eval checks each row, then each batch: four long prompts fit one at a time, not together.
    g4u::test::ScratchDir d("memory_batch");
    std::string lines, question = "What is 1";
    for (int i = 0; i < 250; ++i) question += " + 1";
    for (int i = 0; i < 4; ++i)
      lines += "{\"id\": \"long-" + std::to_string(i) + "\", \"task\": \"arith\", \"question\": \"" + question + "?\", \"answers\": [251]}\n";
    g4u::test::write_file(d / "long.jsonl", lines);
    const std::string eval = "eval --model tiny --data " + (d / "long.jsonl") + " --max-new-tokens 4 --out ";
    REQUIRE(run_g4u(eval + (d / "free") + " --batch 1").code == 0);
    // The plan of one row and of four, from the prompt lengths the unlimited run logged.
    int64_t longest = 0;
    for (const auto& record : g4u::test::read_jsonl(d / "free/samples.jsonl"))
      longest = std::max<int64_t>(longest, record["prompt_tokens"].get<int64_t>());
    const ModelConfig tiny = *model_preset("tiny");
    const TextConfig& t = tiny.text;
    const double one = run_memory_plan(t, 1, longest, longest + 4, 4, 1).total();
    const double four = run_memory_plan(t, 4, longest, longest + 4, 4, 4).total();
    REQUIRE(four > one);
    REQUIRE(one > 2 * weight_bytes(tiny, 4));  // the weights pass under the limit
    ScopedEnv env(kMemoryLimitEnv, std::to_string(static_cast<int64_t>((one + four) / 2)).c_str());
    CHECK(run_g4u(eval + (d / "one") + " --batch 1").code == 0);
    auto r = run_g4u(eval + (d / "four") + " --batch 4");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--batch 4 (task arith; use a smaller --batch): a prompt of " + std::to_string(longest) +
                                      " tokens + 4 new (batch 4) needs about"));
  }
  {
    // g4u ppl checks one chunk: 3000 positions of tiny's attention scores need far more than 64 MiB.
    g4u::test::ScratchDir d("memory_ppl");
    std::string text;
    for (int i = 0; i < 400; ++i) text += "the quick brown fox " + std::to_string(i) + "\n";
    g4u::test::write_file(d / "text.txt", text);
    ScopedEnv env(kMemoryLimitEnv, "64M");
    auto r = run_g4u("ppl --model tiny --data " + (d / "text.txt") + " --ctx 3000 --chunks 1");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--ctx 3000: a prompt of 3000 tokens + 0 new (batch 1) needs about"));
    CHECK(run_g4u("ppl --model tiny --data " + (d / "text.txt") + " --ctx 64 --chunks 1").code == 0);
  }
  {
    // g4u train checks weights, gradients, AdamW state and activations before building the model:
    // tiny's 16 bytes a parameter alone pass 3 MiB.
    g4u::test::ScratchDir d("memory_train");
    g4u::test::write_file(d / "train.json", R"({"model": "tiny", "data": {"suites": [{"suite": "arith", "n": 8}], "eval_n": 0},
                                              "train": {"steps": 2, "warmup_steps": 1, "batch_size": 4}})");
    ScopedEnv env(kMemoryLimitEnv, "3M");
    auto r = run_g4u("train --config " + (d / "train.json") + " --out " + (d / "out"));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("training (batch 4 of up to ") &&
                          Catch::Contains("weights, gradients and AdamW state (fp32)") &&
                          Catch::Contains("only 3.0 MiB is available (G4U_MEMORY_LIMIT)"));
  }
  {
    ScopedEnv env(kMemoryLimitEnv, "lots");
    auto r = run_g4u("generate --model tiny --prompt hi -n 2");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("G4U_MEMORY_LIMIT: 'lots' is not a memory size"));
  }
}
