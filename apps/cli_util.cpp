#include "apps/cli_util.h"

#include "base/error.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace g4u::app {

// Invalid UTF-8 (a random model can emit any bytes) is replaced by U+FFFD rather than failing.
void print_json(const nlohmann::json& j) {
  std::fputs((j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), stdout);
}

bool is_model_dir(const std::string& model) {
  return std::filesystem::is_directory(model);
}

model::ModelConfig resolve_model_config(const std::string& name) {
  if (auto p = model::model_preset(name)) return *p;
  if (is_model_dir(name)) return model::load_model_config(name);
  std::string known;
  for (const auto& n : model::model_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw_input("--model {}: neither a preset ({}) nor a checkpoint directory", name, known);
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) { b /= 1024; ++u; }
  return fmt::format("{:.2f} {}", b, units[u]);
}

}  // namespace g4u::app

namespace g4u::app {
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}
}  // namespace g4u::app
