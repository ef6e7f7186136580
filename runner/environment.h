// The environment block of results.json (what a reviewer needs to trust and repeat a number) and
// the config hash.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace g4u::runner {

// Recorded at build time (runner/build_info.cmake): HEAD of the source tree, and whether tracked
// files differed from it.
const char* build_git_commit();
bool build_git_dirty();

// {"git_commit", "git_dirty", "libtorch_version", "cpu_model", "threads" (LibTorch intra-op
//  threads), "gpu" (null, or {"count", "names"}), "hostname", "seeds"}.
nlohmann::json environment_block(const nlohmann::json& seeds);

// "fnv1a64:<16 hex>" of the config's compact JSON text (keys sorted: nlohmann::json orders object
// keys), so equal configs hash equal whatever order their keys were set in.
std::string config_hash(const nlohmann::json& config);

// FNV-1a 64 of a file's bytes, streamed; InputError naming the file when it cannot be read.
uint64_t fnv1a64_file(const std::string& path);
std::string hex64(uint64_t v);  // 16 lower-case hex digits

}  // namespace g4u::runner
