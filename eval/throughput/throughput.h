// Prefill and decode throughput of a model, the way llama-bench measures it: one warm-up, then
// `reps` timed repetitions of a prefill of `prompt` tokens from an empty cache and of `gen` greedy
// decode steps after a context of `depth` tokens (mean and sample standard deviation of tokens/s).
// Used by `g4u bench` and by the bench step of `g4u run`.
#pragma once

#include "model/io/loader.h"
#include "model/model.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace g4u::throughput {

struct ThroughputOptions {
  int64_t prompt = 512;  // prefill length (0: no prefill measurement)
  int64_t gen = 128;     // decoded tokens (0: no decode measurement)
  int64_t depth = 0;     // context in the cache before decoding (random ids)
  int reps = 5;          // timed repetitions after one warm-up
  uint64_t seed = 0;     // of the random prompt ids
  // Exact prompt ids: prefill runs them instead of random ids, decoding continues greedily from
  // them, and the report lists the generated tokens (so another engine can be checked against it).
  std::vector<int64_t> prompt_ids;
};

// Loads the model with `load` (timed; the peak RSS once loaded is recorded before any KV cache) and
// measures it. The report (JSON keys; the caller adds the dtype it loaded with):
// model, threads, load_seconds, load_peak_rss_bytes, reps, cpu, libtorch, quant_kernel_isa,
// tied_head, embedding_dtype, prefill {tokens, tokens_per_s, stddev}, decode {tokens, depth,
// tokens_per_s, stddev, ms_per_token}, kv_cache_bytes, weight_bytes (bytes one decode step reads),
// peak_rss_bytes, omp_wait_policy; with prompt_ids also prompt_tokens, generated and
// generated_same_every_rep. InputError for options the model cannot run (positions, memory, ids).
struct ThroughputRun {
  model::LoadedModel model;
  nlohmann::json report;
};
ThroughputRun measure_throughput(const std::function<model::LoadedModel()>& load, const ThroughputOptions& options);

// The same measurement of a model already loaded (the report without load_seconds and
// load_peak_rss_bytes): `g4u bench --contexts` measures one load at several context lengths.
nlohmann::json measure_loaded(model::LoadedModel& model, const ThroughputOptions& options);

// Bytes of weights one decode step reads: every projection (packed storage for quantized ones)
// plus the tied head.
int64_t decode_weight_bytes(model::Gemma4Model& m);

}  // namespace g4u::throughput
