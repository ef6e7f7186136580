// Runs the g4u binary (G4U_BINARY from test_paths.h) for CLI tests: exit code, stdout, stderr.
#pragma once

#include "test_paths.h"
#include "test_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace g4u::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};


// `args` is passed to /bin/sh after the binary path; quote as needed. `stdin_text` feeds stdin.
inline CliResult run_g4u(const std::string& args, const std::string& stdin_text = "") {
  static int counter = 0;
  std::string base = "/tmp/g4u_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  std::string in = base + ".in", out = base + ".out", err = base + ".err";
  {
    std::ofstream f(in, std::ios::binary);
    f << stdin_text;
  }
  std::string cmd = std::string(G4U_BINARY) + " " + args + " <" + in + " >" + out + " 2>" + err;
  int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  std::remove(in.c_str());
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

// Runs g4u and parses its stdout as JSON; the run must succeed (its stderr is shown when it does not).
inline nlohmann::json run_g4u_json(const std::string& args) {
  const CliResult r = run_g4u(args);
  INFO("g4u " << args << "\n" << r.err);
  REQUIRE(r.code == 0);
  return nlohmann::json::parse(r.out);
}

// Starts `g4u <args>` (stdout and stderr discarded) and kills it with SIGKILL as soon as
// `should_kill()` returns true, polled every 100 us. Returns true when the kill landed, false when
// the process exited first. For the crash-safety tests: kill points that follow the command's own
// progress (bytes written, records logged, a fraction of a reference run's time).
inline bool run_g4u_killed_when(const std::string& args, const std::function<bool()>& should_kill) {
  const std::string cmd = "exec " + std::string(G4U_BINARY) + " " + args + " >/dev/null 2>&1";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls between fork and exec
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    if (should_kill()) break;
    usleep(100);
  }
  kill(pid, SIGKILL);
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace g4u::test
