// The memory a command plans to use, checked against what the machine has before it allocates:
// a clear InputError (exit 2) saying how much is needed, by part, and how much is available,
// instead of minutes of swapping and an allocator error.
//
// Available memory: the smaller of /proc/meminfo's MemAvailable and the room left under the
// process's cgroup limit (v2 memory.max - memory.current, v1 memory.limit_in_bytes -
// memory.usage_in_bytes). The environment variable G4U_MEMORY_LIMIT overrides it: a size in bytes
// with an optional K, M, G or T suffix (powers of 1024) is taken as the memory available, and "off"
// turns the check off (for a user who knows better, e.g. with swap or overcommit in mind).
//
// The plans are estimates from the config's shapes (weights, KV cache, the largest transient
// activations of one forward pass); they are meant to catch the impossible (a 10^12-entry
// vocabulary, a 100,000-token prompt on a machine without the memory), not to be exact.
#pragma once

#include "model/io/config.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace g4u::model {

constexpr const char* kMemoryLimitEnv = "G4U_MEMORY_LIMIT";

struct MemoryPlan {
  std::vector<std::pair<std::string, double>> parts;  // ("weights", bytes), ("KV cache", bytes), ...
  double total() const;
};

struct AvailableMemory {
  double bytes = 0;
  std::string source;  // "MemAvailable in /proc/meminfo", "cgroup limit", "G4U_MEMORY_LIMIT"
};

// The memory available now (see above); std::nullopt when the check is off or nothing could be read.
// InputError for a G4U_MEMORY_LIMIT that is neither "off" nor a size.
std::optional<AvailableMemory> available_memory();

// "8G" -> 8 * 2^30 bytes; InputError naming `where` otherwise.
double parse_memory_size(const std::string& text, const std::string& where);

// InputError "<what> needs about <total> (<part> <bytes>, ...) but only <available> is available
// (<source>); ..." when the plan exceeds `available`; nothing when `available` is empty.
void check_memory_plan(const MemoryPlan& plan, const std::string& what, const std::optional<AvailableMemory>& available);
// The same against available_memory().
void check_memory_plan(const MemoryPlan& plan, const std::string& what);

// Bytes of the model's weights at `bytes_per_param` each (every tensor of the config).
double weight_bytes(const ModelConfig& c, double bytes_per_param);

// What running `tokens` new positions through the decoder (batch `batch`, `context` positions in
// the cache after them) costs beyond the weights: the KV cache at `kv_bytes` per value, and the
// largest transients of one layer (attention scores and their fp32 softmax, the MLP's
// intermediates) plus `logit_rows` rows of fp32 logits.
MemoryPlan run_memory_plan(const TextConfig& c, int64_t batch, int64_t tokens, int64_t context, int64_t kv_bytes,
                           int64_t logit_rows);

}  // namespace g4u::model
