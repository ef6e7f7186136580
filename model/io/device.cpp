#include "model/io/device.h"

#include "base/error.h"

#include <algorithm>
#include <chrono>

#if defined(G4U_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace g4u::model {

bool built_with_cuda() {
#if defined(G4U_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

torch::Device parse_device(const std::string& text, const std::string& flag) {
  if (text == "cpu") return torch::kCPU;
  int64_t index = 0;
  if (text != "cuda") {
    const std::string prefix = "cuda:";
    size_t used = 0;
    bool ok = text.rfind(prefix, 0) == 0 && text.size() > prefix.size();
    if (ok) {
      const std::string digits = text.substr(prefix.size());
      ok = digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 4;
      if (ok) index = std::stoll(digits, &used);
    }
    if (!ok) throw_input("{} {}: expected cpu, cuda or cuda:N", flag, text);
  }
  if (!built_with_cuda() || !torch::cuda::is_available())
    throw_input("{} {}: this g4u was built against a LibTorch without CUDA or finds no CUDA device (build with "
                "scripts/gpu-build.sh on a machine with an NVIDIA GPU)",
                flag, text);
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count) throw_input("{} {}: this machine has {} CUDA device(s)", flag, text, count);
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

std::string describe_device(const torch::Device& device) {
  if (device.is_cpu()) return "cpu";
#if defined(G4U_WITH_CUDA)
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device.has_index() ? device.index() : 0) == cudaSuccess)
      return fmt::format("{} ({})", device.str(), prop.name);
  }
#endif
  return device.str();
}

std::optional<int64_t> peak_cuda_bytes() {
#if defined(G4U_WITH_CUDA)
  if (!torch::cuda::is_available()) return std::nullopt;
  namespace alloc = c10::cuda::CUDACachingAllocator;
  int64_t peak = 0;
  for (int64_t d = 0; d < static_cast<int64_t>(torch::cuda::device_count()); ++d) {
    const auto stats = alloc::getDeviceStats(static_cast<c10::DeviceIndex>(d));
    // Entry 0 is StatType::AGGREGATE (all pools); the enum moved to c10::CachingDeviceAllocator in 2.x.
    peak += stats.allocated_bytes[0].peak;
  }
  return peak;
#else
  return std::nullopt;
#endif
}

void synchronize(const torch::Device& device) {
#if defined(G4U_WITH_CUDA)
  if (device.is_cuda()) c10::cuda::device_synchronize();
#else
  (void)device;
#endif
}

double measure_device_read_bandwidth(const torch::Device& device, int64_t bytes, int reps) {
  torch::NoGradGuard ng;
  torch::Tensor x = torch::ones({bytes / 4}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  double best = 0;
  for (int r = 0; r <= reps; ++r) {
    synchronize(device);
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor s = x.sum();
    synchronize(device);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    G4U_CHECK(s.item<float>() > 0, "bandwidth probe summed to {}", s.item<float>());
    if (r > 0 && seconds > 0) best = std::max(best, static_cast<double>(x.numel() * 4) / seconds);
  }
  return best;
}

}  // namespace g4u::model
