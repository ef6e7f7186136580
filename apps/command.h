// Subcommand registry of the `g4u` CLI. Each apps/<name>.cpp defines one subcommand and registers it
// with a static `Command` object, so adding a subcommand touches no other file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace g4u::app {

// `setup` adds the subcommand's flags to `sub` and returns the function that runs it (called after
// parsing). The returned int is the process exit code.
using SetupFn = std::function<std::function<int()>(CLI::App& sub)>;

struct CommandInfo {
  std::string name;
  std::string help;
  SetupFn setup;
};

std::vector<CommandInfo>& command_registry();

struct Command {
  Command(std::string name, std::string help, SetupFn setup) {
    command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

}  // namespace g4u::app
