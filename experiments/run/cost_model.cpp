#include "experiments/run/cost_model.h"

#include "base/error.h"
#include "base/json_util.h"
#include "base/rng.h"
#include "experiments/config_fields.h"
#include "model/io/loader.h"
#include "model/io/sysinfo.h"
#include "model/io/tensor_specs.h"
#include "model/model.h"
#include "model/text/kv_cache.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>

namespace g4u::experiments {
namespace {

constexpr double kCpuRuntimeBytes = 300.0 * (1 << 20);  // LibTorch, the process, the data (as run/step_kinds.cpp)

// Sum of min(t, window) over the context lengths t = first + 1 ... first + count (window 0: none).
double sum_context(int64_t first, int64_t count, int64_t window) {
  auto prefix = [window](int64_t n) -> double {  // sum over t = 1..n
    if (window <= 0 || n <= window) return 0.5 * static_cast<double>(n) * static_cast<double>(n + 1);
    return 0.5 * static_cast<double>(window) * static_cast<double>(window + 1) + static_cast<double>(n - window) * window;
  };
  return prefix(first + count) - prefix(first);
}

int64_t window_of(const model::TextConfig& c, model::LayerType t) {
  return t == model::LayerType::kSliding ? c.sliding_window : 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// MemTotal of /proc/meminfo in bytes; 0 when it cannot be read.
double total_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  for (std::string key; in >> key;) {
    double kib = 0;
    if (key == "MemTotal:" && in >> kib) return kib * 1024;
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

CpuRates measure_cpu(const std::string& probe) {
  const auto t0 = std::chrono::steady_clock::now();
  auto preset = model::model_preset(probe);
  if (!preset || preset->tokenizer != "byte")
    throw_input("estimate.cpu_probe: '{}' is not a preset with built-in weights (tiny, small, medium)", probe);
  model::LoadOptions lo;
  lo.tokenizer = false;
  model::LoadedModel lm = model::load_model(probe, lo);
  model::Gemma4Model& m = *lm.model;
  const model::TextConfig& c = m.config().text;
  const ModelCost cost = model_cost(m.config(), 32, 4);
  torch::NoGradGuard no_grad;
  Rng rng(1);
  auto ids = [&](int64_t n) {
    std::vector<int64_t> v(n);
    for (auto& id : v) id = 32 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(c.vocab_size - 32)));
    return torch::tensor(v).view({1, n});
  };
  auto step = [&](model::KVCache& cache, const torch::Tensor& x) {
    auto r = m.text().forward(m.text().embed(x), torch::ones({1, x.size(1)}, torch::kBool), cache);
    return m.text().logits(r.hidden.select(1, -1)).argmax(-1).view({1, 1});
  };
  // Best of two after a warm-up: the machine's speed, not its other load's.
  double prefill = 1e30, decode = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    model::KVCache cache(c, 1, m.dtype());
    auto tp = std::chrono::steady_clock::now();
    torch::Tensor next = step(cache, ids(kProbePrompt));
    const double ps = seconds_since(tp);
    auto td = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kProbeDecode; ++i) next = step(cache, next);
    const double ds = seconds_since(td);
    if (rep > 0) {
      prefill = std::min(prefill, ps);
      decode = std::min(decode, ds);
    }
  }
  CpuRates r;
  r.probe = probe;
  r.threads = torch::get_num_threads();
  r.probe_matmul_params = cost.matmul_params;
  r.prefill_flops = forward_flops(cost, 0, kProbePrompt) / prefill;
  r.probe_layers = c.num_layers;
  const double decode_flops = forward_flops(cost, kProbePrompt, kProbeDecode);
  r.decode_flops = decode_flops / decode;
  // What a decode step costs beyond its arithmetic (operator dispatch, small kernels), per layer.
  r.decode_layer_overhead = std::max(0.0, decode - decode_flops / r.prefill_flops) / kProbeDecode / c.num_layers;
  r.read_bandwidth = measure_read_bandwidth(r.threads, int64_t(128) << 20, 2);
  r.memory_bytes = total_memory_bytes();
  r.seconds = seconds_since(t0);
  return r;
}

}  // namespace

PlanSettings read_plan_settings(const nlohmann::json& estimate, const std::string& where) {
  PlanSettings s;
  if (estimate.is_null() || estimate.empty()) return s;
  JsonObject o(estimate, where);
  s.shards = o.get_int("shards", s.shards);
  if (s.shards < 1) throw_input("{}: must be >= 1, got {}", o.field("shards"), s.shards);
  s.cpu_probe = o.get_string("cpu_probe", s.cpu_probe);
  if (o.has("gpu")) {
    JsonObject g = o.object("gpu");
    s.gpu.name = g.get_string("name", s.gpu.name);
    s.gpu.memory_bandwidth = g.get_double("memory_bandwidth_tb_s", s.gpu.memory_bandwidth / 1e12) * 1e12;
    s.gpu.flops = g.get_double("bf16_tflops", s.gpu.flops / 1e12) * 1e12;
    s.gpu.memory_bytes = g.get_double("memory_gb", s.gpu.memory_bytes / 1e9) * 1e9;
    if (s.gpu.memory_bandwidth <= 0 || s.gpu.flops <= 0 || s.gpu.memory_bytes <= 0)
      throw_input("{}: memory_bandwidth_tb_s, bf16_tflops and memory_gb must be > 0", g.where());
    detail::reject_unread(g);
  }
  detail::reject_unread(o);
  return s;
}

const CpuRates& measured_cpu_rates(const std::string& probe) {
  static std::mutex mu;
  static std::map<std::string, CpuRates> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(probe);
  if (it == cache.end()) it = cache.emplace(probe, measure_cpu(probe)).first;
  return it->second;
}

ModelCost model_cost(const model::ModelConfig& c, double bits_per_weight, int64_t kv_bytes_per_value) {
  ModelCost m;
  m.config = c;
  m.bits_per_weight = bits_per_weight;
  m.kv_bytes_per_value = kv_bytes_per_value;
  for (const auto& s : model::model_tensor_specs(c)) {
    m.params += s.numel();
    if (s.component != "text") continue;
    m.text_params += s.numel();
    if (s.kind == model::TensorKind::kLinear || s.kind == model::TensorKind::kEmbedding) m.matmul_params += s.numel();
  }
  return m;
}

double forward_flops(const ModelCost& m, int64_t first, int64_t count) {
  const model::TextConfig& c = m.config.text;
  double flops = 2.0 * static_cast<double>(m.matmul_params) * static_cast<double>(count);
  for (model::LayerType t : c.layer_types) {
    const auto& g = c.geometry(t);
    flops += 4.0 * static_cast<double>(g.num_heads * g.head_dim) * sum_context(first, count, window_of(c, t));
  }
  return flops;
}

double kv_read_bytes(const ModelCost& m, int64_t first, int64_t count) {
  const model::TextConfig& c = m.config.text;
  double bytes = 0;
  for (model::LayerType t : c.layer_types) {
    const auto& g = c.geometry(t);
    bytes += 2.0 * static_cast<double>(g.num_kv_heads * g.head_dim * m.kv_bytes_per_value) *
             sum_context(first, count, window_of(c, t));
  }
  return bytes;
}

namespace {

// The model as the GPU holds it: weights in bf16 at most (fewer bits as stored), bf16 KV cache.
ModelCost on_gpu(const ModelCost& m) {
  ModelCost g = m;
  g.bits_per_weight = std::min(16.0, m.bits_per_weight);
  g.kv_bytes_per_value = std::min<int64_t>(2, m.kv_bytes_per_value);
  return g;
}

// Weights, the KV cache at the longest point, the prefill's activations.
double item_peak_bytes(const ModelCost& m, int64_t prompt, int64_t new_tokens) {
  const model::TextConfig& c = m.config.text;
  const double kv = static_cast<double>(model::kv_cache_bytes(c, prompt + new_tokens, m.kv_bytes_per_value));
  int64_t heads = 0;
  for (model::LayerType t : c.layer_types) heads = std::max(heads, c.geometry(t).num_heads);
  const double p = static_cast<double>(prompt);
  const double activations = p * (4.0 * c.hidden_size + 3.0 * c.intermediate_size) * m.kv_bytes_per_value +
                             4.0 * heads * p * p + 4.0 * c.vocab_size;
  return m.weight_bytes() + kv + activations;
}

}  // namespace

double gpu_decode_seconds_per_token(const ModelCost& m, const GpuSpec& gpu) {
  const ModelCost g = on_gpu(m);
  return std::max(g.decode_weight_bytes() / gpu.memory_bandwidth, forward_flops(g, 0, 1) / gpu.flops);
}

ItemCost item_cost(const ModelCost& m, int64_t prompt, int64_t new_tokens, const CpuRates& cpu, const GpuSpec& gpu) {
  ItemCost out;
  {
    const double prefill_flops = forward_flops(m, 0, prompt), decode_flops = forward_flops(m, prompt, new_tokens);
    const double decode_bytes = new_tokens * m.decode_weight_bytes() + kv_read_bytes(m, prompt, new_tokens);
    out.cpu.seconds = prefill_flops / cpu.prefill_flops +
                      static_cast<double>(new_tokens * m.config.text.num_layers) * cpu.decode_layer_overhead +
                      std::max(decode_flops / cpu.prefill_flops, decode_bytes / cpu.read_bandwidth);
    out.cpu.bytes = kCpuRuntimeBytes + item_peak_bytes(m, prompt, new_tokens);
  }
  {
    const ModelCost g = on_gpu(m);
    const double prefill_flops = forward_flops(g, 0, prompt), decode_flops = forward_flops(g, prompt, new_tokens);
    const double decode_bytes = new_tokens * g.decode_weight_bytes() + kv_read_bytes(g, prompt, new_tokens);
    out.gpu.seconds = std::max(prefill_flops / gpu.flops, g.decode_weight_bytes() / gpu.memory_bandwidth) +
                      std::max(decode_flops / gpu.flops, decode_bytes / gpu.memory_bandwidth);
    out.gpu.bytes = item_peak_bytes(g, prompt, new_tokens);
  }
  return out;
}

}  // namespace g4u::experiments
