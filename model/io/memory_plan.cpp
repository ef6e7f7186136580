#include "model/io/memory_plan.h"

#include "base/error.h"
#include "model/io/tensor_specs.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace g4u::model {
namespace {

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", bytes, units[u]);
}

// The first number in `path`; std::nullopt when unreadable or "max".
std::optional<double> read_number(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word.empty() || !std::isdigit(static_cast<unsigned char>(word[0]))) return std::nullopt;
  return std::strtod(word.c_str(), nullptr);
}

std::optional<double> meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return std::nullopt;
}

// Room left under this process's cgroup limit (v2, else v1); std::nullopt without a limit.
std::optional<double> cgroup_room() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    const std::string dir = "/sys/fs/cgroup" + line.substr(3);
    auto limit = read_number(dir + "/memory.max");
    auto used = read_number(dir + "/memory.current");
    if (limit && used) return std::max(0.0, *limit - *used);
  }
  auto limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  auto used = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  // v1 reports "no limit" as a page-rounded 2^63.
  if (limit && used && *limit < 0x1p62) return std::max(0.0, *limit - *used);
  return std::nullopt;
}

}  // namespace

double MemoryPlan::total() const {
  double t = 0;
  for (const auto& p : parts) t += p.second;
  return t;
}

double parse_memory_size(const std::string& text, const std::string& where) {
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  double scale = 1;
  if (used > 0 && used + 1 == text.size()) {
    const std::string units = "KMGT";
    const size_t u = units.find(static_cast<char>(std::toupper(static_cast<unsigned char>(text.back()))));
    if (u != std::string::npos) {
      scale = static_cast<double>(int64_t(1) << (10 * (u + 1)));
      ++used;
    }
  }
  if (used == 0 || used != text.size() || !(v >= 0) || !std::isfinite(v))
    throw_input("{}: '{}' is not a memory size (bytes, or a number with K, M, G or T) nor \"off\"", where, text);
  return v * scale;
}

std::optional<AvailableMemory> available_memory() {
  if (const char* env = std::getenv(kMemoryLimitEnv)) {
    const std::string v = env;
    if (v == "off") return std::nullopt;
    return AvailableMemory{parse_memory_size(v, kMemoryLimitEnv), kMemoryLimitEnv};
  }
  std::optional<AvailableMemory> out;
  if (auto m = meminfo_available()) out = AvailableMemory{*m, "MemAvailable in /proc/meminfo"};
  if (auto c = cgroup_room(); c && (!out || *c < out->bytes)) out = AvailableMemory{*c, "room under the cgroup memory limit"};
  return out;
}

void check_memory_plan(const MemoryPlan& plan, const std::string& what, const std::optional<AvailableMemory>& available) {
  if (!available || plan.total() <= available->bytes) return;
  std::string parts;
  for (const auto& [name, bytes] : plan.parts)
    if (bytes > 0) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", name, human(bytes));
  throw_input("{} needs about {} ({}) but only {} is available ({}); set {}=<size> (e.g. 64G) to state the memory "
              "available, or {}=off to skip this check",
              what, human(plan.total()), parts, human(available->bytes), available->source, kMemoryLimitEnv,
              kMemoryLimitEnv);
}

void check_memory_plan(const MemoryPlan& plan, const std::string& what) {
  check_memory_plan(plan, what, available_memory());
}

double weight_bytes(const ModelConfig& c, double bytes_per_param) {
  double n = 0;
  for (const auto& s : model_tensor_specs(c)) n += static_cast<double>(s.numel());
  return n * bytes_per_param;
}

MemoryPlan run_memory_plan(const TextConfig& c, int64_t batch, int64_t tokens, int64_t context, int64_t kv_bytes,
                           int64_t logit_rows) {
  const double B = static_cast<double>(batch), T = static_cast<double>(tokens), S = static_cast<double>(context);
  double heads = 0, width = 0;
  for (LayerType t : {LayerType::kSliding, LayerType::kFull}) {
    if (!c.count_layers(t)) continue;
    heads = std::max(heads, static_cast<double>(c.geometry(t).num_heads));
    width = std::max(width, static_cast<double>(c.geometry(t).num_heads * c.geometry(t).head_dim));
  }
  MemoryPlan p;
  p.parts.emplace_back("KV cache", B * static_cast<double>(kv_cache_bytes(c, context, kv_bytes)));
  // Scores [B, heads, T, S] in the run dtype, their masked copy and the fp32 softmax: about 12
  // bytes per score; the MLP's gate, up and product [B, T, intermediate]; q, k, v, attention
  // output and residual stream [B, T, width or hidden] in fp32.
  const double attention = B * heads * T * S * 12;
  const double mlp = B * T * static_cast<double>(c.intermediate_size) * 4 * 3;
  const double stream = B * T * (4 * width + 4 * static_cast<double>(c.hidden_size)) * 4;
  p.parts.emplace_back("activations", attention + mlp + stream);
  p.parts.emplace_back("logits", static_cast<double>(logit_rows) * static_cast<double>(c.vocab_size) * 4);
  return p;
}

}  // namespace g4u::model
