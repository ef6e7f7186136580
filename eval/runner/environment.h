// The environment block of results.json (what a reviewer needs to trust and repeat a number) and
// the config hash.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace g4u::runner {

// Recorded at build time (eval/runner/build_info.cmake): HEAD of the source tree, and whether tracked
// files differed from it.
const char* build_git_commit();
bool build_git_dirty();

// {"git_commit", "git_dirty", "libtorch_version", "cpu_model", "threads" (LibTorch intra-op
//  threads), "gpu" (null, or {"count", "names"}), "hostname", "seeds"}.
nlohmann::json environment_block(const nlohmann::json& seeds);

}  // namespace g4u::runner
