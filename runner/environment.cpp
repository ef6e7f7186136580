#include "runner/environment.h"

#include "datasets/shard.h"
#include "model/error.h"
#include "model/sysinfo.h"

#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <vector>

namespace g4u::runner {

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

std::string config_hash(const nlohmann::json& config) {
  return "fnv1a64:" + hex64(datasets::fnv1a64(config.dump()));
}

uint64_t fnv1a64_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot read file", path);
  uint64_t h = 0xcbf29ce484222325ull;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      h ^= static_cast<uint8_t>(buf[static_cast<size_t>(i)]);
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

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
