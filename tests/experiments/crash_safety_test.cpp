// `g4u train` and `g4u train-drafter` killed with SIGKILL at random points drawn from a fixed seed:
// after each kill nothing in the output folder reads as a finished result unless it is one, and
// rerunning the same command gives the uninterrupted run's bytes (train resumes from its last
// checkpoint; train-drafter starts over). Kill points follow the run's progress where it shows
// any (train's checkpoints), not the wall clock alone: on a loaded machine a later attempt can run
// faster than the reference run, and a kill timed by the clock alone would land after the end.
// `g4u quantize` and `export-gguf` are covered in tests/quant/io/crash_safety_test.cpp, `g4u eval`
// in tests/eval/runner/cli_test.cpp, `g4u run` in tests/experiments/run/run_test.cpp.
#include "cli_runner.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace g4u::test;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs `g4u <args>` to completion; returns its wall time.
double timed_run(const std::string& args) {
  const auto t0 = Clock::now();
  const CliResult r = run_g4u(args);
  INFO("g4u " << args << "\n" << r.err);
  REQUIRE(r.code == 0);
  return seconds_since(t0);
}

// Kill points: `n` fractions of a reference run's time in [0.1, 0.95], from a fixed seed.
std::vector<double> kill_fractions(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.1, 0.95);
  std::vector<double> f;
  for (int i = 0; i < n; ++i) f.push_back(u(rng));
  return f;
}

// Starts `g4u <args>` and kills it `seconds` after the start; true when the kill landed.
bool kill_after(const std::string& args, double seconds) {
  const auto t0 = Clock::now();
  return run_g4u_killed_when(args, [&] { return seconds_since(t0) >= seconds; });
}

std::string bytes_of(const fs::path& p) { return read_file(p.string()); }

// The step of <out>/checkpoint, 0 without one; -1 while it is being replaced (folder renames).
int64_t checkpoint_step(const fs::path& out) {
  const fs::path state = out / "checkpoint/trainer_state.json";
  if (!fs::exists(state)) return fs::exists(out / "checkpoint.old") ? -1 : 0;
  try {
    return nlohmann::json::parse(bytes_of(state)).at("step").get<int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

// Starts `g4u <args>` and kills it `delay` seconds after it wrote a checkpoint newer than the one
// it started from; true when the kill landed.
bool kill_after_next_checkpoint(const std::string& args, const fs::path& out, double delay) {
  const int64_t start_step = checkpoint_step(out);
  bool seen = false;
  Clock::time_point t_seen;
  return run_g4u_killed_when(args, [&] {
    if (!seen && checkpoint_step(out) > start_step) {
      seen = true;
      t_seen = Clock::now();
    }
    return seen && seconds_since(t_seen) >= delay;
  });
}

std::vector<double> losses(const fs::path& curves) {
  std::vector<double> out;
  for (const auto& e : nlohmann::json::parse(bytes_of(curves))["train"]) out.push_back(e["loss"].get<double>());
  return out;
}

}  // namespace

TEST_CASE("g4u train killed with SIGKILL at random points resumes to the weights of an uninterrupted run",
          "[integration]") {
  ScratchDir d("kill_train");
  const nlohmann::json config = {
      {"model", "tiny"},
      {"seed", 5},
      {"data", {{"suites", {{{"suite", "arith"}, {"n", 32}}}}, {"eval_n", 4}}},
      {"train", {{"steps", 48}, {"batch_size", 4}, {"lr", 3e-3}, {"warmup_steps", 2}, {"checkpoint_every", 4}, {"threads", 1}}}};
  std::ofstream(d / "config.json") << config.dump();
  const std::string base = "train --quiet --config " + (d / "config.json");
  const double t_ref = timed_run(base + " --out " + (d / "whole"));

  // Each attempt is killed at a random point of the checkpoint interval after its first new
  // checkpoint (12 intervals in the run): inside steps, inside checkpoint writes.
  const double interval = t_ref * 4 / 48;
  const fs::path out = d / "killed";
  int killed_mid_run = 0;
  for (double f : kill_fractions(5, 20261206)) {
    if (fs::exists(out / "model.safetensors")) break;  // finished before a kill landed
    INFO("killed " << f << " of a checkpoint interval (" << interval << " s) after a new checkpoint");
    const bool killed = kill_after_next_checkpoint(base + " --out " + out.string(), out, f * interval);
    killed_mid_run += killed && fs::exists(out / "checkpoint");
    // A final model is only ever the finished one.
    if (fs::exists(out / "model.safetensors"))
      CHECK(bytes_of(out / "model.safetensors") == bytes_of(d / "whole/model.safetensors"));
  }
  if (!fs::exists(out / "model.safetensors")) {
    const CliResult rerun = run_g4u(base + " --out " + out.string());
    INFO(rerun.err);
    REQUIRE(rerun.code == 0);
  }
  CHECK(bytes_of(out / "model.safetensors") == bytes_of(d / "whole/model.safetensors"));
  CHECK(losses(out / "curves.json") == losses(d / "whole/curves.json"));
  // The test only means something if kills landed after a checkpoint and before the end.
  CHECK(killed_mid_run >= 2);
}

TEST_CASE("g4u train-drafter killed with SIGKILL at random points leaves no drafter; the rerun is identical",
          "[integration]") {
  ScratchDir d("kill_drafter");
  const std::string base =
      "train-drafter --model tiny --draft tiny-assistant --steps 40 --samples 32 --seq-len 32 --threads 1 "
      "--eval-prompts 2 --eval-tokens 8 --seed 4";
  const double t_ref = timed_run(base + " --out " + (d / "whole"));
  const std::string ref = bytes_of(d / "whole/model.safetensors");

  const fs::path out = d / "killed";
  int killed = 0;
  for (double f : kill_fractions(4, 7)) {
    INFO("killed " << f << " of the reference run's " << t_ref << " s after the start");
    // The drafter shows no progress before its end; an attempt that finished before the kill is
    // repeated with half the time, so a faster-than-reference attempt still gets its kill.
    bool landed = false;
    for (double t = f * t_ref; !landed && t > 0.05 * t_ref; t /= 2) landed = kill_after(base + " --out " + out.string(), t);
    killed += landed;
    // What a later --draft would read: config.json. It is only there beside finished weights.
    if (fs::exists(out / "config.json")) {
      CHECK(bytes_of(out / "model.safetensors") == ref);
      CHECK(bytes_of(out / "config.json") == bytes_of(d / "whole/config.json"));
    } else if (fs::exists(out)) {
      const CliResult r = run_g4u("generate --model tiny --draft " + out.string() + " --prompt abc -n 2");
      CHECK(r.code == 2);  // a clear error, not a half-written drafter
      CHECK(r.err.find("config.json") != std::string::npos);
    }
  }
  const CliResult rerun = run_g4u(base + " --out " + out.string());
  INFO(rerun.err);
  REQUIRE(rerun.code == 0);
  CHECK(bytes_of(out / "model.safetensors") == ref);
  CHECK(bytes_of(out / "config.json") == bytes_of(d / "whole/config.json"));
  CHECK(killed >= 3);
}
