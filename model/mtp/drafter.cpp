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
  torch::Tensor l = logits.to(torch::kCPU, torch::kFloat32).contiguous();  // the samplers read host memory
  G4U_CHECK(l.dim() == 1, "draft logits {}", l.sizes());
  const float* ptr = l.data_ptr<float>();
  if (sampler.greedy()) return sampler.sample(ptr, l.numel());
  std::vector<float> dist = sampler.distribution(ptr, l.numel());
  int64_t tok = sampler.draw(dist);
  q.push_back(std::move(dist));
  return tok;
}

int64_t Drafter::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : module().parameters()) n += p.numel();
  return n;
}

namespace {

// The record of a kind whose preset/config types and functions follow the common pattern:
// Config from a preset name or config.json, tensor list and config.json of a Config, and a
// DrafterT(std::shared_ptr<ModelT>, target, where) over a ModelT(Config).
template <typename Config, typename ModelT, typename DrafterT>
DrafterKind drafter_kind(std::string name, std::string model_type, std::vector<std::string> (*presets)(),
                         std::optional<Config> (*preset)(const std::string&),
                         std::vector<TensorSpec> (*specs)(const Config&), nlohmann::json (*to_json)(const Config&),
                         std::function<Config(const nlohmann::json&, const std::string&)> from_json) {
  DrafterKind k;
  k.name = std::move(name);
  k.model_type = std::move(model_type);
  k.presets = presets;
  k.preset = [=](const std::string& n) -> std::optional<std::pair<nlohmann::json, std::vector<TensorSpec>>> {
    if (auto c = preset(n)) return std::make_pair(to_json(*c), specs(*c));
    return std::nullopt;
  };
  k.from_preset = [=](const std::string& n, Gemma4Model& target, const std::string& where) -> std::shared_ptr<Drafter> {
    if (auto c = preset(n)) return std::make_shared<DrafterT>(std::make_shared<ModelT>(*c), target, where);
    return nullptr;
  };
  k.from_config = [=](const nlohmann::json& j, const std::string& file, Gemma4Model& target) -> std::shared_ptr<Drafter> {
    return std::make_shared<DrafterT>(std::make_shared<ModelT>(from_json(j, file)), target, file);
  };
  return k;
}

}  // namespace

const Registry<DrafterKind>& drafter_kinds() {
  static const Registry<DrafterKind> r = [] {
    Registry<DrafterKind> reg("drafter kind");
    reg.add(drafter_kind<AssistantConfig, AssistantModel, AssistantDrafter>(
        "gemma4-assistant", "gemma4_unified_assistant", assistant_preset_names, assistant_preset,
        assistant_tensor_specs, assistant_config_to_json, assistant_config_from_json));
    reg.add(drafter_kind<MtpConfig, MtpModel, MtpDrafter>("mtp", "g4u_mtp", mtp_preset_names, mtp_preset,
                                                          mtp_tensor_specs, mtp_config_to_json, mtp_config_from_json));
    reg.add(drafter_kind<MedusaConfig, MedusaModel, MedusaDrafter>("medusa", "g4u_medusa", medusa_preset_names,
                                                                   medusa_preset, medusa_tensor_specs,
                                                                   medusa_config_to_json, medusa_config_from_json));
    return reg;
  }();
  return r;
}

std::vector<std::string> drafter_preset_names() {
  std::vector<std::string> out;
  for (const DrafterKind& k : drafter_kinds().all())
    for (auto& n : k.presets()) out.push_back(n);
  return out;
}

bool is_drafter_preset(const std::string& name) { return drafter_preset_specs(name).has_value(); }

std::optional<std::vector<TensorSpec>> drafter_preset_specs(const std::string& name) {
  for (const DrafterKind& k : drafter_kinds().all())
    if (auto p = k.preset(name)) return p->second;
  return std::nullopt;
}

namespace {
std::string drafter_preset_list() {
  std::string known;
  for (const auto& n : drafter_preset_names()) known += (known.empty() ? "" : ", ") + n;
  return known;
}
}  // namespace

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
  for (const DrafterKind& k : drafter_kinds().all()) {
    if (auto d = k.from_preset(name, target, where)) {
      init_random(d->module(), d->tensor_specs(), o.seed);
      return finish(d, o);
    }
  }
  if (!fs::is_directory(name))
    throw_input("{}: neither a drafter preset ({}) nor a checkpoint directory", where, drafter_preset_list());
  const std::string cfg_file = (fs::path(name) / "config.json").string();
  const std::string mt = model_type_of(name);
  const DrafterKind* kind = nullptr;
  std::string types;
  for (const DrafterKind& k : drafter_kinds().all()) {
    if (k.model_type == mt) kind = &k;
    types += (types.empty() ? "" : ", ") + k.model_type;
  }
  if (!kind) throw_input("{}: model_type '{}' is not a drafter ({})", cfg_file, mt, types);
  std::shared_ptr<Drafter> d;
  {
    DeferredWeights deferred;  // the weights come from the checkpoint, as views where the dtype matches
    d = kind->from_config(read_json_file(cfg_file), cfg_file, target);
  }
  assign_checkpoint_tensors(d->module(), Checkpoint::open(name), d->tensor_specs(), o.dtype);
  check_no_placeholders(d->module());
  return finish(d, o);
}

// A drafter folder is read through its config.json, so that file goes last and an older one goes
// first: a writer killed in between leaves a folder without config.json, which no command takes
// for a drafter (each file itself is written to a temp and renamed).
static void remove_old_config(const std::string& dir) {
  std::error_code ec;
  fs::remove(fs::path(dir) / "config.json", ec);
  if (ec) throw_input("{}: cannot replace config.json: {}", dir, ec.message());
}

void save_drafter(const Drafter& drafter, const std::string& dir, torch::ScalarType dtype) {
  fs::create_directories(dir);
  remove_old_config(dir);
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
  std::optional<std::pair<nlohmann::json, std::vector<TensorSpec>>> p;
  for (const DrafterKind& k : drafter_kinds().all())
    if (!p) p = k.preset(preset);
  if (!p) throw_input("--model {}: not a drafter preset ({})", preset, drafter_preset_list());
  const auto& [cfg, specs] = *p;
  fs::create_directories(dir);
  remove_old_config(dir);
  // Streamed chunk by chunk (the 12B assistant's table is 268 M values), same values as
  // init_random(seed) produces in memory.
  const int64_t bytes = write_random_safetensors(specs, (fs::path(dir) / "model.safetensors").string(), seed, dtype);
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
  return bytes;
}

}  // namespace g4u::model
