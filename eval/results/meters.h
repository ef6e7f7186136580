// Meters of an evaluation run: latency summaries recomputed from the per-sample log, weight bytes
// by class over a model's tensors (an extensible rule table), process memory. Torch-free; the
// module walk that feeds weight_bytes_by_class lives in eval/runner/module_tensors.h.
#pragma once

#include "eval/results/sample_log.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g4u::runner {

// numpy.percentile's default ("linear"): rank q/100 * (n-1), interpolated between the neighbours.
// q in [0, 100]; NaN for an empty list.
double percentile(std::vector<double> values, double q);

// Latency of a set of records (one task, or a whole variant). Batch-level quantities (prefill and
// decode throughput, KV bytes) count each batch once, identified by BatchTiming::id.
//   ttft_s           per sample: its batch's prefill (prompt forward + first token); mean/p50/p90/p99
//   per_token_s      every token after a sample's first: the decode step that produced it; mean/p50/p90/p99
//   prefill_tokens_per_s  sum of batch prompt tokens / sum of batch prefill seconds
//   decode_tokens_per_s   sum of batch tokens after each row's first / sum of batch decode seconds
//   e2e_s            per sample: preprocess + prefill + its decode steps; mean/p50/p90/p99
// Warm-up generations are never logged, so nothing here includes them.
nlohmann::json latency_summary(const std::vector<const SampleRecord*>& records);

// --- weight bytes by class ----------------------------------------------------------------------
struct TensorEntry {
  std::string name;            // module path ("model.language_model.layers.0.mlp.up_proj.weight")
  std::string dtype;           // "float32", "bfloat16", "uint8", ...
  std::vector<int64_t> shape;
  int64_t numel = 0;
  int64_t bytes = 0;           // numel * element size
  bool buffer = false;         // a registered buffer (not a parameter)
  const void* storage = nullptr;  // identity of the storage, so tied tensors count once
};

// Classes: linear, embedding, head, norm, quant_metadata, other (stable names: they reach JSON).
struct WeightRule {
  std::string name;   // for messages/tests
  std::string klass;  // the class a matching tensor counts in
  std::function<bool(const TensorEntry&)> match;
  // Model weights the tensor stands for (the bits/weight denominator); null: its element count.
  // Quantization metadata stands for none; a packed 4-bit buffer of uint8 for two per byte.
  std::function<int64_t(const TensorEntry&)> weights;
};
// The rules, first match wins. Defaults (in order): quantization metadata (scales, zero points,
// absmax, codebooks of quantized layers: names ending in .scales/.scale/.zeros/.zero/.absmax/
// .qmeta/.codebook), head (lm_head.*), embedding (embed_tokens, per-layer/position embedding
// tables), norm (any path segment containing "norm"), linear (other tensors of >= 2 dims: projection
// and MLP matrices, packed quantized weights), other (scalars, 1-D biases/scalers).
std::vector<WeightRule>& weight_rules();
// Adds a rule before the defaults (a quantized layer type registers its metadata and packed buffers).
void add_weight_rule(WeightRule rule);

struct WeightBytes {
  std::vector<std::pair<std::string, int64_t>> by_class;  // every class, fixed order, bytes
  std::vector<std::pair<std::string, int64_t>> tensors_by_class;
  int64_t total_bytes = 0;
  int64_t weights = 0;  // model weights the tensors stand for (WeightRule::weights)
  int64_t tied_bytes = 0;  // tensors sharing storage with an earlier one (not counted again)
  double bits_per_weight() const { return weights > 0 ? 8.0 * total_bytes / static_cast<double>(weights) : 0; }
  nlohmann::json to_json() const;
};
WeightBytes weight_bytes_by_class(const std::vector<TensorEntry>& tensors);


}  // namespace g4u::runner
