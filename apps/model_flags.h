// Flags shared by the commands that run a model (--model, --dtype, --seed, --threads, --fp32-table),
// declared once.
#pragma once

#include "model/loader.h"

#include <CLI/CLI.hpp>

#include <string>

namespace g4u::app {

struct ModelFlags {
  std::string model;
  std::string dtype = "fp32";
  uint64_t seed = 0;
  int threads = 0;  // 0: LibTorch's default (all cores)
  bool fp32_table = false;  // quantized checkpoints: widen a bf16 token table to fp32 (LoadOptions::bf16_table)
};

void add_model_flags(CLI::App& sub, ModelFlags& flags);
torch::ScalarType parse_dtype_flag(const std::string& dtype);  // fp32 | bf16
// Applies --threads and loads the model (preset with random weights from --seed, or a checkpoint).
model::LoadedModel load_from_flags(const ModelFlags& flags);

// "1,2,3" -> ids; InputError naming the flag on anything else.
std::vector<int64_t> parse_id_list(const std::string& text, const std::string& flag);

}  // namespace g4u::app
