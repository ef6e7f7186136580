// Time and memory of evaluating a model item by item, on this CPU and on a GPU, for the plan of
// `g4u run --dry-run` (experiments/README.md, "Estimates"). No weights are needed: the model's
// shapes come from its config, the CPU's speed is measured at plan time on a small preset model
// (a few forward passes) and scaled by the FLOP ratio, the GPU's from its bandwidth roofline.
//
// Per item (batch 1, greedy): prompt P tokens (text + soft tokens of the media), then up to N new
// tokens (the task's max_new_tokens, the budget the run allows). FLOPs of a position at context
// length t: 2 x (projection + tied-head weights) + per layer 4 x heads x head_dim x min(t, window).
//   CPU  prefill: FLOPs / the probe's measured prefill FLOP/s
//        decode : per token, the probe's measured per-layer overhead of a decode step (its step
//                 time less its FLOPs at the prefill rate) x layers, plus the larger of FLOPs / the
//                 prefill rate and the bytes read (text weights + the KV cache so far) / the
//                 measured read bandwidth
//   GPU  each phase: the larger of FLOPs / peak FLOP/s and bytes read / memory bandwidth
//        (prefill reads the weights once; decode once per token)
//   memory: weights at their bits + KV cache at P + N tokens + activations of the prefill
//           (P x (4 x hidden + 3 x intermediate) values, one layer's attention scores P x P x heads
//           in fp32, one row of logits), + 300 MiB runtime on the CPU.
#pragma once

#include "model/io/config.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace g4u::experiments {

// A GPU's roofline. Default: NVIDIA H100 SXM5 (HBM3 3.35 TB/s, 989 TFLOP/s dense bf16, 80 GB).
struct GpuSpec {
  std::string name = "H100 SXM";
  double memory_bandwidth = 3.35e12;  // bytes/s
  double flops = 989e12;              // dense bf16 FLOP/s
  double memory_bytes = 80e9;
};

// What the plan assumes: the experiment's "estimate" object, then the command line.
struct PlanSettings {
  int64_t shards = 1;              // evaluation split N ways (g4u eval --shard i/N), one model per shard
  GpuSpec gpu;
  std::string cpu_probe = "small";  // the preset whose forward passes are timed
};
// Reads {"shards", "cpu_probe", "gpu": {"name", "memory_bandwidth_tb_s", "bf16_tflops", "memory_gb"}};
// unknown keys are errors naming `where` and the key.
PlanSettings read_plan_settings(const nlohmann::json& estimate, const std::string& where);

// This machine's speed, measured once per process and probe on the probe preset's random weights.
struct CpuRates {
  std::string probe;
  int threads = 0;
  int64_t probe_matmul_params = 0;
  int64_t probe_layers = 0;
  double prefill_flops = 0;    // FLOP/s of a prefill of kProbePrompt tokens
  double decode_flops = 0;     // FLOP/s of single-token decode steps (for the record)
  double decode_layer_overhead = 0;  // seconds per layer of a decode step beyond its FLOPs at the prefill rate
  double read_bandwidth = 0;   // bytes/s, threads summing a 128 MiB buffer
  double memory_bytes = 0;     // this machine's memory (MemTotal of /proc/meminfo; 0: unknown)
  double seconds = 0;          // what the measurement took
};
inline constexpr int64_t kProbePrompt = 128;
inline constexpr int64_t kProbeDecode = 16;
const CpuRates& measured_cpu_rates(const std::string& probe);

// The per-token quantities of a model, from its config's tensor shapes.
struct ModelCost {
  model::ModelConfig config;
  int64_t params = 0;         // every tensor
  int64_t text_params = 0;    // the decoder (embedding = tied head included): read by every decode step
  int64_t matmul_params = 0;  // the decoder's projections + the head: 2 FLOPs each per token
  double bits_per_weight = 32;
  int64_t kv_bytes_per_value = 4;  // the run's activation dtype
  double weight_bytes() const { return params * bits_per_weight / 8; }
  double decode_weight_bytes() const { return text_params * bits_per_weight / 8; }
};
ModelCost model_cost(const model::ModelConfig& c, double bits_per_weight, int64_t kv_bytes_per_value);

// FLOPs of the positions [first, first + count) (each attending to every earlier kept position).
double forward_flops(const ModelCost& m, int64_t first, int64_t count);
// KV-cache bytes read by the decode steps at positions [first, first + count).
double kv_read_bytes(const ModelCost& m, int64_t first, int64_t count);

struct Cost {
  double seconds = 0;
  double bytes = 0;  // peak memory
};
struct ItemCost {
  Cost cpu, gpu;
};
ItemCost item_cost(const ModelCost& m, int64_t prompt_tokens, int64_t new_tokens, const CpuRates& cpu, const GpuSpec& gpu);

// Seconds of one decode step at an empty context on the GPU: the text weights over the bandwidth
// (or the FLOPs over the peak, if larger).
double gpu_decode_seconds_per_token(const ModelCost& m, const GpuSpec& gpu);

}  // namespace g4u::experiments
