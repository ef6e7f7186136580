// g4u run: every step of an experiment file (experiments/run/run_experiment.h; schema in
// experiments/README.md). Exit 0 done, 2 bad input (before any step runs), 3 interrupted (rerun to
// resume).
#include "apps/cli_util.h"
#include "apps/command.h"
#include "base/error.h"
#include "experiments/run/run_experiment.h"

#include <fmt/format.h>

#include <sstream>

namespace g4u::app {
namespace {

struct RunFlags {
  experiments::ExperimentRunOptions options;
  std::string only;
  std::vector<std::string> set;
  bool json = false, quiet = false;
};

Command run_cmd("run", "Run an experiment file: its steps in order, each skipped when complete (rerun to resume)",
                [](CLI::App& sub) {
  auto f = std::make_shared<RunFlags>();
  sub.add_option("experiment", f->options.file, "Experiment file (experiments/*.json)")->required();
  sub.add_option("--out", f->options.out, "Run folder (default: runs/<experiment name>)");
  sub.add_flag("--dry-run", f->options.dry_run, "Check everything and print the plan with estimates; run nothing");
  sub.add_option("--only", f->only, "Comma-separated steps to run (their inputs must be complete)");
  sub.add_option("--set", f->set, "name=value: a variable of the experiment file (repeatable: --set a=1 --set b=2)")
      ->allow_extra_args(false);
  sub.add_option("--shards", f->options.shards, "Plan the evaluations split N ways (default: the file's estimate.shards, else 1)");
  sub.add_option("--gpu-bandwidth", f->options.gpu_bandwidth_tb_s, "GPU memory bandwidth of the plan, TB/s (default: H100 SXM, 3.35)");
  sub.add_option("--gpu-tflops", f->options.gpu_tflops, "GPU dense bf16 TFLOP/s of the plan (default: H100 SXM, 989)");
  sub.add_option("--jobs", f->options.jobs,
                 "Run up to N independent steps side by side, each in its own process (eval and bench steps run alone)");
  sub.add_option("--threads", f->options.threads,
                 "Compute threads of each step that sets none (default: every core; with --jobs N, cores / N beside "
                 "other steps)");
  sub.add_option("--device", f->options.device,
                 "Where the steps that load a model run: cpu, cuda or cuda:N (a CUDA build of g4u)")
      ->capture_default_str();
  sub.add_flag("--json", f->json, "Print the plan and outcome as JSON on stdout");
  sub.add_flag("-q,--quiet", f->quiet, "No plan or progress on stderr");
  return [f]() -> int {
    experiments::ExperimentRunOptions o = f->options;
    std::stringstream names(f->only);
    for (std::string name; std::getline(names, name, ',');) o.only.push_back(name);
    for (const auto& assignment : f->set) {
      const size_t eq = assignment.find('=');
      if (eq == std::string::npos || eq == 0) throw_input("--set {}: expected name=value", assignment);
      const std::string name = assignment.substr(0, eq);
      if (o.variables.count(name)) throw_input("--set {}: variable '{}' is set twice", assignment, name);
      o.variables[name] = assignment.substr(eq + 1);
    }
    if (!f->quiet) o.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    nlohmann::json outcome = experiments::run_experiment(o);
    if (f->json) print_json(outcome);
    return outcome["interrupted"].get<bool>() ? 3 : 0;
  };
});

}  // namespace
}  // namespace g4u::app
