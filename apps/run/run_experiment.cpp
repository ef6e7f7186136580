// g4u run: every step of an experiment file (experiments/run/run_experiment.h; schema in
// experiments/README.md). Exit 0 done, 2 bad input (before any step runs), 3 interrupted (rerun to
// resume).
#include "apps/cli_util.h"
#include "apps/command.h"
#include "experiments/run/run_experiment.h"

#include <fmt/format.h>

#include <sstream>

namespace g4u::app {
namespace {

struct RunFlags {
  experiments::ExperimentRunOptions options;
  std::string only;
  bool json = false, quiet = false;
};

Command run_cmd("run", "Run an experiment file: its steps in order, each skipped when complete (rerun to resume)",
                [](CLI::App& sub) {
  auto f = std::make_shared<RunFlags>();
  sub.add_option("experiment", f->options.file, "Experiment file (experiments/*.json)")->required();
  sub.add_option("--out", f->options.out, "Run folder (default: runs/<experiment name>)");
  sub.add_flag("--dry-run", f->options.dry_run, "Check everything and print the plan with estimates; run nothing");
  sub.add_option("--only", f->only, "Comma-separated steps to run (their inputs must be complete)");
  sub.add_flag("--json", f->json, "Print the plan and outcome as JSON on stdout");
  sub.add_flag("-q,--quiet", f->quiet, "No plan or progress on stderr");
  return [f]() -> int {
    experiments::ExperimentRunOptions o = f->options;
    std::stringstream names(f->only);
    for (std::string name; std::getline(names, name, ',');) o.only.push_back(name);
    if (!f->quiet) o.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    nlohmann::json outcome = experiments::run_experiment(o);
    if (f->json) print_json(outcome);
    return outcome["interrupted"].get<bool>() ? 3 : 0;
  };
});

}  // namespace
}  // namespace g4u::app
