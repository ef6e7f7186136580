// Crash safety of the commands that write large outputs: `g4u init` and `g4u quantize` (checkpoint
// folders) and `g4u export-gguf` (one file).
// - Killed with SIGKILL at several points of their write: the output either does not exist or is
//   complete, and rerunning the command (which clears the temp files the killed run left) gives
//   byte-identical output to an uninterrupted run.
// - A write that fails (a full disk; here a file-size limit, which fails write() the same way): a
//   clear error naming the file, exit 2, no output and no temp file left, and after the limit is
//   lifted the same command succeeds.
#include "cli_runner.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <filesystem>
#include <map>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace g4u::test;

namespace {

// Every file under `root` (relative path -> bytes); a single file maps "" to its bytes.
std::map<std::string, std::string> contents(const fs::path& root) {
  std::map<std::string, std::string> files;
  if (fs::is_regular_file(root)) return {{"", read_file(root.string())}};
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = read_file(e.path().string());
  return files;
}

// Entries of `dir` whose name holds ".tmp." (what a killed writer leaves).
int temps_in(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

// Starts `g4u <args>`, waits until `out` or its temp "<out>.tmp.<pid>" appears, waits `delay`
// seconds more and kills the process with SIGKILL (if it is still running).
void kill_during(const ScratchDir& d, const std::string& args, const std::string& out, const std::string& delay) {
  const std::string pid = d / "pid";
  const std::string script = "(" + std::string(G4U_BINARY) + " " + args + " -q 2>/dev/null & echo $! > " + pid +
                             "; wait) & for i in $(seq 1 1000); do { [ -e " + out + " ] || compgen -G \"" + out +
                             ".tmp.*\" >/dev/null; } && break; sleep 0.01; done; sleep " + delay + "; kill -9 $(cat " +
                             pid + ") 2>/dev/null; wait; true";
  REQUIRE(std::system(("bash -c '" + script + "' 2>/dev/null").c_str()) == 0);  // quiet: bash reports the kill
}

}  // namespace

TEST_CASE("quantize and export-gguf killed with SIGKILL at several points: no partial output, the rerun is identical",
          "[integration]") {
  ScratchDir d("kill_write");
  REQUIRE(run_g4u("init --model small --out " + (d / "src") + " --seed 3").code == 0);
  REQUIRE(run_g4u("quantize -q --model " + (d / "src") + " --scheme q4_k_m --out " + (d / "ref-q")).code == 0);
  REQUIRE(run_g4u("export-gguf -q --model " + (d / "ref-q") + " --out " + (d / "ref.gguf")).code == 0);
  const auto ref_q = contents(d / "ref-q"), ref_gguf = contents(d / "ref.gguf");
  REQUIRE(ref_q.size() == 3);  // config.json, model.safetensors, quantization.json

  struct Command {
    std::string args;  // without --out
    std::string out;
    const std::map<std::string, std::string>& expected;
  };
  const std::vector<Command> commands = {
      {"quantize --model " + (d / "src") + " --scheme q4_k_m", "q", ref_q},
      {"export-gguf --model " + (d / "ref-q"), "x.gguf", ref_gguf}};
  int killed_before_done = 0;
  for (const Command& c : commands) {
    // From "as soon as the temp appears" to "probably finished".
    for (const std::string delay : {"0", "0.05", "0.2", "0.5", "1.5"}) {
      const std::string out = d / (delay + "-" + c.out);
      INFO(c.args << ", killed " << delay << " s after its output appeared");
      kill_during(d, c.args + " --out " + out, out, delay);
      if (fs::exists(out)) {
        CHECK(contents(out) == c.expected);  // what exists is complete
      } else {
        ++killed_before_done;
        const CliResult rerun = run_g4u(c.args + " -q --out " + out);
        INFO(rerun.err);
        REQUIRE(rerun.code == 0);
        CHECK(contents(out) == c.expected);
      }
      CHECK(temps_in(d.path) == 0);  // the rerun removed the killed run's temp files
    }
  }
  // The test only means something if some kills landed mid-write.
  CHECK(killed_before_done >= 4);
}

TEST_CASE("a write that fails (full disk, file-size limit) is an error naming the file; nothing is left; the rerun works",
          "[integration]") {
  ScratchDir d("write_fails");
  REQUIRE(run_g4u("init --model tiny --out " + (d / "src") + " --seed 1").code == 0);
  REQUIRE(run_g4u("quantize -q --model " + (d / "src") + " --scheme q4_0 --out " + (d / "q")).code == 0);
  // Each output is larger than 64 KiB (tiny: 588 KB fp32, 280 KB quantized, 184 KB GGUF).
  for (const auto& [args, out] : std::vector<std::pair<std::string, std::string>>{
           {"init --model tiny --seed 1 --out ", d / "init-out"},
           {"quantize -q --model " + (d / "src") + " --scheme q4_0 --out ", d / "q-out"},
           {"export-gguf -q --model " + (d / "q") + " --out ", d / "out.gguf"}}) {
    INFO(args);
    // SIGXFSZ ignored: a write past the limit fails with EFBIG, as one fails with ENOSPC on a full disk.
    const std::string limited = "bash -c 'trap \"\" XFSZ; ulimit -f 64; " + std::string(G4U_BINARY) + " " + args + out +
                                " 2>" + (d / "err") + "'";
    const int status = std::system(limited.c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 2);
    const std::string err = read_file(d / "err");
    INFO(err);
    CHECK_THAT(err, Catch::Contains(fs::path(out).filename().string()) && Catch::Contains("File too large"));
    CHECK((!fs::exists(out) || fs::is_empty(out)));  // init accepts an empty folder, as the rerun shows
    CHECK(temps_in(d.path) == 0);
    const CliResult again = run_g4u(args + out);
    INFO(again.err);
    CHECK(again.code == 0);
  }
}
