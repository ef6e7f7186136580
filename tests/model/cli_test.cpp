// End-to-end checks of the foundation commands through the real binary.
#include "cli_runner.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace g4u::test;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("g4u info prints the released parameter counts", "[integration][cli]") {
  json j = run_g4u_json("info --model gemma4-12b --json");
  CHECK(j["params"]["total"] == 11959730224LL);
  CHECK(j["params"]["text"] == 11907350320LL);
  CHECK(j["params"]["vision_embedder"] == 35176704);
  CHECK(j["params"]["vision_projection"] == 14745600);
  CHECK(j["params"]["audio_projection"] == 2457600);
  CHECK(j["bytes"]["bf16"] == 23919460448LL);
  CHECK(j["kv_cache_bytes"]["131072"] == 2368LL << 20);
  auto human = run_g4u("info --model gemma4-12b");
  CHECK(human.err.find("11,959,730,224") != std::string::npos);
  auto a = run_g4u("info --model gemma4-12b-assistant --json");
  REQUIRE(a.code == 0);
  CHECK(json::parse(a.out)["params"]["total"] == 422856964);
  auto bad = run_g4u("info --model no-such-model");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("no-such-model") != std::string::npos);
}

TEST_CASE("g4u init writes a checkpoint that info validates and generate reproduces", "[integration][cli]") {
  ScratchDir dir_scratch("init");
  const std::string dir = dir_scratch.path;
  auto r = run_g4u("init --model tiny --out " + dir + " --seed 5 --dtype fp32 --json");
  REQUIRE(r.code == 0);
  auto info = run_g4u("info --model " + dir + " --json");
  REQUIRE(info.code == 0);
  json ij = json::parse(info.out);
  CHECK(ij["checkpoint"]["valid"] == true);
  CHECK(ij["checkpoint"]["tensors"] == ij["tensors"]);
  auto from_dir = run_g4u("generate --model " + dir + " --prompt hello -n 6 --json --seed 5");
  auto from_preset = run_g4u("generate --model tiny --prompt hello -n 6 --json --seed 5");
  REQUIRE(from_dir.code == 0);
  REQUIRE(from_preset.code == 0);
  CHECK(json::parse(from_dir.out)["tokens"] == json::parse(from_preset.out)["tokens"]);
  CHECK(json::parse(from_dir.out)["tokens"].size() == 6);
  // --mmap (weights viewing the file where the run dtype is the stored one, converted copies where
  // it is not) generates the same tokens as owned copies.
  for (const std::string dtype : {"fp32", "bf16"}) {
    const std::string gen = "generate --model " + dir + " --prompt hello -n 6 --json --seed 5 --dtype " + dtype;
    CHECK(run_g4u_json(gen + " --mmap")["tokens"] == run_g4u_json(gen)["tokens"]);
  }

  SECTION("a truncated safetensors file is rejected with exit code 2") {
    std::string st = dir + "/model.safetensors";
    auto size = fs::file_size(st);
    fs::resize_file(st, size - 100);
    auto bad = run_g4u("info --model " + dir);
    CHECK(bad.code == 2);
    CHECK(bad.err.find("model.safetensors") != std::string::npos);
    CHECK(run_g4u("generate --model " + dir + " --prompt x -n 1").code == 2);
  }
  SECTION("a config that does not match the tensors is rejected") {
    std::ifstream in(dir + "/config.json");
    json cfg = json::parse(in);
    in.close();
    cfg["text_config"]["intermediate_size"] = 96;
    std::ofstream(dir + "/config.json") << cfg.dump();
    auto bad = run_g4u("info --model " + dir);
    CHECK(bad.code == 2);
    CHECK(bad.err.find("shape") != std::string::npos);
  }
  SECTION("a config without hidden_size names the file and the field") {
    std::ifstream in(dir + "/config.json");
    json cfg = json::parse(in);
    in.close();
    cfg["text_config"].erase("hidden_size");
    std::ofstream(dir + "/config.json") << cfg.dump();
    auto bad = run_g4u("info --model " + dir);
    CHECK(bad.code == 2);
    CHECK_THAT(bad.err, Catch::Contains(dir + "/config.json") && Catch::Contains("text_config.hidden_size: missing required field"));
  }
}

TEST_CASE("g4u forward writes [T, vocab] float32 logits and per-layer outputs", "[integration][cli]") {
  ScratchDir dir_scratch("forward");
  const std::string dir = dir_scratch.path;
  json j = run_g4u_json("forward --model tiny --tokens 2,5,40,41,42 --out " + dir + "/logits.f32 --hidden " + dir +
                   "/hidden --json");
  CHECK(fs::file_size(dir + "/logits.f32") == 5 * 320 * 4);
  CHECK(fs::file_size(dir + "/hidden/layer_05.f32") == 5 * 64 * 4);
  // The argmax reported equals the argmax of the written logits.
  std::ifstream in(dir + "/logits.f32", std::ios::binary);
  std::vector<float> logits(5 * 320);
  in.read(reinterpret_cast<char*>(logits.data()), logits.size() * 4);
  for (int t = 0; t < 5; ++t) {
    int best = 0;
    for (int v = 1; v < 320; ++v)
      if (logits[t * 320 + v] > logits[t * 320 + best]) best = v;
    CHECK(j["argmax"][t] == best);
  }
  CHECK(run_g4u("forward --model tiny --tokens 2,999 --out " + dir + "/x.f32").code == 2);
  CHECK(run_g4u("forward --model tiny --tokens 2,abc --out " + dir + "/x.f32").code == 2);
  CHECK(run_g4u("forward --model tiny --tokens 2 --dtype fp16 --out " + dir + "/x.f32").code == 2);
}

TEST_CASE("g4u forward --tokens needs no tokenizer file; --prompt names the missing one", "[integration][cli]") {
  ScratchDir scratch("forward_ids");
  const std::string dir = scratch / "ckpt";
  REQUIRE(run_g4u("init --model tiny --out " + dir + " --seed 3 --dtype fp32").code == 0);
  // A checkpoint that tokenizes with SentencePiece but ships no tokenizer.model.
  json cfg = json::parse(g4u::test::read_file(dir + "/config.json"));
  cfg["g4u_tokenizer"] = "sentencepiece";
  g4u::test::write_file(dir + "/config.json", cfg.dump());
  REQUIRE_FALSE(fs::exists(dir + "/tokenizer.model"));
  auto ids = run_g4u("forward --model " + dir + " --tokens 2,5,40 --out " + (scratch / "a.f32") + " --json");
  INFO(ids.err);
  REQUIRE(ids.code == 0);
  CHECK(fs::file_size(scratch / "a.f32") == 3 * 320 * 4);
  // Same weights as the preset with the same seed: the same logits, byte for byte.
  REQUIRE(run_g4u("forward --model tiny --seed 3 --tokens 2,5,40 --out " + (scratch / "b.f32")).code == 0);
  CHECK(g4u::test::read_file(scratch / "a.f32") == g4u::test::read_file(scratch / "b.f32"));
  auto text = run_g4u("forward --model " + dir + " --prompt hello --out " + (scratch / "c.f32"));
  CHECK(text.code == 2);
  CHECK(text.err.find("tokenizer.model") != std::string::npos);
}

TEST_CASE("g4u bench reports prefill and decode throughput", "[integration][cli]") {
  json j = run_g4u_json("bench --model tiny -p 16 -n 8 --reps 2 --json");
  CHECK(j["prefill"]["tokens_per_s"].get<double>() > 0);
  CHECK(j["decode"]["tokens_per_s"].get<double>() > 0);
  CHECK(j["weight_bytes"].get<int64_t>() > 0);
  CHECK(run_g4u("bench --model tiny --reps 0").code == 2);
}

TEST_CASE("g4u bench --contexts measures every length on one load, in increasing order", "[integration][cli]") {
  json j = run_g4u_json("bench --model tiny --contexts 24,8 -n 3 --reps 1 --membw --json");
  CHECK(!j.contains("prefill"));  // -p and -d are replaced by the lengths
  REQUIRE(j["contexts"].size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const json& c = j["contexts"][i];
    const int64_t n = i == 0 ? 8 : 24;
    CHECK(c["context"] == n);
    CHECK(c["prefill"]["tokens"] == n);
    CHECK(c["prefill"]["tokens_per_s"].get<double>() > 0);
    CHECK(c["decode"]["depth"] == n);
    CHECK(c["decode"]["tokens"] == 3);
    CHECK(c["roofline_fraction"].get<double>() > 0);
  }
  // tiny's cache: sliding layers hold at most W - 1 = 7 slots, the two full layers every one; a
  // deeper context costs exactly its extra full-layer slots.
  CHECK(j["contexts"][1]["kv_cache_bytes"].get<int64_t>() > j["contexts"][0]["kv_cache_bytes"].get<int64_t>());
  for (const std::string args : {"--contexts 8,0", "--contexts 8,x", "--contexts 8 -d 2", "--contexts 8 --tokens 1,2"}) {
    auto r = run_g4u("bench --model tiny --reps 1 -n 1 " + args);
    INFO(args << "\n" << r.err);
    CHECK(r.code == 2);
  }
}

TEST_CASE("g4u bench --embedders times every projector variant beside the decoder, in --dtype", "[integration][cli]") {
  for (const std::string dtype : {"fp32", "bf16"}) {
    json j = run_g4u_json("bench --model tiny --embedders --reps 1 --dtype " + dtype + " --json");
    CHECK(j["dtype"] == dtype);
    CHECK(j["device"] == "cpu");
    REQUIRE(!j["vision"].empty());
    REQUIRE(!j["audio"].empty());
    for (const auto& v : j["vision"]) {
      CHECK(v["seconds"].get<double>() > 0);
      CHECK(v["decoder_prefill_seconds"].get<double>() > 0);  // tiny's decoder fits
    }
    for (const auto& a : j["audio"]) CHECK(a["seconds_per_second_of_audio"].get<double>() > 0);
  }
  CHECK(run_g4u("bench --model tiny --embedders --reps 1 --quant q4_0").code == 2);
}

TEST_CASE("g4u init --config-only writes the preset's config.json and nothing else", "[integration][cli]") {
  ScratchDir dir("init_config_only");
  auto r = run_g4u("init --model gemma4-12b --config-only --out " + dir / "c");
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "c")) files.push_back(e.path().filename().string());
  CHECK(files == std::vector<std::string>{"config.json"});
  const json c = json::parse(read_file(dir / "c/config.json"));
  CHECK(c["model_type"] == "gemma4_unified");
  CHECK(c["text_config"]["hidden_size"] == 3840);  // the released 12B's width
  CHECK(c["g4u_tokenizer"] == "none");
  CHECK(run_g4u("init --model tiny-assistant --config-only --out " + dir / "d").code == 2);
}

TEST_CASE("g4u bench --tokens runs an exact prompt and lists the greedy tokens", "[integration][cli]") {
  ScratchDir scratch("bench_tokens");
  json j = run_g4u_json("bench --model tiny --tokens 2,5,40,41,42 -n 3 --reps 2 --json");
  CHECK(j["prefill"]["tokens"] == 5);
  CHECK(j["decode"]["depth"] == 5);
  CHECK(j["prompt_tokens"] == json::array({2, 5, 40, 41, 42}));
  REQUIRE(j["generated"].size() == 4);  // token 1 from the prefill, 2..4 from the decode steps
  CHECK(j["generated_same_every_rep"] == true);
  CHECK(j["load_seconds"].get<double>() >= 0);
  CHECK(j["peak_rss_bytes"].get<int64_t>() > 0);
  CHECK(j["resident_at_end"]["shared_libraries"].get<int64_t>() > 1);  // LibTorch and what it links
  CHECK(j["resident_at_end"]["libtorch_bytes"].get<int64_t>() > 0);
  // Token 1 is the argmax after the prompt, as forward computes it.
  auto fwd = run_g4u("forward --model tiny --tokens 2,5,40,41,42 --out " + (scratch / "l.f32") + " --json");
  REQUIRE(fwd.code == 0);
  CHECK(json::parse(fwd.out)["argmax"][4] == j["generated"][0]);
  // The same ids from a file (commas or whitespace) give the same tokens.
  g4u::test::write_file(scratch / "ids.txt", "2 5\n40,41, 42\n");
  auto f = run_g4u("bench --model tiny --tokens @" + (scratch / "ids.txt") + " -n 3 --reps 1 --json");
  REQUIRE(f.code == 0);
  CHECK(json::parse(f.out)["generated"] == j["generated"]);
  CHECK(run_g4u("bench --model tiny --tokens 2,999 -n 1 --reps 1").code == 2);
  CHECK(run_g4u("bench --model tiny --tokens 2,x -n 1 --reps 1").code == 2);
  CHECK(run_g4u("bench --model tiny --tokens 2,5 -d 4 --reps 1").code == 2);
}

TEST_CASE("g4u has OpenBLAS's idle pthreads workers sleep unless the environment chose a timeout", "[unit][cli]") {
  auto timeout_of_run = [] {
    return run_g4u_json("bench --model tiny -p 4 -n 1 --reps 1 --json")["openblas_thread_timeout"].get<std::string>();
  };
  {
    ScopedEnv chosen("OPENBLAS_THREAD_TIMEOUT", "20");
    CHECK(timeout_of_run() == "20");
  }
  ScopedEnv unset("OPENBLAS_THREAD_TIMEOUT", nullptr);
  // This test binary links the same LibTorch, and so the same BLAS, as g4u.
  using GetParallel = int (*)();
  auto get_parallel = reinterpret_cast<GetParallel>(::dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  const bool pthreads = get_parallel != nullptr && get_parallel() == 1;
  INFO("OpenBLAS pthreads build: " << pthreads);
  CHECK(timeout_of_run() == (pthreads ? "4" : "unset"));
}

TEST_CASE("run commands refuse what they cannot do before allocating, and never lose output silently",
          "[integration][cli]") {
  // Past the model's positions: refused before any cache is allocated.
  for (const std::string args : {"bench --model tiny -p 1000000 -n 1", "bench --model tiny -p 8 -d 1000000 -n 1",
                                 "generate --model tiny --prompt hi -n 100000000"}) {
    auto r = run_g4u(args);
    INFO(args << "\n" << r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("exceeds the model's") && Catch::Contains("positions"));
  }
  for (const char* t : {"nan", "inf", "-1"}) {
    auto r = run_g4u(std::string("generate --model tiny --prompt hi -n 2 --temperature ") + t);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--temperature"));
  }
  // Standard output that cannot be written is an error, not exit 0.
  ScratchDir dir("cli_outputs");
  const std::string err = dir / "err.txt";
  const int status = std::system((std::string(G4U_BINARY) + " info --model tiny --json >/dev/full 2>" + err).c_str());
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(read_file(err), Catch::Contains("standard output"));
  // init writes a new checkpoint only: over another one its stale files would survive.
  REQUIRE(run_g4u("init --model tiny --out " + dir / "ck").code == 0);
  auto again = run_g4u("init --model tiny --seed 3 --out " + dir / "ck");
  CHECK(again.code == 2);
  CHECK_THAT(again.err, Catch::Contains("not an empty folder"));
}
