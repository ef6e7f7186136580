// Flags shared by the commands that run a model (--model, --dtype, --seed, --threads, --dense-head,
// --mmap, --no-mmap, --device),
// declared once.
#pragma once

#include "model/io/loader.h"

#include <CLI/CLI.hpp>

#include <string>

namespace g4u::app {

struct ModelFlags {
  std::string model;
  std::string dtype = "fp32";
  uint64_t seed = 0;
  int threads = 0;  // 0: LibTorch's default (all cores)
  bool dense_head = false;  // quantized checkpoints: tied head dense in the run dtype (!LoadOptions::packed_head)
  bool mmap = false;        // LoadOptions::map_weights
  bool no_mmap = false;     // !LoadOptions::map_packed (and no --mmap)
  std::string device = "cpu";  // LoadOptions::device: cpu, cuda or cuda:N
  std::string quant;  // RTN recipe applied in memory after loading (add_quant_flag); empty: as loaded
};

void add_model_flags(CLI::App& sub, ModelFlags& flags);
// --quant RECIPE (commands that take it: bench): the float model quantized in memory on the host
// before it moves to --device, as `g4u quantize` would write it; no checkpoint on disk.
void add_quant_flag(CLI::App& sub, ModelFlags& flags);
torch::ScalarType parse_dtype_flag(const std::string& dtype);  // fp32 | bf16
// Applies --threads and loads the model (preset with random weights from --seed, or a checkpoint).
// with_tokenizer false: a run on token ids alone, which needs no tokenizer file.
model::LoadedModel load_from_flags(const ModelFlags& flags, bool with_tokenizer = true);

// "1,2,3" -> ids; InputError naming the flag on anything else.
std::vector<int64_t> parse_id_list(const std::string& text, const std::string& flag);

}  // namespace g4u::app
