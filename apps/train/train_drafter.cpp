// g4u train-drafter: distils a drafter from a frozen target (experiments/drafter_trainer.h). This
// file parses the flags, loads the two models and makes one call.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/draft_flags.h"
#include "apps/flags/model_flags.h"
#include "apps/flags/option_fields.h"
#include "base/error.h"
#include "experiments/drafter_trainer.h"

#include <fmt/format.h>

namespace g4u::app {
namespace {

struct TrainDrafterFlags {
  ModelFlags model;
  experiments::DrafterTrainOptions options;
  bool json = false;
};

Command train_drafter_cmd("train-drafter", "Distil a drafter (assistant, MTP, Medusa) from a frozen target", [](CLI::App& sub) {
  auto f = std::make_shared<TrainDrafterFlags>();
  add_model_flags(sub, f->model);
  add_option_fields(sub, f->options, experiments::drafter_train_option_fields());
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    if (f->model.dtype != "fp32" && f->model.dtype != "float32")
      throw_input("--dtype {}: drafter training runs in fp32", f->model.dtype);
    experiments::check_option_fields(f->options, experiments::drafter_train_option_fields());
    f->options.seed = f->model.seed;
    if (f->model.device != "cpu") throw_input("--device {}: train-drafter trains on the CPU only", f->model.device);
    model::LoadedModel target = load_from_flags(f->model);
    DraftFlags draft;
    draft.draft = f->options.draft;
    std::shared_ptr<model::Drafter> drafter = load_drafter_from_flags(draft, target, f->model);
    nlohmann::json report = experiments::run_drafter_training(target, *drafter, f->options);
    if (f->json) print_json(report);
    else fmt::print(stderr, "{}", experiments::describe_drafter_run(report));
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
