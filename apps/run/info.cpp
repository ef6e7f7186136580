// g4u info: parameters by component, bytes per storage scheme, KV-cache bytes; with a checkpoint
// directory also validates every safetensors header against the config.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "model/io/loader.h"
#include "base/error.h"
#include "model/io/safetensors.h"
#include "model/io/tensor_specs.h"
#include "quant/io/checkpoint.h"

#include <map>
#include <set>

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

// Validates every safetensors header of the checkpoint and its tensors against the config's
// tensor list (names after canonicalisation, shapes); InputError on any problem.
nlohmann::json check_checkpoint(const std::string& dir, const std::vector<model::TensorSpec>& specs) {
  model::Checkpoint ckpt = model::Checkpoint::open(dir);
  ckpt.rename(model::canonical_model_tensor_name);
  model::check_checkpoint_tensors(ckpt, specs, /*float_only=*/false);
  std::map<std::string, int64_t> by_dtype;
  for (const auto& n : ckpt.names()) {
    const auto& info = ckpt.info(n);
    by_dtype[model::dtype_name(info.dtype)] += static_cast<int64_t>(info.nbytes);
  }
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : ckpt.files()) files.push_back(f->path());
  return {{"tensors", ckpt.size()}, {"bytes_by_dtype", by_dtype}, {"files", files}, {"valid", true}};
}

// The same for a quantized checkpoint (`g4u quantize`'s output), from its headers and
// quantization.json: the packed arrays of each quantized tensor, the rest in float.
nlohmann::json check_quantized(const std::string& dir) {
  model::Checkpoint ckpt = model::Checkpoint::open(dir);
  const quant::QuantizedLayout layout = quant::check_quantized_checkpoint(dir, ckpt);
  std::map<std::string, int64_t> by_dtype, by_scheme;
  for (const auto& n : ckpt.names()) {
    const auto& info = ckpt.info(n);
    by_dtype[model::dtype_name(info.dtype)] += static_cast<int64_t>(info.nbytes);
  }
  for (const auto& q : layout.quantized) by_scheme[std::string(q.scheme->name)] += 1;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : ckpt.files()) files.push_back(f->path());
  return {{"tensors", ckpt.size()},
          {"bytes_by_dtype", by_dtype},
          {"files", files},
          {"valid", true},
          {"quantized",
           {{"recipe", layout.recipe},
            {"tensors", layout.quantized.size()},
            {"by_scheme", by_scheme},
            {"qdata_order", layout.kernel_order ? "kernel" : "storage"}}}};
}

void print_info_human(const nlohmann::json& j) {
  fmt::print(stderr, "model {}\n", j["model"].get<std::string>());
  for (auto& [k, v] : j["params"].items()) fmt::print(stderr, "  params.{:<18} {:>16}\n", k, with_commas(v.get<int64_t>()));
  for (auto& [k, v] : j["bytes"].items())
    fmt::print(stderr, "  bytes.{:<19} {:>16}  ({})\n", k, with_commas(v.get<int64_t>()), human_bytes(v.get<double>()));
  for (auto& [k, v] : j["kv_cache_bytes"].items())
    fmt::print(stderr, "  kv_cache_bytes[{:>6}] {:>16}  ({})\n", k, with_commas(v.get<int64_t>()), human_bytes(v.get<double>()));
  if (j.contains("checkpoint")) {
    fmt::print(stderr, "  checkpoint: {} tensors, valid\n", j["checkpoint"]["tensors"].get<int64_t>());
    for (auto& [k, v] : j["checkpoint"]["bytes_by_dtype"].items())
      fmt::print(stderr, "    {:<5} {}\n", k, human_bytes(v.get<double>()));
    if (j["checkpoint"].contains("quantized")) {
      const auto& q = j["checkpoint"]["quantized"];
      fmt::print(stderr, "    quantized ({}): {} tensors, q4_0 / q4_k codes in {} order\n", q["recipe"].get<std::string>(),
                 q["tensors"].get<int64_t>(), q["qdata_order"].get<std::string>());
    }
  }
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
    } else if (is_model_dir(*model) && model::is_assistant_config(*model)) {
      model::AssistantConfig a = model::load_assistant_config(*model);
      auto specs = model::assistant_tensor_specs(a);
      j = info_json(*model, specs, a.text, true);
      j["checkpoint"] = check_checkpoint(*model, specs);
    } else {
      model::ModelConfig c = resolve_model_config(*model);
      auto specs = model::model_tensor_specs(c);
      j = info_json(*model, specs, c.text, false);
      if (is_model_dir(*model)) {
        j["checkpoint"] = quant::is_quantized_checkpoint(*model) ? check_quantized(*model) : check_checkpoint(*model, specs);
        if (!c.warnings.empty()) j["config_warnings"] = c.warnings;
      }
    }
    if (*json) print_json(j);
    else print_info_human(j);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
