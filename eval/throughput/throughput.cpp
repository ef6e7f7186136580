#include "eval/throughput/throughput.h"

#include "base/error.h"
#include "base/rng.h"
#include "model/io/device.h"
#include "model/io/sysinfo.h"
#include "model/text/generate.h"
#include "quant/kernels/kernels.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/tied_head.h"

#include <chrono>
#include <cmath>
#include <cstdlib>

namespace g4u::throughput {
namespace {

struct Stats {
  double mean = 0, stddev = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(s.stddev / static_cast<double>(v.size() - 1));
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int64_t decode_weight_bytes(model::Gemma4Model& m) {
  int64_t total = 0;
  for (const auto& p : m.named_parameters(true)) total += p.value().numel() * p.value().element_size();
  // Packed (quantized) projections hold no parameters; count their storage.
  for (const auto& mod : m.modules())
    if (auto* lin = dynamic_cast<model::Linear*>(mod.get()); lin && lin->scheme() != "dense") total += lin->storage_bytes();
  // A packed head (q4_k_m's Q6_K table) is read instead of a dense table, which (where one exists
  // beside it) only serves the lookups. (TiedBf16Head reads the table itself: counted above.)
  const model::TextModel& text = m.text();
  if (text.head && !dynamic_cast<const quant::TiedBf16Head*>(text.head.get())) {
    total += text.head->storage_bytes();
    const torch::Tensor& dense = text.embed_tokens->weight;
    if (dense.defined()) total -= dense.numel() * dense.element_size();
  }
  return total;
}

namespace {
void check_options(const ThroughputOptions& o) {
  if (o.prompt < 0 || o.gen < 0 || o.depth < 0) throw_input("prompt, gen and depth must be >= 0");
  if (o.reps < 1) throw_input("reps {}: must be >= 1", o.reps);
  if (!o.prompt_ids.empty() && o.depth > 0) throw_input("exact prompt ids and a depth exclude each other");
}
}  // namespace

ThroughputRun measure_throughput(const std::function<model::LoadedModel()>& load, const ThroughputOptions& o) {
  check_options(o);  // before the load
  const auto load_t0 = std::chrono::steady_clock::now();
  ThroughputRun run{load(), nlohmann::json::object()};
  const double load_seconds = seconds_since(load_t0);
  const int64_t load_peak_rss = peak_rss_bytes();  // VmHWM once loaded, before any KV cache
  run.report = measure_loaded(run.model, o);
  run.report["load_seconds"] = load_seconds;
  run.report["load_peak_rss_bytes"] = load_peak_rss;
  return run;
}

nlohmann::json measure_loaded(model::LoadedModel& lm, const ThroughputOptions& o) {
  check_options(o);
  const bool exact = !o.prompt_ids.empty();
  const int64_t prompt = exact ? static_cast<int64_t>(o.prompt_ids.size()) : o.prompt;
  model::Gemma4Model& m = *lm.model;
  const auto& cfg = m.config().text;
  for (int64_t id : o.prompt_ids)
    if (id < 0 || id >= cfg.vocab_size) throw_input("prompt id {} outside the vocabulary [0, {})", id, cfg.vocab_size);
  model::check_fits_positions(cfg, o.depth + prompt, o.gen, "bench");
  model::check_fits_memory(cfg, 1, o.depth + prompt, o.gen, 1, c10::elementSize(m.dtype()), "bench");

  torch::NoGradGuard ng;
  Rng rng(o.seed);
  auto random_ids = [&](int64_t n) {
    std::vector<int64_t> ids(n);
    for (auto& id : ids) id = 32 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(cfg.vocab_size - 32)));
    return torch::tensor(ids).view({1, n});
  };
  // The prompt of one repetition: the exact ids, else fresh random ids.
  auto prompt_tensor = [&]() { return exact ? torch::tensor(o.prompt_ids).view({1, prompt}) : random_ids(prompt); };
  // Runs `ids` through the model with `cache` and returns the greedy next token.
  // The token stays on the model's device (a GPU decodes without a host round trip per token);
  // timings end with model::synchronize, so they include the queued kernels.
  auto step = [&](model::KVCache& cache, const torch::Tensor& ids) {
    auto r = m.text().forward(m.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), cache);
    return m.text().logits(r.hidden.select(1, -1)).argmax(-1).view({1, 1});
  };
  const torch::Device device = m.device();
  nlohmann::json j = {{"model", lm.source},   {"threads", torch::get_num_threads()},
                      {"reps", o.reps},       {"cpu", cpu_model_name()},
                      {"libtorch", libtorch_version()}, {"quant_kernel_isa", quant::kernel_isa()}};
  // How the tied head runs: "dense" (the table in the run dtype), the bf16 table's kernel
  // ("bf16-avx512", ...), or a packed table ("q6_k-avx2", ...).
  std::string head = "dense";
  if (auto* bf16_head = dynamic_cast<quant::TiedBf16Head*>(m.text().head.get())) head = bf16_head->path();
  if (auto* packed = dynamic_cast<quant::QuantLinear*>(m.text().head.get())) head = packed->scheme() + "-" + packed->path();
  j["tied_head"] = head;
  // A packed table (read by the packed head too) reports its scheme ("q6_k").
  const model::Embedding& table = *m.text().embed_tokens;
  j["embedding_dtype"] = table.packed() ? table.packed()->scheme() : c10::toString(table.weight.scalar_type());
  if (prompt > 0) {
    std::vector<double> tps;
    for (int r = 0; r <= o.reps; ++r) {
      torch::Tensor ids = prompt_tensor();
      model::KVCache cache(cfg, 1, m.dtype());
      auto t0 = std::chrono::steady_clock::now();
      step(cache, ids);
      model::synchronize(device);
      double s = seconds_since(t0);
      if (r > 0) tps.push_back(static_cast<double>(prompt) / s);  // r == 0 is the warm-up
    }
    Stats st = stats(tps);
    j["prefill"] = {{"tokens", prompt}, {"tokens_per_s", st.mean}, {"stddev", st.stddev}};
  }
  // Exact ids: the greedy continuation, token 1 from the prefill, tokens 2..n+1 from the decode steps.
  std::vector<int64_t> generated;
  bool deterministic = true;
  if (o.gen > 0) {
    std::vector<double> tps;
    int64_t kv_bytes = 0;
    for (int r = 0; r <= o.reps; ++r) {
      model::KVCache cache(cfg, 1, m.dtype());
      torch::Tensor next = step(cache, exact ? prompt_tensor() : random_ids(std::max<int64_t>(1, o.depth)));
      std::vector<int64_t> out = {next.item<int64_t>()};
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < o.gen; ++i) {
        next = step(cache, next);
        if (exact) out.push_back(next.item<int64_t>());
      }
      model::synchronize(device);
      double s = seconds_since(t0);
      if (r > 0) tps.push_back(static_cast<double>(o.gen) / s);
      kv_bytes = cache.bytes();
      if (r > 0 && out != generated) deterministic = false;
      generated = std::move(out);
    }
    Stats st = stats(tps);
    j["decode"] = {{"tokens", o.gen}, {"depth", exact ? prompt : o.depth}, {"tokens_per_s", st.mean},
                   {"stddev", st.stddev}, {"ms_per_token", st.mean > 0 ? 1000.0 / st.mean : 0.0}};
    j["kv_cache_bytes"] = kv_bytes;
  } else if (exact && prompt > 0) {
    model::KVCache cache(cfg, 1, m.dtype());
    generated = {step(cache, prompt_tensor()).item<int64_t>()};
  }
  if (exact) {
    j["prompt_tokens"] = o.prompt_ids;
    j["generated"] = generated;
    if (o.gen > 0) j["generated_same_every_rep"] = deterministic;
  }
  j["weight_bytes"] = decode_weight_bytes(m);
  j["peak_rss_bytes"] = peak_rss_bytes();
  j["device"] = model::describe_device(device);
  const std::optional<int64_t> cuda_peak = model::peak_cuda_bytes();
  j["peak_cuda_bytes"] = cuda_peak ? nlohmann::json(*cuda_peak) : nlohmann::json(nullptr);
  // libgomp's threads spin after every operator unless told not to; on small SMT machines that
  // changes decode speed severalfold (quant/README.md), so the setting travels with the numbers.
  const char* omp_wait = std::getenv("OMP_WAIT_POLICY");
  j["omp_wait_policy"] = omp_wait != nullptr ? omp_wait : "unset";
  // Whether OpenBLAS's idle workers poll for 0.1 s after each call or sleep (apps/blas_threads.h).
  const char* blas_timeout = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  j["openblas_thread_timeout"] = blas_timeout != nullptr ? blas_timeout : "unset";
  return j;
}

}  // namespace g4u::throughput
