// g4u init: a random-weight HF-layout checkpoint of a preset (config.json + model.safetensors),
// streamed chunk by chunk so even the 12B-shaped one is written with little memory.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/model_flags.h"
#include "model/mtp/drafter.h"
#include "base/error.h"
#include "model/io/loader.h"
#include "model/io/sysinfo.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

namespace g4u::app {
namespace {

namespace fs = std::filesystem;

struct InitFlags {
  std::string model, out, dtype = "bf16";
  uint64_t seed = 0;
  bool json = false, config_only = false;
};

Command init_cmd("init", "Write a random-weight checkpoint of a preset", [](CLI::App& sub) {
  auto f = std::make_shared<InitFlags>();
  sub.add_option("--model", f->model, "Preset name")->required();
  sub.add_option("--out", f->out, "Output directory")->required();
  sub.add_option("--seed", f->seed, "Seed of the random weights")->capture_default_str();
  sub.add_option("--dtype", f->dtype, "Stored dtype: bf16 (as released) or fp32")->capture_default_str();
  sub.add_flag("--config-only", f->config_only,
               "Write config.json alone (no weights): the preset's shapes for another implementation, e.g. HF "
               "transformers' from_config in bench/gpu/gpu_study.py");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    auto preset = model::model_preset(f->model);
    const bool drafter = !preset && model::is_drafter_preset(f->model);  // e.g. tiny-assistant
    if (!preset && !drafter) {
      std::string known;
      for (const auto& n : model::model_preset_names()) known += (known.empty() ? "" : ", ") + n;
      for (const auto& n : model::drafter_preset_names()) known += ", " + n;
      throw_input("--model {}: not a preset ({})", f->model, known);
    }
    // Never over another checkpoint: its other files (quantization.json, a tokenizer) would survive
    // beside the new weights and contradict them.
    if (fs::exists(f->out) && (!fs::is_directory(f->out) || !fs::is_empty(f->out)))
      throw_input("--out {}: exists and is not an empty folder (init writes a new checkpoint only)", f->out);
    if (f->config_only) {
      if (drafter) throw_input("--config-only: {} is a drafter preset; only decoder presets have a config of their own", f->model);
      model::write_checkpoint_config(*preset, f->out);
      if (f->json) print_json({{"model", f->model}, {"out", f->out}, {"config_only", true}});
      else fmt::print(stderr, "wrote {}/config.json\n", f->out);
      return 0;
    }
    auto t0 = std::chrono::steady_clock::now();
    int64_t bytes = drafter ? model::write_random_drafter_checkpoint(f->model, f->out, f->seed, parse_dtype_flag(f->dtype))
                            : model::write_random_checkpoint(*preset, f->out, f->seed, parse_dtype_flag(f->dtype));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {{"model", f->model},     {"out", f->out},         {"seed", f->seed},
                        {"dtype", f->dtype},     {"bytes_written", bytes}, {"seconds", s},
                        {"peak_rss_bytes", peak_rss_bytes()}};
    if (f->json) print_json(j);
    else
      fmt::print(stderr, "wrote {} ({}) in {:.1f} s, peak RSS {}\n", f->out, human_bytes(bytes), s,
                 human_bytes(peak_rss_bytes()));
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
