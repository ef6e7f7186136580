#include "eval/runner/environment.h"

#include "base/error.h"
#include "model/io/sysinfo.h"

#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <vector>

namespace g4u::runner {

nlohmann::json environment_block(const nlohmann::json& seeds) {
  nlohmann::json j;
  j["git_commit"] = build_git_commit();
  j["git_dirty"] = build_git_dirty();
  j["libtorch_version"] = libtorch_version();
  j["cpu_model"] = cpu_model_name();
  j["threads"] = torch::get_num_threads();
  if (torch::cuda::is_available()) {
    j["gpu"] = {{"count", torch::cuda::device_count()}};
  } else {
    j["gpu"] = nullptr;
  }
  char host[256] = {0};
  j["hostname"] = ::gethostname(host, sizeof(host) - 1) == 0 ? std::string(host) : std::string("unknown");
  j["seeds"] = seeds;
  return j;
}

}  // namespace g4u::runner
