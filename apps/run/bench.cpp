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
#include "eval/throughput/throughput.h"
#include "model/io/device.h"
#include "model/io/sysinfo.h"
#include "quant/kernels/kernels.h"

#include <fmt/format.h>

#include <algorithm>


namespace g4u::app {
namespace {

struct BenchFlags {
  ModelFlags model;
  int64_t prompt = 512, gen = 128, depth = 0;
  int reps = 5;
  std::string tokens;  // exact prompt ids ("1,2,3" or "@file"); empty: -p random ids
  std::string contexts;  // "1024,8192": prefill and decode at each length on one load
  std::string k_sweep;   // "1,2,4": --draft measured at each fixed k on one load
  std::string variant;  // name for `g4u report --bench`
  bool membw = false, json = false, embedders = false;
  DraftFlags draft;
};

Command bench_cmd("bench", "Prefill and decode throughput (llama-bench style)", [](CLI::App& sub) {
  auto f = std::make_shared<BenchFlags>();
  add_model_flags(sub, f->model);
  add_quant_flag(sub, f->model);
  sub.add_option("-p,--prompt-tokens", f->prompt, "Prefill length (0: skip)")->capture_default_str();
  sub.add_option("-n,--gen-tokens", f->gen, "Decoded tokens (0: skip)")->capture_default_str();
  CLI::Option* depth =
      sub.add_option("-d,--depth", f->depth, "Context already in the cache before decoding")->capture_default_str();
  CLI::Option* tokens =
      sub.add_option("--tokens", f->tokens,
                     "Exact prompt token ids, comma-separated or @file (ids separated by commas or whitespace): prefill "
                     "runs them instead of -p random ids, decode continues greedily from them, and the output lists the "
                     "generated tokens")
          ->excludes(depth);
  sub.add_option("--contexts", f->contexts,
                 "Context lengths measured on one load, comma-separated (e.g. 1024,8192,32768): for each C a prefill of "
                 "C tokens and -n decode steps after C tokens, written as \"contexts\": [...] (in increasing order, so "
                 "each entry's peak_cuda_bytes is its own); replaces -p and -d")
      ->excludes(depth)
      ->excludes(tokens);
  sub.add_option("--k-sweep", f->k_sweep,
                 "With --draft: draft lengths measured on one load, comma-separated (e.g. 1,2,4,8), each as --k K "
                 "--k-schedule fixed at depth -d, written as \"k_sweep\": [...] with each round's cost and the "
                 "break-even acceptance; replaces the single --k run");
  sub.add_option("--reps", f->reps, "Repetitions (after one warm-up)")->capture_default_str();
  sub.add_flag("--membw", f->membw, "Also measure memory read bandwidth and the decode roofline");
  add_draft_flags(sub, f->draft);
  sub.add_flag("--embedders", f->embedders,
               "Latency of every vision/audio projector variant (per image at each budget, per second of audio) "
               "beside the decoder's prefill of as many tokens, in --dtype on --device; works for gemma4-12b too (on a CPU its embedders only)");
  sub.add_option("--variant", f->variant, "Name of the measured variant, for `g4u report --bench` (written as \"variant\")");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    if (f->prompt < 0 || f->gen < 0 || f->depth < 0) throw_input("-p, -n and -d must be >= 0");
    if (f->reps < 1) throw_input("--reps {}: must be >= 1", f->reps);
    if (f->embedders) {
      if (f->model.threads > 0) set_compute_threads(f->model.threads);
      if (!f->model.quant.empty()) throw_input("--quant {}: not with --embedders (the embedders stay dense)", f->model.quant);
      const torch::Device device = model::parse_device(f->model.device);
      const torch::ScalarType dtype = parse_dtype_flag(f->model.dtype);
      model::ModelConfig c = resolve_model_config(f->model.model);
      // The 12B's decoder does not fit a CPU benchmark (its embedders do); it fits a GPU.
      bool decoder = !device.is_cpu() || model::count_params(model::model_tensor_specs(c))["total"] < 2'000'000'000LL;
      nlohmann::json j = bench_embedders(c, f->reps, decoder, f->model.seed, dtype, device);
      j["model"] = f->model.model;
      j["threads"] = torch::get_num_threads();
      j["dtype"] = f->model.dtype;
      j["device"] = model::describe_device(device);
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
    std::vector<int64_t> contexts, ks;
    if (!f->contexts.empty()) {
      contexts = parse_id_list(f->contexts, "--contexts");
      for (int64_t c : contexts)
        if (c < 1) throw_input("--contexts {}: every length must be >= 1", f->contexts);
      std::sort(contexts.begin(), contexts.end());
      f->prompt = 0;  // measured per context below
    }
    if (!f->k_sweep.empty()) {
      if (!f->draft.enabled()) throw_input("--k-sweep {}: needs --draft", f->k_sweep);
      ks = parse_id_list(f->k_sweep, "--k-sweep");
      for (int64_t k : ks)
        if (k < 1) throw_input("--k-sweep {}: every draft length must be >= 1", f->k_sweep);
    }
    throughput::ThroughputOptions o;
    o.prompt = f->prompt;
    o.gen = f->gen;
    o.depth = f->depth;
    o.reps = f->reps;
    o.seed = f->model.seed;
    o.prompt_ids = prompt_ids;
    if (!contexts.empty()) o.gen = 0;  // measured per context below
    // Token ids only: no tokenizer file is needed.
    throughput::ThroughputRun run =
        throughput::measure_throughput([&]() { return load_from_flags(f->model, /*with_tokenizer=*/false); }, o);
    model::LoadedModel& lm = run.model;
    nlohmann::json& j = run.report;
    j["dtype"] = f->model.dtype;
    j["quant"] = f->model.quant.empty() ? nlohmann::json(nullptr) : nlohmann::json(f->model.quant);
    j["kernel_isa"] = quant::kernel_isa();  // what packed weights ran on (G4U_KERNEL_ISA can narrow it)
    if (!f->variant.empty()) j["variant"] = f->variant;
    const bool exact = !prompt_ids.empty();
    std::vector<int64_t> generated;
    if (exact) generated = j["generated"].get<std::vector<int64_t>>();
    if (!contexts.empty()) {
      j["contexts"] = nlohmann::json::array();
      for (int64_t c : contexts) {
        throughput::ThroughputOptions oc = o;
        oc.prompt = c;
        oc.depth = c;
        oc.gen = f->gen;
        nlohmann::json r = throughput::measure_loaded(lm, oc);
        nlohmann::json entry = {{"context", c}, {"peak_cuda_bytes", r["peak_cuda_bytes"]}};
        for (const char* key : {"prefill", "decode", "kv_cache_bytes"})
          if (r.contains(key)) entry[key] = r[key];
        j["contexts"].push_back(entry);
      }
      j["peak_cuda_bytes"] = j["contexts"].back()["peak_cuda_bytes"];
    }
    if (!ks.empty()) {
      j["k_sweep"] = nlohmann::json::array();
      for (int64_t k : ks) {
        DraftFlags at_k = f->draft;
        at_k.k = k;
        at_k.schedule = "fixed";
        j["k_sweep"].push_back(bench_speculative(lm, f->model, at_k, f->gen, f->depth, f->reps));
      }
    } else if (f->draft.enabled()) {
      nlohmann::json spec = bench_speculative(lm, f->model, f->draft, f->gen, f->depth, f->reps);
      for (auto& [k, v] : spec.items()) j[k] = v;
    }
    const int64_t wbytes = j["weight_bytes"].get<int64_t>();
    j["peak_rss_bytes"] = peak_rss_bytes();  // the drafter's run included
    const ResidentBreakdown resident = resident_breakdown();
    j["resident_at_end"] = {{"anonymous_bytes", resident.anonymous_bytes},
                            {"shared_library_bytes", resident.shared_library_bytes},
                            {"libtorch_bytes", resident.libtorch_bytes},
                            {"shared_libraries", resident.shared_libraries},
                            {"other_file_bytes", resident.other_file_bytes}};
    if (f->membw) {
      // Where the weights are read from: host memory on the CPU, the GPU's own memory on a GPU.
      const torch::Device device = lm.model->device();
      double bw = device.is_cpu() ? measure_read_bandwidth(torch::get_num_threads())
                                  : model::measure_device_read_bandwidth(device);
      j["membw_bytes_per_s"] = bw;
      double roof = bw / static_cast<double>(wbytes);
      j["roofline_decode_tokens_per_s"] = roof;
      if (j.contains("decode")) j["roofline_fraction"] = j["decode"]["tokens_per_s"].get<double>() / roof;
      if (j.contains("contexts"))
        for (auto& c : j["contexts"])
          if (c.contains("decode")) c["roofline_fraction"] = c["decode"]["tokens_per_s"].get<double>() / roof;
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
      for (const auto& c : j.value("contexts", nlohmann::json::array()))
        fmt::print(stderr, "context  {:<7}  prefill {:10.2f} tok/s, decode {:10.2f} tok/s\n", c["context"].get<int64_t>(),
                   c["prefill"]["tokens_per_s"].get<double>(),
                   c.contains("decode") ? c["decode"]["tokens_per_s"].get<double>() : 0.0);
      for (const auto& s : j.value("k_sweep", nlohmann::json::array()))
        fmt::print(stderr, "k-sweep  k={:<3} round = {:.2f} plain steps (draft {:.2f} ms, verify {:.2f} ms), break-even "
                           "acceptance {}\n",
                   s["k"].get<int64_t>(), s.value("round_cost_in_plain_steps", 0.0),
                   1e3 * s.value("draft_seconds_per_round", 0.0), 1e3 * s.value("verify_seconds_per_round", 0.0),
                   s.contains("break_even_acceptance") ? s["break_even_acceptance"].dump() : "n/a");
      if (j.contains("draft"))
        fmt::print(stderr, "draft    {} k={}: {:.2f} vs {:.2f} tok/s plain, speedup {}, acceptance {:.3f}, tau {:.3f}\n",
                   f->draft.draft, f->draft.k, j["speculative_decode_tokens_per_s"].get<double>(),
                   j["plain_decode_tokens_per_s"].get<double>(), j["speedup"].dump(), j["acceptance_rate"].get<double>(),
                   j["tau"].get<double>());
      fmt::print(stderr, "weights  {}\n", human_bytes(wbytes));
      fmt::print(stderr, "load     {:.2f} s, peak RSS {}\n", j["load_seconds"].get<double>(), human_bytes(j["peak_rss_bytes"].get<double>()));
      fmt::print(stderr, "resident {} in mapped files (checkpoint, executable), {} in {} shared libraries ({} LibTorch's), {} anonymous\n",
                 human_bytes(static_cast<double>(resident.other_file_bytes)),
                 human_bytes(static_cast<double>(resident.shared_library_bytes)), resident.shared_libraries,
                 human_bytes(static_cast<double>(resident.libtorch_bytes)), human_bytes(static_cast<double>(resident.anonymous_bytes)));
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
