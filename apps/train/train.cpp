// g4u train: trains a small model from an experiment config (experiments/trainer.h).
#include "apps/cli_util.h"
#include "apps/command.h"
#include "experiments/trainer.h"

#include <fmt/format.h>

namespace g4u::app {
namespace {

struct TrainFlags {
  std::string config, out;
  int64_t stop_at_step = 0;
  bool quiet = false, json = false;
};

Command train_cmd("train", "Train a small model (resumes an interrupted run in the same --out)", [](CLI::App& sub) {
  auto f = std::make_shared<TrainFlags>();
  sub.add_option("--config", f->config, "Training config JSON (see experiments/README.md, --help-config)")->required();
  // Runs while parsing, before --config is found missing.
  sub.add_flag_callback(
      "--help-config",
      [] {
        fmt::print("{}", experiments::train_config_help());
        throw CLI::Success();
      },
      "List the config's fields (JSON path, type, default, help) and exit");
  sub.add_option("--out", f->out, "Run folder: checkpoint, curves.json, summary.json, final model")->required();
  sub.add_option("--stop-at-step", f->stop_at_step,
                 "Checkpoint and stop after this step (as if interrupted; rerun to resume)");
  sub.add_flag("--quiet", f->quiet, "No progress output");
  sub.add_flag("--json", f->json, "Print the summary JSON on stdout");
  return [f]() -> int {
    experiments::TrainConfig c = experiments::load_train_config(f->config);
    experiments::TrainRunOptions o;
    o.out = f->out;
    o.stop_at_step = f->stop_at_step;
    o.progress = !f->quiet;
    nlohmann::json summary = experiments::train(c, o);
    if (f->json) print_json(summary);
    else if (!f->quiet) fmt::print(stderr, "{}\n", summary.dump(2));
    return summary.value("interrupted", false) ? 3 : 0;
  };
});

}  // namespace
}  // namespace g4u::app
