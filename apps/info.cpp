// g4u info: parameters by component, bytes per storage scheme, KV-cache bytes; with a checkpoint
// directory also validates every safetensors header against the config.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "model/tensor_specs.h"

#include <fmt/format.h>

namespace g4u::app {
namespace {

nlohmann::json info_json(const std::string& name, const std::vector<model::TensorSpec>& specs,
                         const model::TextConfig& text, bool drafter) {
  auto params = model::count_params(specs);
  int64_t total = params["total"];
  nlohmann::json p = {{"total", total}};
  if (drafter) {
    p["drafter"] = params["drafter"];
  } else {
    for (const char* k : {"text", "vision_embedder", "vision_projection", "audio_projection"}) p[k] = params[k];
  }
  nlohmann::json j = {{"model", name}, {"params", p}};
  j["bytes"] = {{"bf16", total * 2},
                {"fp32", total * 4},
                {"4.5_bits_per_weight", static_cast<int64_t>(total * 4.5 / 8)},
                {"4.25_bits_per_weight", static_cast<int64_t>(total * 4.25 / 8)}};
  nlohmann::json kv = nlohmann::json::object();
  for (int64_t ctx : {4096, 32768, 131072, 262144}) kv[std::to_string(ctx)] = model::kv_cache_bytes(text, ctx, 2);
  j["kv_cache_bytes"] = kv;
  j["kv_cache_dtype"] = "bf16";
  j["tensors"] = specs.size();
  return j;
}

void print_human(const nlohmann::json& j) {
  fmt::print(stderr, "model {}\n", j["model"].get<std::string>());
  for (auto& [k, v] : j["params"].items()) fmt::print(stderr, "  params.{:<18} {:>16}\n", k, with_commas(v.get<int64_t>()));
  for (auto& [k, v] : j["bytes"].items())
    fmt::print(stderr, "  bytes.{:<19} {:>16}  ({})\n", k, with_commas(v.get<int64_t>()), human_bytes(v.get<double>()));
  for (auto& [k, v] : j["kv_cache_bytes"].items())
    fmt::print(stderr, "  kv_cache_bytes[{:>6}] {:>16}  ({})\n", k, with_commas(v.get<int64_t>()), human_bytes(v.get<double>()));
}

Command info_cmd("info", "Parameters by component, bytes per scheme, KV-cache bytes", [](CLI::App& sub) {
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  sub.add_option("--model", *model, "Preset name or checkpoint directory")->required();
  sub.add_flag("--json", *json, "Print JSON on stdout");
  return [model, json]() -> int {
    nlohmann::json j;
    if (auto a = model::assistant_preset(*model)) {
      j = info_json(*model, model::assistant_tensor_specs(*a), a->text, true);
    } else {
      model::ModelConfig c = resolve_model_config(*model);
      j = info_json(*model, model::model_tensor_specs(c), c.text, false);
    }
    if (*json) print_json(j);
    else print_human(j);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
