// g4u: command line of the Gemma 4 12B unified research and evaluation harness.
// Exit codes: 0 ok, 2 bad input (InputError or bad flags), 1 internal error.
#include "apps/blas_threads.h"
#include "apps/command.h"
#include "base/error.h"
#include "model/io/sysinfo.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <exception>
#include <memory>

namespace g4u::app {
std::vector<CommandInfo>& command_registry() {
  static std::vector<CommandInfo> r;
  return r;
}
}  // namespace g4u::app

namespace {

int run_cli(int argc, char** argv) {
  using namespace g4u::app;
  CLI::App app{"g4u: Gemma 4 12B unified research and evaluation harness"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const CommandInfo& a, const CommandInfo& b) { return a.name < b.name; });
  std::function<int()> chosen;
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    auto run = std::make_shared<std::function<int()>>(cmd.setup(*sub));
    sub->callback([run, &chosen] { chosen = *run; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help or the parse error
    return code == 0 ? 0 : 2;
  }
  if (!chosen) return 2;
  settle_blas_threads(argv);  // after parsing: help and flag errors need no second start
  return chosen();
}

// Output that never reached its destination (a full disk, a closed pipe) is an error, not exit 0.
int check_stdout(int code) {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return code;
  fmt::print(stderr, "error: writing standard output failed: {}\n", std::strerror(errno));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  g4u::keep_freed_buffers_for_reuse();
  try {
    return check_stdout(run_cli(argc, argv));
  } catch (const g4u::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::system_error& e) {
    // The environment, not g4u: a read-only folder, a file where a folder is needed, a full disk
    // (std::filesystem_error, and fmt::print's failed writes, are system_errors).
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 1;
  }
}
