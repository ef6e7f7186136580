// g4u bench: llama-bench-like prefill and decode tokens/s (mean and stddev over repetitions), with
// an optional memory-bandwidth probe and the decode roofline it implies. With --tokens the prompt
// is an exact list of ids and the greedy continuation is reported, so that another engine can be
// run on the same input and checked token for token (bench/peer/).
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/run/bench_embedders.h"
#include "apps/flags/draft_flags.h"
#include "apps/flags/model_flags.h"
#include "base/error.h"
#include "base/json_util.h"
#include "base/rng.h"
#include "model/io/sysinfo.h"
#include "model/text/generate.h"
#include "quant/kernels/kernels.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/tied_head.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cmath>

namespace g4u::app {
namespace {

struct Stats {
  double mean = 0, stddev = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  if (v.size() > 1) {
    for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(s.stddev / (v.size() - 1));
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct BenchFlags {
  ModelFlags model;
  int64_t prompt = 512, gen = 128, depth = 0;
  int reps = 5;
  std::string tokens;  // exact prompt ids ("1,2,3" or "@file"); empty: -p random ids
  bool membw = false, json = false, embedders = false;
  DraftFlags draft;
};

// Bytes of weights one decode step reads: every projection plus the tied head (the whole table).
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

Command bench_cmd("bench", "Prefill and decode throughput (llama-bench style)", [](CLI::App& sub) {
  auto f = std::make_shared<BenchFlags>();
  add_model_flags(sub, f->model);
  sub.add_option("-p,--prompt-tokens", f->prompt, "Prefill length (0: skip)")->capture_default_str();
  sub.add_option("-n,--gen-tokens", f->gen, "Decoded tokens (0: skip)")->capture_default_str();
  CLI::Option* depth =
      sub.add_option("-d,--depth", f->depth, "Context already in the cache before decoding")->capture_default_str();
  sub.add_option("--tokens", f->tokens,
                 "Exact prompt token ids, comma-separated or @file (ids separated by commas or whitespace): prefill "
                 "runs them instead of -p random ids, decode continues greedily from them, and the output lists the "
                 "generated tokens")
      ->excludes(depth);
  sub.add_option("--reps", f->reps, "Repetitions (after one warm-up)")->capture_default_str();
  sub.add_flag("--membw", f->membw, "Also measure memory read bandwidth and the decode roofline");
  add_draft_flags(sub, f->draft);
  sub.add_flag("--embedders", f->embedders,
               "Latency of every vision/audio projector variant (per image at each budget, per second of audio) "
               "beside the decoder's prefill of as many tokens; works for gemma4-12b too (embedders only)");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    if (f->prompt < 0 || f->gen < 0 || f->depth < 0) throw_input("-p, -n and -d must be >= 0");
    if (f->reps < 1) throw_input("--reps {}: must be >= 1", f->reps);
    if (f->embedders) {
      if (f->model.threads > 0) set_compute_threads(f->model.threads);
      model::ModelConfig c = resolve_model_config(f->model.model);
      // The 12B's decoder does not fit a CPU benchmark; its embedders do.
      bool decoder = model::count_params(model::model_tensor_specs(c))["total"] < 2'000'000'000LL;
      nlohmann::json j = bench_embedders(c, f->reps, decoder, f->model.seed);
      j["model"] = f->model.model;
      j["threads"] = torch::get_num_threads();
      if (f->json) print_json(j);
      else {
        for (const auto& v : j["vision"])
          fmt::print(stderr, "vision {:<10} params {:>12} budget {:>5}: {:8.2f} ms  (decoder prefill {})\n",
                     v["projector"].get<std::string>(), v["params"].get<int64_t>(), v["budget"].get<int64_t>(),
                     1e3 * v["seconds"].get<double>(),
                     v["decoder_prefill_seconds"].is_null() ? std::string("n/a")
                                                             : fmt::format("{:.2f} ms", 1e3 * v["decoder_prefill_seconds"].get<double>()));
        for (const auto& a : j["audio"])
          fmt::print(stderr, "audio  {:<10} params {:>12} F={:<5}: {:8.2f} ms per s of audio  (decoder prefill {})\n",
                     a["projector"].get<std::string>(), a["params"].get<int64_t>(), a["frame_length"].get<int64_t>(),
                     1e3 * a["seconds_per_second_of_audio"].get<double>(),
                     a["decoder_prefill_seconds"].is_null() ? std::string("n/a")
                                                             : fmt::format("{:.2f} ms", 1e3 * a["decoder_prefill_seconds"].get<double>()));
      }
      return 0;
    }
    std::vector<int64_t> prompt_ids;
    if (!f->tokens.empty()) {
      std::string text = f->tokens;
      if (text[0] == '@') {
        text = read_text_file(text.substr(1));
        for (char& c : text)
          if (c == ' ' || c == '\n' || c == '\r' || c == '\t') c = ',';
        // Separators in a row (a trailing newline, ", ") collapse into one comma.
        std::string squeezed;
        for (char c : text)
          if (c != ',' || (!squeezed.empty() && squeezed.back() != ',')) squeezed += c;
        if (!squeezed.empty() && squeezed.back() == ',') squeezed.pop_back();
        text = squeezed;
      }
      prompt_ids = parse_id_list(text, "--tokens");
      f->prompt = static_cast<int64_t>(prompt_ids.size());
    }
    const auto load_t0 = std::chrono::steady_clock::now();
    // Token ids only: no tokenizer file is needed.
    model::LoadedModel lm = load_from_flags(f->model, /*with_tokenizer=*/false);
    const double load_seconds = seconds_since(load_t0);
    const int64_t load_peak_rss = peak_rss_bytes();  // VmHWM once loaded, before any KV cache
    model::Gemma4Model& m = *lm.model;
    const auto& cfg = m.config().text;
    for (int64_t id : prompt_ids)
      if (id < 0 || id >= cfg.vocab_size) throw_input("--tokens: id {} outside the vocabulary [0, {})", id, cfg.vocab_size);
    model::check_fits_positions(cfg, f->depth + f->prompt, f->gen, "bench");
    model::check_fits_memory(cfg, 1, f->depth + f->prompt, f->gen, 1, c10::elementSize(parse_dtype_flag(f->model.dtype)),
                             "bench");
    const bool exact = !prompt_ids.empty();
    torch::NoGradGuard ng;
    Rng rng(f->model.seed);
    auto random_ids = [&](int64_t n) {
      std::vector<int64_t> ids(n);
      for (auto& id : ids) id = 32 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(cfg.vocab_size - 32)));
      return torch::tensor(ids).view({1, n});
    };
    // The prompt of one repetition: the --tokens ids, else -p fresh random ids.
    auto prompt_tensor = [&]() { return exact ? torch::tensor(prompt_ids).view({1, f->prompt}) : random_ids(f->prompt); };
    // Runs `ids` through the model with `cache` and returns the greedy next token.
    auto step = [&](model::KVCache& cache, const torch::Tensor& ids) {
      auto r = m.text().forward(m.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), cache);
      return m.text().logits(r.hidden.select(1, -1)).argmax(-1).view({1, 1});
    };
    nlohmann::json j = {{"model", lm.source}, {"dtype", f->model.dtype}, {"threads", torch::get_num_threads()},
                        {"load_seconds", load_seconds}, {"load_peak_rss_bytes", load_peak_rss},
                        {"reps", f->reps}, {"cpu", cpu_model_name()}, {"libtorch", libtorch_version()},
                        {"quant_kernel_isa", quant::kernel_isa()}};
    // How the tied head runs: "dense" (the table in the run dtype), the bf16 table's kernel
    // ("bf16-avx512", ...), or a packed table ("q6_k-avx2", ...).
    std::string head = "dense";
    if (auto* bf16_head = dynamic_cast<quant::TiedBf16Head*>(m.text().head.get())) head = bf16_head->path();
    if (auto* packed = dynamic_cast<quant::QuantLinear*>(m.text().head.get())) head = packed->scheme() + "-" + packed->path();
    j["tied_head"] = head;
    // A packed table (read by the packed head too) reports its scheme ("q6_k").
    const model::Embedding& table = *m.text().embed_tokens;
    j["embedding_dtype"] = table.packed() ? table.packed()->scheme() : c10::toString(table.weight.scalar_type());
    if (f->prompt > 0) {
      std::vector<double> tps;
      for (int r = 0; r <= f->reps; ++r) {
        torch::Tensor ids = prompt_tensor();
        model::KVCache cache(cfg, 1, m.dtype());
        auto t0 = std::chrono::steady_clock::now();
        step(cache, ids);
        double s = seconds_since(t0);
        if (r > 0) tps.push_back(f->prompt / s);  // r == 0 is the warm-up
      }
      Stats st = stats(tps);
      j["prefill"] = {{"tokens", f->prompt}, {"tokens_per_s", st.mean}, {"stddev", st.stddev}};
    }
    int64_t kv_bytes = 0;
    // --tokens: the greedy continuation, token 1 from the prefill, tokens 2..n+1 from the decode steps.
    std::vector<int64_t> generated;
    bool deterministic = true;
    if (f->gen > 0) {
      std::vector<double> tps;
      for (int r = 0; r <= f->reps; ++r) {
        model::KVCache cache(cfg, 1, m.dtype());
        torch::Tensor next = step(cache, exact ? prompt_tensor() : random_ids(std::max<int64_t>(1, f->depth)));
        std::vector<int64_t> out = {next.item<int64_t>()};
        auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < f->gen; ++i) {
          next = step(cache, next);
          if (exact) out.push_back(next.item<int64_t>());
        }
        double s = seconds_since(t0);
        if (r > 0) tps.push_back(f->gen / s);
        kv_bytes = cache.bytes();
        if (r > 0 && out != generated) deterministic = false;
        generated = std::move(out);
      }
      Stats st = stats(tps);
      j["decode"] = {{"tokens", f->gen}, {"depth", exact ? f->prompt : f->depth}, {"tokens_per_s", st.mean},
                     {"stddev", st.stddev}, {"ms_per_token", st.mean > 0 ? 1000.0 / st.mean : 0.0}};
      j["kv_cache_bytes"] = kv_bytes;
    } else if (exact && f->prompt > 0) {
      model::KVCache cache(cfg, 1, m.dtype());
      generated = {step(cache, prompt_tensor()).item<int64_t>()};
    }
    if (exact) {
      j["prompt_tokens"] = prompt_ids;
      j["generated"] = generated;
      if (f->gen > 0) j["generated_same_every_rep"] = deterministic;
    }
    if (f->draft.enabled()) {
      nlohmann::json spec = bench_speculative(lm, f->model, f->draft, f->gen, f->depth, f->reps);
      for (auto& [k, v] : spec.items()) j[k] = v;
    }
    int64_t wbytes = decode_weight_bytes(m);
    j["weight_bytes"] = wbytes;
    j["peak_rss_bytes"] = peak_rss_bytes();
    // libgomp's threads spin after every operator unless told not to; on small SMT machines that
    // changes decode speed severalfold (quant/README.md), so the setting travels with the numbers.
    const char* omp_wait = std::getenv("OMP_WAIT_POLICY");
    j["omp_wait_policy"] = omp_wait != nullptr ? omp_wait : "unset";
    if (f->membw) {
      double bw = measure_read_bandwidth(torch::get_num_threads());
      j["membw_bytes_per_s"] = bw;
      double roof = bw / static_cast<double>(wbytes);
      j["roofline_decode_tokens_per_s"] = roof;
      if (j.contains("decode")) j["roofline_fraction"] = j["decode"]["tokens_per_s"].get<double>() / roof;
    }
    if (f->json) {
      print_json(j);
    } else {
      if (j.contains("prefill"))
        fmt::print(stderr, "prefill  pp{:<6} {:10.2f} ± {:.2f} tok/s\n", f->prompt, j["prefill"]["tokens_per_s"].get<double>(),
                   j["prefill"]["stddev"].get<double>());
      if (j.contains("decode"))
        fmt::print(stderr, "decode   tg{:<6} {:10.2f} ± {:.2f} tok/s (depth {})\n", f->gen,
                   j["decode"]["tokens_per_s"].get<double>(), j["decode"]["stddev"].get<double>(), f->depth);
      if (j.contains("draft"))
        fmt::print(stderr, "draft    {} k={}: {:.2f} vs {:.2f} tok/s plain, speedup {}, acceptance {:.3f}, tau {:.3f}\n",
                   f->draft.draft, f->draft.k, j["speculative_decode_tokens_per_s"].get<double>(),
                   j["plain_decode_tokens_per_s"].get<double>(), j["speedup"].dump(), j["acceptance_rate"].get<double>(),
                   j["tau"].get<double>());
      fmt::print(stderr, "weights  {}\n", human_bytes(wbytes));
      fmt::print(stderr, "load     {:.2f} s, peak RSS {}\n", load_seconds, human_bytes(j["peak_rss_bytes"].get<double>()));
      if (exact) fmt::print(stderr, "greedy   {}\n", fmt::join(generated, ","));
      if (f->membw)
        fmt::print(stderr, "membw    {:.2f} GB/s -> roofline {:.2f} tok/s\n", j["membw_bytes_per_s"].get<double>() / 1e9,
                   j["roofline_decode_tokens_per_s"].get<double>());
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
