// Where a model runs: `--device cpu|cuda[:N]` parsed and checked against this build and machine,
// and the facts the commands report about it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace g4u::model {

// "cpu", "cuda" (device 0) or "cuda:N". InputError naming `flag` for anything else, for a CUDA
// device when this LibTorch has no CUDA or the machine has no such device, so that a run never
// starts on a device it cannot use.
torch::Device parse_device(const std::string& text, const std::string& flag = "--device");

// Whether this build of g4u was compiled against a CUDA LibTorch (G4U_WITH_CUDA).
bool built_with_cuda();

// The device's name for reports: "cpu" or e.g. "cuda:0 (NVIDIA H100 80GB HBM3)" where the build can
// ask the driver, else "cuda:0".
std::string describe_device(const torch::Device& device);

// Bytes the CUDA caching allocator held for tensors at its peak, summed over the devices, since the
// process started; nullopt in a build without CUDA or on a machine without a CUDA device.
std::optional<int64_t> peak_cuda_bytes();

// Waits for the work queued on `device` (a CUDA stream) to finish, so that wall-clock timings of a
// step include its kernels; nothing to wait for on the CPU.
void synchronize(const torch::Device& device);

// Read bandwidth of `device`'s memory in bytes/s: the fastest of `reps` timed sums over `bytes` of
// fp32 (after one warm-up), each synchronized. A GPU's reduction streams at close to the memory's
// rate, which is what decoding at batch 1 is bound by (`g4u bench --membw` on a GPU).
double measure_device_read_bandwidth(const torch::Device& device, int64_t bytes = int64_t(1) << 30, int reps = 5);

}  // namespace g4u::model
