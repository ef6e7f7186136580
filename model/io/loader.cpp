#include "model/io/loader.h"
#include "model/io/memory_plan.h"

#include "base/error.h"
#include "base/json_util.h"
#include "model/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace g4u::model {
namespace fs = std::filesystem;

bool is_float_dtype(DType d) { return d == DType::kBF16 || d == DType::kF16 || d == DType::kF32 || d == DType::kF64; }

void check_checkpoint_tensors(const Checkpoint& ckpt, const std::vector<TensorSpec>& specs, bool float_only) {
  std::set<std::string> expected;
  for (const auto& s : specs) {
    expected.insert(s.name);
    if (!ckpt.contains(s.name)) throw_input("{}: tensor {} is missing", ckpt.path(), s.name);
    const TensorInfo& info = ckpt.info(s.name);
    if (info.shape != s.shape)
      throw_input("{}: tensor {} has shape [{}], the config needs [{}]", ckpt.path(), ckpt.disk_name(s.name),
                  fmt::join(info.shape, ", "), fmt::join(s.shape, ", "));
    if (float_only && !is_float_dtype(info.dtype))
      throw_input("{}: tensor {} has dtype {}, expected a floating-point type", ckpt.path(), ckpt.disk_name(s.name),
                  dtype_name(info.dtype));
  }
  for (const auto& n : ckpt.names())
    if (!expected.count(n)) throw_input("{}: unexpected tensor {} (not part of this config)", ckpt.path(), ckpt.disk_name(n));
}

void copy_checkpoint_into(torch::nn::Module& module, const Checkpoint& ckpt, const std::vector<TensorSpec>& specs) {
  check_checkpoint_tensors(ckpt, specs);
  check_parameters_match(module, specs);
  auto params = module.named_parameters(true);
  torch::NoGradGuard no_grad;
  for (const auto& s : specs) {
    torch::Tensor p = params[s.name];
    p.copy_(ckpt.view(s.name).to(p.scalar_type()));
  }
}

torch::Tensor checkpoint_tensor_as(const Checkpoint& ckpt, const std::string& name, torch::ScalarType dtype,
                                   bool map_weights) {
  const bool same = ckpt.info(name).dtype == from_scalar_type(dtype);
  const torch::Tensor view = ckpt.view(name);
  if (same && map_weights) return view;
  return copy_releasing(view, dtype, [&](uint64_t begin, uint64_t end) { ckpt.release_pages(name, begin, end); });
}

torch::Tensor copy_releasing(const torch::Tensor& view, torch::ScalarType dtype,
                             const std::function<void(uint64_t begin, uint64_t end)>& release) {
  torch::Tensor owned = torch::empty(view.sizes(), view.options().dtype(dtype));
  const uint64_t nbytes = static_cast<uint64_t>(view.numel()) * static_cast<uint64_t>(view.element_size());
  if (view.dim() < 2 || view.numel() == 0) {
    owned.copy_(view);
    release(0, nbytes);
    return owned;
  }
  const int64_t rows = view.size(0);
  const uint64_t row_bytes = nbytes / static_cast<uint64_t>(rows);
  const int64_t slice = std::max<int64_t>(1, static_cast<int64_t>(kCopySliceBytes / std::max<uint64_t>(1, row_bytes)));
  for (int64_t r0 = 0; r0 < rows; r0 += slice) {
    const int64_t n = std::min(slice, rows - r0);
    owned.narrow(0, r0, n).copy_(view.narrow(0, r0, n));
    release(static_cast<uint64_t>(r0) * row_bytes, static_cast<uint64_t>(r0 + n) * row_bytes);
  }
  return owned;
}

void assign_checkpoint_tensors(torch::nn::Module& module, const Checkpoint& ckpt, const std::vector<TensorSpec>& specs,
                               torch::ScalarType dtype, bool map_weights) {
  check_checkpoint_tensors(ckpt, specs);
  check_parameters_match(module, specs);
  auto params = module.named_parameters(true);
  torch::NoGradGuard no_grad;
  for (const auto& s : specs) params[s.name].set_data(checkpoint_tensor_as(ckpt, s.name, dtype, map_weights));
}

std::shared_ptr<Gemma4Model> model_with_placeholders(const ModelConfig& cfg) {
  DeferredWeights deferred;
  return std::make_shared<Gemma4Model>(cfg);
}

std::shared_ptr<Gemma4Model> random_model(const ModelConfig& cfg, uint64_t seed, torch::ScalarType dtype,
                                          const torch::Device& device) {
  auto model = model_with_placeholders(cfg);
  const auto specs = model->tensor_specs();
  check_parameters_match(*model, specs);
  auto params = model->named_parameters(true);
  torch::NoGradGuard no_grad;
  for (const auto& s : specs) params[s.name].set_data(random_init_tensor(s, seed, dtype).to(device));
  check_no_placeholders(*model);
  return model;
}

void check_no_placeholders(const torch::nn::Module& module) {
  for (const auto& p : module.named_parameters(true))
    G4U_CHECK(!is_placeholder(p.value()), "parameter {} was never loaded", p.key());
}

void load_weights(Gemma4Model& model, const std::string& checkpoint_dir) {
  Checkpoint ckpt = Checkpoint::open(checkpoint_dir);
  ckpt.rename(canonical_model_tensor_name);
  copy_checkpoint_into(model, ckpt, model.tensor_specs());
}

LoadedModel load_model(const std::string& preset_or_dir, const LoadOptions& options) {
  LoadedModel out;
  out.source = preset_or_dir;
  if (auto preset = model_preset(preset_or_dir)) {
    if (options.tokenizer && preset->tokenizer != "byte")
      throw_input("--model {}: this preset has no built-in tokenizer; commands that feed token ids (bench, forward "
                  "--tokens) run it with random weights, the others need `g4u init --model {} --out <dir>` and a "
                  "tokenizer in that directory, or a real checkpoint",
                  preset_or_dir, preset_or_dir);
    // Random weights drawn straight into the run dtype, a tensor at a time, and on a GPU moved there
    // one at a time: the host holds the weights' bytes (on a GPU, one tensor), never an fp32 copy.
    // The values are those of `g4u init --model <preset> --seed S --dtype <run dtype>`.
    const auto specs = model_tensor_specs(*preset);
    const bool on_host = options.device.is_cpu();
    double largest = 0;
    for (const auto& s : specs) largest = std::max(largest, static_cast<double>(s.numel()));
    const double host_bytes =
        on_host ? weight_bytes(*preset, c10::elementSize(options.dtype)) : largest * c10::elementSize(options.dtype);
    check_memory_plan({{{on_host ? "weights" : "largest tensor on its way to the device", host_bytes}}},
                      "--model " + preset_or_dir);
    out.model = random_model(*preset, options.seed, options.dtype, options.device);
    out.random_weights = true;
    if (options.tokenizer) out.tokenizer = load_tokenizer(*preset, "");
  } else {
    if (!fs::is_directory(preset_or_dir)) {
      std::string known;
      for (const auto& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
      throw_input("--model {}: neither a preset ({}) nor a checkpoint directory", preset_or_dir, known);
    }
    ModelConfig cfg = load_model_config(preset_or_dir);
    out.model = model_with_placeholders(cfg);
    Checkpoint ckpt = Checkpoint::open(preset_or_dir);
    ckpt.rename(canonical_model_tensor_name);
    check_memory_plan({{{"weights", weight_bytes(cfg, c10::elementSize(options.dtype))}}}, "--model " + preset_or_dir);
    assign_checkpoint_tensors(*out.model, ckpt, out.model->tensor_specs(), options.dtype, options.map_weights);
    check_no_placeholders(*out.model);
    if (options.tokenizer) out.tokenizer = load_tokenizer(cfg, preset_or_dir);
  }
  out.model->to(options.dtype);
  // Buffers (RoPE tables and the like) follow; a preset's weights are already there.
  if (!options.device.is_cpu()) out.model->to(options.device);
  out.model->eval();
  return out;
}

namespace {
void write_config(const ModelConfig& c, const std::string& dir) {
  write_file_atomic((fs::path(dir) / "config.json").string(), model_config_to_json(c).dump(2) + "\n");
}
}  // namespace

std::vector<TensorInfo> tensor_infos(const std::vector<TensorSpec>& specs, DType dtype) {
  std::vector<TensorInfo> infos;
  for (const auto& s : specs) {
    TensorInfo t;
    t.name = s.name;
    t.dtype = dtype;
    t.shape = s.shape;
    infos.push_back(t);
  }
  return infos;
}

void save_model(const Gemma4Model& model, const std::string& dir, torch::ScalarType dtype,
                const std::string& tokenizer_model_path) {
  fs::create_directories(dir);
  auto specs = model.tensor_specs();
  auto params = model.named_parameters(true);
  SafetensorsWriter w((fs::path(dir) / "model.safetensors").string(), tensor_infos(specs, from_scalar_type(dtype)),
                      {{"format", "pt"}});
  for (const auto& s : specs) w.write(s.name, params[s.name].detach().to(dtype));
  w.finish();
  if (!tokenizer_model_path.empty()) {
    fs::path dst = fs::path(dir) / "tokenizer.model";
    if (fs::absolute(tokenizer_model_path) != fs::absolute(dst))
      fs::copy_file(tokenizer_model_path, dst, fs::copy_options::overwrite_existing);
  }
  write_config(model.config(), dir);
}

int64_t write_random_checkpoint(const ModelConfig& config, const std::string& dir, uint64_t seed,
                                torch::ScalarType dtype) {
  fs::create_directories(dir);
  int64_t bytes = write_random_safetensors(model_tensor_specs(config), (fs::path(dir) / "model.safetensors").string(),
                                           seed, dtype);
  write_checkpoint_config(config, dir);
  return bytes;
}

void write_checkpoint_config(const ModelConfig& config, const std::string& dir) {
  fs::create_directories(dir);
  // No tokenizer file is written: a preset whose vocabulary is not built in says so in its config.
  ModelConfig written = config;
  if (written.tokenizer != "byte") written.tokenizer = "none";
  write_config(written, dir);
}

int64_t write_random_safetensors(const std::vector<TensorSpec>& specs, const std::string& path, uint64_t seed,
                                 torch::ScalarType dtype) {
  SafetensorsWriter w(path, tensor_infos(specs, from_scalar_type(dtype)),
                      {{"format", "pt"}, {"g4u_init_seed", std::to_string(seed)}});
  torch::Tensor chunk = torch::empty({kInitChunk}, torch::kFloat32);
  for (const auto& s : specs) {
    const int64_t n = s.numel();
    for (int64_t c = 0, off = 0; off < n; ++c, off += kInitChunk) {
      int64_t len = std::min(kInitChunk, n - off);
      torch::Tensor part = chunk.narrow(0, 0, len);
      random_init_chunk(s, seed, c, part);
      torch::Tensor out = part.to(dtype);
      w.write_part(s.name, out.data_ptr(), static_cast<size_t>(len * out.element_size()));
    }
  }
  w.finish();
  return static_cast<int64_t>(w.file_size());
}

}  // namespace g4u::model
