// Quantized checkpoints: streaming `g4u quantize` writer and the loader behind `--model <dir>`.
//
// Directory layout (written to "<out>.tmp.<pid>" and renamed onto <out> only when complete, so an
// interrupted run leaves nothing that loads):
//   config.json (+ generation_config.json, tokenizer files): copied from the source checkpoint;
//   model.safetensors: every tensor the policy keeps, unchanged (name, dtype, shape), and for
//     every quantized tensor <name> (e.g. model.language_model.layers.0.mlp.up_proj.weight) the
//     non-empty arrays of its QuantizedTensor as 1-D U8 tensors "<name>.qdata", "<name>.qscales",
//     "<name>.qzeros", "<name>.qmeta" (byte layouts: quant/formats/quantized_tensor.h);
//   quantization.json (kQuantMetadataFile; its presence marks a quantized checkpoint):
//     {"format": "g4u-quantized-checkpoint", "version": 2, "qdata_order": "kernel",
//      "recipe": "q4_k_m", "source": "...",
//      "calibration": null | {...}, "policy": "...",
//      "tensors": {"<name>": {"scheme", "shape": [rows, cols], "group_size", "bits_per_weight",
//                              "bytes": {codes, scales, zeros_mins, codebook, other, total},
//                              "relative_error", "rule"}},
//      "kept": {"<name>": {"dtype", "shape", "rule"}},
//      "totals": {...}}
//
// qdata order. Version 1 (no "qdata_order") stores every qdata in ggml storage order. Version 2
// says which order the q4_0 / q4_k qdata arrays are in: "kernel" (the kernels' interleaved rows,
// quant/formats/interleave.h: what `g4u quantize` writes by default, so the loader can keep the
// arrays as views of the mapping, no copy and no rearranging) or "storage". Other schemes have one
// order. A checkpoint whose q4_0 / q4_k arrays are all in storage order is written as version 1,
// which every g4u reads.
//
// The loader trusts nothing: every quantized tensor must be a projection of the config with the
// recorded shape, its arrays must have exactly the sizes the scheme implies, every other tensor of
// the config must be present in float with its shape, and nothing else may be in the file; any
// mismatch is an InputError naming the file and tensor.
#pragma once

#include "model/mtp/drafter.h"
#include "model/io/loader.h"
#include "quant/layer/policy.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace g4u::quant {

constexpr const char* kQuantMetadataFile = "quantization.json";

// The float checkpoint in `dir` with canonical tensor names, checked against `specs` (every tensor
// present with its shape and a floating-point dtype, nothing else): InputError naming the tensor.
model::Checkpoint open_float_checkpoint(const std::string& dir, const std::vector<model::TensorSpec>& specs);

// Drops the mapped pages of tensor `name` from this process (MADV_DONTNEED; the mapping is
// read-only, so a later access re-reads the file), keeping a streaming reader's RSS near one tensor.
void release_tensor_pages(const model::Checkpoint& ck, const std::string& name);

// `dir` is a directory holding quantization.json.
bool is_quantized_checkpoint(const std::string& dir);

struct QuantizeOptions {
  std::string recipe = "q4_0";
  int threads = 0;  // encoder threads (<= 0: default)
  // Optional importance matrices (mean squared input activation per column) by tensor name,
  // used by schemes with an imatrix path.
  std::map<std::string, std::vector<float>> imatrix;
  // Optional weight transform applied before quantization (calibrated algorithms): gets the fp32
  // weight [rows, cols] of a decoder linear and may return a QuantizedTensor directly (has_value)
  // or modify the weights in place and return an empty result to use the recipe's scheme.
  std::function<bool(const TensorAssignment&, std::vector<float>& w, QuantizedTensor& out)> transform;
  // New values for kept (not quantized) tensors, written as F32 instead of the source's bytes
  // (AWQ's rescaled norms); each must have the tensor's shape.
  std::map<std::string, torch::Tensor> kept_overrides;
  nlohmann::json calibration;  // recorded in the metadata (null: none)
  std::string source_label;    // "source" in the metadata (default: the source directory)
  std::function<void(const std::string&)> progress;  // one line per tensor, if set
  // q4_0 / q4_k qdata in the kernels' interleaved order (version 2, "qdata_order": "kernel");
  // false: ggml storage order (version 1, for readers older than version 2).
  bool kernel_order = true;
};

// Streams `src_dir` (an HF-layout checkpoint) tensor by tensor into a quantized checkpoint at
// `out_dir` (which must not exist). Returns the metadata written.
nlohmann::json quantize_checkpoint(const std::string& src_dir, const std::string& out_dir, const QuantizeOptions& opt);

// One quantized tensor of a checkpoint: its canonical name, scheme and matrix shape.
struct QuantizedEntry {
  std::string name;
  const SchemeTraits* scheme = nullptr;
  int64_t rows = 0, cols = 0;
};

// What check_quantized_checkpoint found: the config, its tensor list, the quantized tensors (the
// rest of the list is stored in float) and the recipe recorded in quantization.json ("" if none).
struct QuantizedLayout {
  model::ModelConfig config;
  std::vector<model::TensorSpec> specs;
  std::vector<QuantizedEntry> quantized;
  std::string recipe;
  bool kernel_order = false;  // q4_0 / q4_k qdata in the kernels' interleaved order (version 2)
};

// Checks the quantized checkpoint in `dir` (whose safetensors files `ck` has open) from its headers
// alone, reading no weights: quantization.json, config.json, every quantized tensor a matrix of the
// config with the arrays its scheme needs (U8, exact sizes), every other tensor of the config
// present in float with its shape, nothing else in the files. InputError naming the file and tensor.
// `g4u info` validates with it; load_quantized_model loads after it.
QuantizedLayout check_quantized_checkpoint(const std::string& dir, const model::Checkpoint& ck);

// Reads the header fields of a quantization.json (`meta`, read from `meta_path`): "format",
// "version" (1 or 2) and, in version 2, "qdata_order" ("kernel" or "storage"). True when the q4_0 /
// q4_k qdata arrays are in the kernels' interleaved order. InputError naming the file and field.
bool qdata_in_kernel_order(const nlohmann::json& meta, const std::string& meta_path);

// Loads a quantized checkpoint: the config's model with QuantLinear modules for the quantized
// projections and the tied head as model::LoadOptions::packed_head says (a quantized embedding
// stays packed for the head and the lookups, quant::set_quantized_table). With
// LoadOptions::map_packed, packed arrays stored in the order the kernels read them (every scheme's
// but q4_0 / q4_k in storage order) stay views of the mapping, which the model keeps alive; the
// rest are copied out of it.
model::LoadedModel load_quantized_model(const std::string& dir, const model::LoadOptions& opt = {});

// Applies a (round-to-nearest) recipe to a loaded float model in memory under the same policy as
// quantize_checkpoint: decoder projections become QuantLinear, a quantized embedding (q4_k_m) is
// kept packed for the head and the lookups with packed_head, as load_quantized_model does, else
// replaced by its dequantized values. Returns the number of tensors quantized.
int64_t quantize_in_memory(model::Gemma4Model& m, const std::string& recipe, int threads = 0, bool packed_head = true);

// The model of `cfg` with the random weights of model::random_model(cfg, seed, dtype) quantized by
// an RTN recipe as quantize_in_memory would, each tensor drawn and packed at once: the host holds
// the quantized model plus one float matrix, never the float model (the 12B at 4 bits in ~8 GB).
std::shared_ptr<model::Gemma4Model> random_quantized_model(const model::ModelConfig& cfg, uint64_t seed,
                                                           torch::ScalarType dtype, const std::string& recipe,
                                                           int threads = 0, bool packed_head = true);

// Quantizes the drafter's quantizable projections (Drafter::linear_slots) in memory with the base
// scheme of an RTN recipe (q4_k_m: Q4_K). InputError for a calibrated recipe or a drafter without
// quantizable projections. Returns the number of projections quantized.
int64_t quantize_drafter_in_memory(model::Drafter& d, const std::string& recipe, int threads = 0);

// Replaces the decoder projection whose weight is `tensor_name` (canonical checkpoint name) with
// `linear`; InputError if the name is not a decoder projection of `m`.
void replace_linear(model::Gemma4Model& m, const std::string& tensor_name, std::shared_ptr<model::Linear> linear);

// The member of decoder layer `layer` that holds projection `proj` ("q_proj", ..., "down_proj"),
// with its parent module; nullptr for an unknown name or a projection the layer lacks (v_proj of
// K=V layers).
std::shared_ptr<model::Linear>* projection_slot(model::DecoderLayer& layer, const std::string& proj,
                                                torch::nn::Module** parent);

// Every decoder projection of `m` by weight name (canonical checkpoint names).
std::map<std::string, std::shared_ptr<model::Linear>> decoder_linears(model::Gemma4Model& m);

}  // namespace g4u::quant
