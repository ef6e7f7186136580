// Helpers shared by the subcommands: JSON output, resolving --model.
#pragma once

#include "model/io/config.h"

#include <nlohmann/json.hpp>

#include <string>

namespace g4u::app {

// Prints one JSON document on stdout (the --json contract).
void print_json(const nlohmann::json& j);

// --model: a preset name or a checkpoint directory. InputError lists the presets otherwise.
model::ModelConfig resolve_model_config(const std::string& model);
bool is_model_dir(const std::string& model);

std::string human_bytes(double bytes);
std::string with_commas(int64_t n);  // 11959730224 -> "11,959,730,224"

}  // namespace g4u::app
