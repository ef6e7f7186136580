// g4u inspect: what preprocessing makes of one image or audio file (architecture doc §3.2, §4).
//   g4u inspect --image <file> [--budget N] [--model <preset|dir>] [--resize uint8|float] [--json]
//   g4u inspect --audio <file> [--model <preset|dir>] [--json]
// The image is decoded and resized (so corrupt pixel data is caught too); the audio is decoded,
// downmixed and resampled to the model's rate. Defaults are the released model's geometry (48 px
// patches, budget 280, 640-sample frames at 16 kHz); --model takes them from a preset or config.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "model/multimodal/audio.h"
#include "base/error.h"
#include "model/multimodal/image.h"

#include <fmt/format.h>

#include <chrono>

namespace g4u::app {
namespace {

struct InspectArgs {
  std::string image;
  std::string audio;
  std::string model = "gemma4-12b";
  int64_t budget = 0;
  bool budget_given = false;
  std::string resize = "uint8";
  bool json = false;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json inspect_image(const InspectArgs& a, const model::ModelConfig& c) {
  if (!c.vision) throw_input("--model {}: the model has no vision input", a.model);
  if (a.budget_given && a.budget <= 0) throw_input("--budget: must be positive, got {}", a.budget);
  model::ImageOptions o = model::image_options(*c.vision, a.budget_given ? a.budget : 0);
  o.kernel = model::resize_kernel_from_name(a.resize, "--resize");
  model::check_image_options(o, "--budget");
  if (!model::is_supported_image_budget(o.budget) && o.budget != c.vision->num_soft_tokens)
    fmt::print(stderr, "warning: budget {} is not one the released model supports ({})\n", o.budget,
               fmt::join(model::kImageBudgets, ", "));
  const model::ImageFileInfo info = model::read_image_info(a.image);
  const auto t0 = std::chrono::steady_clock::now();
  const model::ImagePatches p = model::preprocess_image_file(a.image, o);
  const double ms = ms_since(t0);
  return {{"kind", "image"},
          {"file", a.image},
          {"format", info.format},
          {"original_height", p.source_height},
          {"original_width", p.source_width},
          {"channels", info.channels},
          {"budget", p.budget},
          {"patch_size", o.model_patch()},
          {"resize_kernel", model::resize_kernel_name(o.kernel)},
          {"resized", p.height != p.source_height || p.width != p.source_width},
          {"height", p.height},
          {"width", p.width},
          {"grid_h", p.grid_h},
          {"grid_w", p.grid_w},
          {"soft_tokens", p.num_soft_tokens},
          {"padding_rows", p.budget - p.num_soft_tokens},
          {"preprocess_ms", ms}};
}

nlohmann::json inspect_audio(const InspectArgs& a, const model::ModelConfig& c) {
  if (!c.audio) throw_input("--model {}: the model has no audio input", a.model);
  const model::AudioOptions o = model::audio_options(*c.audio);
  const model::AudioFileInfo info = model::read_audio_info(a.audio);
  const auto t0 = std::chrono::steady_clock::now();
  const model::AudioFrames f = model::preprocess_audio_file(a.audio, o);
  const double ms = ms_since(t0);
  return {{"kind", "audio"},
          {"file", a.audio},
          {"format", info.format},
          {"sample_rate", f.source_sample_rate},
          {"channels", f.source_channels},
          {"source_samples", f.source_samples},
          {"duration_s", f.duration_s},
          {"target_sample_rate", o.sample_rate},
          {"samples", f.num_samples},
          {"frame_length", o.frame_length},
          {"frames", f.num_frames()},
          {"max_frames", o.max_frames},
          {"preprocess_ms", ms}};
}

void print_inspect_human(const nlohmann::json& j) {
  for (auto& [k, v] : j.items()) fmt::print(stderr, "  {:<18} {}\n", k, v.dump());
}

Command inspect_cmd("inspect", "What preprocessing makes of an image or audio file", [](CLI::App& sub) {
  auto a = std::make_shared<InspectArgs>();
  sub.add_option("--image", a->image, "Image file (PNG, JPEG, BMP, GIF)");
  sub.add_option("--audio", a->audio, "Audio file (WAV, FLAC, OGG, ...)");
  auto* budget = sub.add_option("--budget", a->budget, "Soft-token budget (70, 140, 280, 560, 1120; default: the model's)");
  sub.add_option("--model", a->model, "Preset name or checkpoint directory (patch size, frame length)")
      ->capture_default_str();
  sub.add_option("--resize", a->resize, "Resize kernel: uint8 (torchvision on CPU) or float (GPU path)")
      ->capture_default_str();
  sub.add_flag("--json", a->json, "Print JSON on stdout");
  return [a, budget]() -> int {
    a->budget_given = budget->count() > 0;
    if (a->image.empty() == a->audio.empty()) throw_input("inspect: give exactly one of --image and --audio");
    if (!a->audio.empty() && a->budget_given) throw_input("inspect: --budget applies to --image only");
    const model::ModelConfig c = resolve_model_config(a->model);
    const nlohmann::json j = a->image.empty() ? inspect_audio(*a, c) : inspect_image(*a, c);
    if (a->json) print_json(j);
    else print_inspect_human(j);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
