// Building a runnable model from `--model`: a preset (random weights from a seed) or an HF
// checkpoint directory (config.json + safetensors [+ index] [+ tokenizer.model]); and writing one.
#pragma once

#include "model/model.h"
#include "model/io/safetensors.h"
#include "model/io/tensor_specs.h"
#include "model/text/tokenizer.h"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

namespace g4u::model {

struct LoadOptions {
  torch::ScalarType dtype = torch::kFloat32;
  uint64_t seed = 0;  // random weights of a preset
  // Quantized checkpoints (quant::load_quantized_model): the tied head reads the table as stored.
  // A bf16 table under an fp32 run stays bf16 behind quant::TiedBf16Head (same logits up to fp32
  // summation order, half the bytes); a quantized table (q4_k_m's Q6_K) is multiplied packed by a
  // QuantLinear (activations in 8-bit blocks, as llama.cpp does), and the lookups dequantize just
  // the rows they gather from it (no dense copy; quant::set_quantized_table). false: the table in
  // the run dtype and a dense head, as a dense load.
  bool packed_head = true;
  // false: the run feeds token ids only (`g4u forward --tokens`), so no tokenizer file is read or
  // required; LoadedModel::tokenizer stays null.
  bool tokenizer = true;
  // Tensors stored in the run dtype: false (default) copies each into memory of its own and releases
  // the file's pages (resident bytes = the weights, compute on ordinary anonymous memory); true keeps
  // them as views of the memory-mapped file (no copy, near-instant load, pages shared with the page
  // cache; bf16 products were measured ~25% slower on views before the command line kept freed
  // buffers for reuse, model/io/sysinfo.h, and not re-measured since). Both cost the weights' bytes.
  bool map_weights = false;
  // Quantized checkpoints and GGUF files: packed arrays stored in the order the kernels read them
  // (and a bf16 table the tied head reads as stored) stay views of the mapping, their pages mapped
  // while loading: no copy, and no second copy of the file in the page cache. false (`--no-mmap`):
  // each is copied into memory of its own, as map_weights = false does for float tensors.
  bool map_packed = true;
  // Where the model runs. The weights are read on the CPU as above, then moved there tensor by
  // tensor (Gemma4Model::to); packed layers build their device form (quant/layer/quant_linear.h).
  torch::Device device = torch::kCPU;
};

struct LoadedModel {
  std::shared_ptr<Gemma4Model> model;
  std::shared_ptr<Tokenizer> tokenizer;
  std::string source;        // preset name or directory
  bool random_weights = false;
};

// Throws InputError naming the file/tensor for anything wrong with a checkpoint: missing or extra
// tensors, wrong shapes, unsupported dtypes.
LoadedModel load_model(const std::string& preset_or_dir, const LoadOptions& options = {});

bool is_float_dtype(DType d);  // bf16, f16, f32 or f64

// Checks that `ckpt` (names already canonical) holds exactly `specs`: each tensor present with its
// shape and, with `float_only`, a floating-point dtype; no other tensor. InputError naming the file
// and the tensor otherwise.
void check_checkpoint_tensors(const Checkpoint& ckpt, const std::vector<TensorSpec>& specs, bool float_only = true);

// Copies `ckpt`'s tensors into the parameters of `module` named by `specs` (after
// check_checkpoint_tensors), converting to each parameter's dtype; the parameters own their
// memory (for training).
void copy_checkpoint_into(torch::nn::Module& module, const Checkpoint& ckpt, const std::vector<TensorSpec>& specs);

// Gives each parameter of `module` named by `specs` (after check_checkpoint_tensors) the
// checkpoint's tensor in `dtype`, at the cost of the weights, one tensor at a time
// (checkpoint_tensor_as). For models built under DeferredWeights (model/text/layers.h), whose
// weights are placeholders until then.
void assign_checkpoint_tensors(torch::nn::Module& module, const Checkpoint& ckpt, const std::vector<TensorSpec>& specs,
                               torch::ScalarType dtype, bool map_weights = false);

// The checkpoint tensor `name` in `dtype`: with `map_weights` and stored in `dtype`, a view of the
// mapping (no copy; the mapping lives as long as the tensor, writes copy the touched pages); else
// an owned copy (converted if need be), the mapped pages read for it released.
torch::Tensor checkpoint_tensor_as(const Checkpoint& ckpt, const std::string& name, torch::ScalarType dtype,
                                   bool map_weights = false);

// An owned copy of `view` (a tensor over mapped file bytes) in `dtype`, made kCopySliceBytes of
// source rows at a time; after each slice `release(begin, end)` is called with its byte range in
// the view, so the caller can drop those file pages: the transient is one slice of file pages, not
// a second copy of the tensor (the 12B's 2 GiB table).
constexpr uint64_t kCopySliceBytes = uint64_t(8) << 20;
torch::Tensor copy_releasing(const torch::Tensor& view, torch::ScalarType dtype,
                             const std::function<void(uint64_t begin, uint64_t end)>& release);

// The model of `cfg` with random weights from `seed` (the values `g4u init --seed S --dtype <dtype>`
// writes), each tensor drawn straight into `dtype` and moved to `device` on its own, so the host holds
// one tensor at a time when `device` is not the CPU. Buffers are left to the caller's Module::to.
std::shared_ptr<Gemma4Model> random_model(const ModelConfig& cfg, uint64_t seed, torch::ScalarType dtype,
                                          const torch::Device& device);

// The model of `cfg` built under DeferredWeights: every weight a placeholder, so nothing is
// allocated until each parameter gets its checkpoint tensor.
std::shared_ptr<Gemma4Model> model_with_placeholders(const ModelConfig& cfg);

// InternalError naming the first parameter of `module` still a DeferredWeights placeholder.
void check_no_placeholders(const torch::nn::Module& module);

// Copies the checkpoint's tensors into the module's parameters (names canonicalised, dtype
// converted). Every parameter must be present; unexpected tensors are errors.
void load_weights(Gemma4Model& model, const std::string& checkpoint_dir);

// The safetensors header entries (name, dtype, shape) of `specs`, all stored as `dtype`.
std::vector<TensorInfo> tensor_infos(const std::vector<TensorSpec>& specs, DType dtype);

// Writes config.json + model.safetensors (+ the tokenizer file, if given) into `dir`; weights are
// stored in `dtype` (bf16 like the released checkpoint, or fp32).
void save_model(const Gemma4Model& model, const std::string& dir, torch::ScalarType dtype,
                const std::string& tokenizer_model_path = "");

// `g4u init --config-only`: the config.json write_random_checkpoint writes, alone (for another
// implementation, e.g. HF transformers, to build the same shapes from).
void write_checkpoint_config(const ModelConfig& config, const std::string& dir);

// `g4u init`: a random-weight checkpoint of a preset, generated and written one chunk at a time so
// the 12B-shaped 24 GB file needs far less memory than it holds. Same weights as load_model(preset,
// seed). No tokenizer file is written: a preset without the built-in byte tokenizer gets
// g4u_tokenizer "none" in its config. Returns the bytes written.
int64_t write_random_checkpoint(const ModelConfig& config, const std::string& dir, uint64_t seed,
                                torch::ScalarType dtype = torch::kBFloat16);

// The tensors of `specs` with seeded random values (init_random's), streamed into the safetensors
// file `path` one kInitChunk at a time in `dtype`. Returns the file size.
int64_t write_random_safetensors(const std::vector<TensorSpec>& specs, const std::string& path, uint64_t seed,
                                 torch::ScalarType dtype);

}  // namespace g4u::model
