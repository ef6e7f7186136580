#include "model/mtp/drafter.h"

#include "model/mtp/assistant.h"
#include "base/error.h"
#include "base/json_util.h"
#include "model/io/loader.h"
#include "model/mtp/mtp_heads.h"
#include "model/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>

namespace g4u::model {
namespace fs = std::filesystem;

int64_t choose_draft_token(const torch::Tensor& logits, Sampler& sampler, std::vector<std::vector<float>>& q) {
  torch::Tensor l = logits.to(torch::kFloat32).contiguous();
  G4U_CHECK(l.dim() == 1, "draft logits {}", l.sizes());
  const float* ptr = l.data_ptr<float>();
  if (sampler.greedy()) return sampler.sample(ptr, l.numel());
  std::vector<float> dist = sampler.distribution(ptr, l.numel());
  int64_t tok = sampler.draw(dist);
  q.push_back(std::move(dist));
  return tok;
}

std::vector<std::string> drafter_preset_names() {
  std::vector<std::string> out = assistant_preset_names();
  for (auto& n : mtp_preset_names()) out.push_back(n);
  for (auto& n : medusa_preset_names()) out.push_back(n);
  return out;
}

bool is_drafter_preset(const std::string& name) {
  return assistant_preset(name) || mtp_preset(name) || medusa_preset(name);
}

std::optional<std::vector<TensorSpec>> drafter_preset_specs(const std::string& name) {
  if (auto a = assistant_preset(name)) return assistant_tensor_specs(*a);
  if (auto m = mtp_preset(name)) return mtp_tensor_specs(*m);
  if (auto m = medusa_preset(name)) return medusa_tensor_specs(*m);
  return std::nullopt;
}

void load_drafter_weights(torch::nn::Module& module, const std::vector<TensorSpec>& specs, const std::string& dir) {
  Checkpoint ckpt = Checkpoint::open(dir);
  check_parameters_match(module, specs);
  auto params = module.named_parameters(true);
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (const auto& s : specs) {
    expected.insert(s.name);
    if (!ckpt.contains(s.name)) throw_input("{}: tensor {} is missing", ckpt.path(), s.name);
    const TensorInfo& info = ckpt.info(s.name);
    if (info.shape != s.shape)
      throw_input("{}: tensor {} has shape [{}], the config needs [{}]", ckpt.path(), s.name, fmt::join(info.shape, ", "),
                  fmt::join(s.shape, ", "));
    if (info.dtype != DType::kBF16 && info.dtype != DType::kF16 && info.dtype != DType::kF32 && info.dtype != DType::kF64)
      throw_input("{}: tensor {} has dtype {}, expected a floating-point type", ckpt.path(), s.name,
                  dtype_name(info.dtype));
    torch::Tensor p = params[s.name];
    p.copy_(ckpt.view(s.name).to(p.scalar_type()));
  }
  for (const auto& n : ckpt.names())
    if (!expected.count(n)) throw_input("{}: unexpected tensor {} (not part of this drafter config)", ckpt.path(), n);
}

namespace {

// A config.json's model_type, or "" when it has none.
std::string model_type_of(const std::string& dir) {
  fs::path file = fs::path(dir) / "config.json";
  if (!fs::exists(file)) throw_input("{}: no config.json in the drafter directory", dir);
  nlohmann::json j = read_json_file(file.string());
  if (!j.is_object()) throw_input("{}: expected a JSON object", file.string());
  return j.value("model_type", std::string());
}

std::shared_ptr<Drafter> finish(std::shared_ptr<Drafter> d, const DrafterLoadOptions& o) {
  d->module().to(o.dtype);
  d->module().eval();
  return d;
}

}  // namespace

std::shared_ptr<Drafter> load_drafter(const std::string& name, Gemma4Model& target, const DrafterLoadOptions& o) {
  const std::string where = "--draft " + name;
  if (auto a = assistant_preset(name)) {
    auto m = std::make_shared<AssistantModel>(*a);
    auto d = std::make_shared<AssistantDrafter>(m, target, where);
    init_random(*m, d->tensor_specs(), o.seed);
    return finish(d, o);
  }
  if (auto c = mtp_preset(name)) {
    auto m = std::make_shared<MtpModel>(*c);
    auto d = std::make_shared<MtpDrafter>(m, target, where);
    init_random(*m, d->tensor_specs(), o.seed);
    return finish(d, o);
  }
  if (auto c = medusa_preset(name)) {
    auto m = std::make_shared<MedusaModel>(*c);
    auto d = std::make_shared<MedusaDrafter>(m, target, where);
    init_random(*m, d->tensor_specs(), o.seed);
    return finish(d, o);
  }
  if (!fs::is_directory(name)) {
    std::string known;
    for (const auto& n : drafter_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw_input("{}: neither a drafter preset ({}) nor a checkpoint directory", where, known);
  }
  const std::string cfg_file = (fs::path(name) / "config.json").string();
  std::string mt = model_type_of(name);
  std::shared_ptr<Drafter> d;
  if (mt == "gemma4_unified_assistant") {
    auto m = std::make_shared<AssistantModel>(load_assistant_config(name));
    d = std::make_shared<AssistantDrafter>(m, target, cfg_file);
  } else if (mt == "g4u_mtp") {
    auto m = std::make_shared<MtpModel>(mtp_config_from_json(read_json_file(cfg_file), cfg_file));
    d = std::make_shared<MtpDrafter>(m, target, cfg_file);
  } else if (mt == "g4u_medusa") {
    auto m = std::make_shared<MedusaModel>(medusa_config_from_json(read_json_file(cfg_file), cfg_file));
    d = std::make_shared<MedusaDrafter>(m, target, cfg_file);
  } else {
    throw_input("{}: model_type '{}' is not a drafter (gemma4_unified_assistant, g4u_mtp, g4u_medusa)", cfg_file, mt);
  }
  load_drafter_weights(d->module(), d->tensor_specs(), name);
  return finish(d, o);
}

void save_drafter(const Drafter& drafter, const std::string& dir, torch::ScalarType dtype) {
  fs::create_directories(dir);
  auto specs = drafter.tensor_specs();
  auto params = drafter.module().named_parameters(true);
  SafetensorsWriter w((fs::path(dir) / "model.safetensors").string(), tensor_infos(specs, from_scalar_type(dtype)),
                      {{"format", "pt"}});
  for (const auto& s : specs) w.write(s.name, params[s.name].detach().to(dtype));
  w.finish();
  write_file_atomic((fs::path(dir) / "config.json").string(), drafter.config_json().dump(2) + "\n");
}

int64_t write_random_drafter_checkpoint(const std::string& preset, const std::string& dir, uint64_t seed,
                                        torch::ScalarType dtype) {
  nlohmann::json cfg;
  std::vector<TensorSpec> specs;
  if (auto a = assistant_preset(preset)) {
    cfg = assistant_config_to_json(*a);
    specs = assistant_tensor_specs(*a);
  } else if (auto m = mtp_preset(preset)) {
    cfg = mtp_config_to_json(*m);
    specs = mtp_tensor_specs(*m);
  } else if (auto m = medusa_preset(preset)) {
    cfg = medusa_config_to_json(*m);
    specs = medusa_tensor_specs(*m);
  } else {
    std::string known;
    for (const auto& n : drafter_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw_input("--model {}: not a drafter preset ({})", preset, known);
  }
  fs::create_directories(dir);
  // Streamed chunk by chunk (the 12B assistant's table is 268 M values), same values as
  // init_random(seed) produces in memory.
  const int64_t bytes = write_random_safetensors(specs, (fs::path(dir) / "model.safetensors").string(), seed, dtype);
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
  return bytes;
}

}  // namespace g4u::model
