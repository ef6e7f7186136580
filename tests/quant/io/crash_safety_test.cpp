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


#include <algorithm>
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

// Bytes of the temp output of `out` written so far: every regular file under "<out>.tmp.*" (a
// folder for checkpoints, a file for GGUF); -1 while there is none.
int64_t temp_bytes(const fs::path& out) {
  int64_t total = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(out.filename().string() + ".tmp.", 0) != 0) continue;
    total = std::max<int64_t>(total, 0);
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
    if (e.is_directory(ec))
      for (const auto& f : fs::recursive_directory_iterator(e.path(), ec))
        if (f.is_regular_file(ec)) total += static_cast<int64_t>(f.file_size(ec));
  }
  return total;
}

int64_t total_bytes(const std::map<std::string, std::string>& files) {
  int64_t n = 0;
  for (const auto& [name, bytes] : files) n += static_cast<int64_t>(bytes.size());
  return n;
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
    // From "as soon as the temp appears" to "nearly all bytes written".
    for (const double fraction : {0.0, 0.25, 0.5, 0.75, 0.95}) {
      const std::string out = d / (std::to_string(fraction) + "-" + c.out);
      INFO(c.args << ", killed once its temp output held " << fraction << " of the final bytes");
      const auto target = static_cast<int64_t>(fraction * static_cast<double>(total_bytes(c.expected)));
      run_g4u_killed_when(c.args + " --out " + out + " -q", [&] {
        const int64_t bytes = temp_bytes(out);
        return bytes >= 0 && bytes >= target;
      });
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
  // The test only means something if the kills landed mid-write.
  CHECK(killed_before_done >= 8);
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
