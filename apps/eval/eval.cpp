// g4u eval: one model variant over a manifest -> <out>/samples.jsonl (resumable) + results.json.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/draft_flags.h"
#include "apps/flags/model_flags.h"
#include "datasets/manifest/shard.h"
#include "base/error.h"
#include "eval/runner/runner.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace g4u::app {
namespace {

struct EvalFlags {
  ModelFlags model;
  runner::EvalOptions opt;
  DraftFlags draft;
  std::string tasks, shard = "0/1";
  bool json = false;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(',', pos);
    std::string item = s.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    if (item.empty()) throw_input("--tasks '{}': empty task name", s);
    out.push_back(item);
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

void print_human(const runner::EvalRun& r) {
  const auto& v = r.results["variants"][0];
  fmt::print(stderr, "{}: {} samples ({} resumed from the log, {} generated now) -> {}\n", v["name"].get<std::string>(),
             r.selected, r.resumed, r.generated, r.results_path);
  auto num = [](const nlohmann::json& x) { return x.is_number() ? fmt::format("{:.4g}", x.get<double>()) : std::string("n/a"); };
  for (const auto& t : v["tasks"]) {
    std::string ci = t["ci95"].is_array() ? fmt::format("[{}, {}]", num(t["ci95"][0]), num(t["ci95"][1])) : "n/a";
    fmt::print(stderr, "  {:<20} {:<16} n={:<5} score={} ci95={} parse_failures={}\n", t["key"].get<std::string>(),
               t["metric"].get<std::string>(), t["n"].get<int64_t>(), num(t["score"]), ci,
               t["parse_failures"].get<int64_t>());
  }
  const auto& lat = v["latency"];
  fmt::print(stderr, "  ttft p50 {} s, per-token p50/p90/p99 {}/{}/{} s, prefill {} tok/s, decode {} tok/s\n",
             num(lat["ttft_s"]["p50"]), num(lat["per_token_s"]["p50"]), num(lat["per_token_s"]["p90"]),
             num(lat["per_token_s"]["p99"]), num(lat["prefill_tokens_per_s"]), num(lat["decode_tokens_per_s"]));
  if (v.contains("speculative") && v["speculative"].is_object()) {
    const auto& sp = v["speculative"];
    fmt::print(stderr, "  speculative ({} k={}): {} of {} samples equal to plain greedy{}, acceptance {}, tau {}, decode {} vs {} "
                       "tok/s plain, speedup {}\n",
               v["drafter"]["draft"].get<std::string>(), v["drafter"]["k"].get<int64_t>(),
               sp["checked"].get<int64_t>() - sp["mismatches"].get<int64_t>(), sp["checked"].get<int64_t>(),
               sp["lossless"].get<bool>() ? "" : " (NOT LOSSLESS)", num(sp["acceptance_rate"]), num(sp["tau"]),
               num(sp["speculative_decode_tokens_per_s"]), num(sp["plain_decode_tokens_per_s"]), num(sp["speedup"]));
  }
}

Command eval_cmd("eval", "Evaluate a model variant on a manifest (resumable, shardable) -> samples.jsonl + results.json",
                 [](CLI::App& sub) {
  auto f = std::make_shared<EvalFlags>();
  runner::EvalOptions& o = f->opt;
  add_model_flags(sub, f->model);
  sub.add_option("--data", o.data, "Manifest (manifest.jsonl; datasets/README.md)")->required();
  sub.add_option("--out", o.out, "Output folder: run.json, samples.jsonl, results.json (rerun to resume)")->required();
  sub.add_option("--tasks,--task", f->tasks, "Comma-separated task names (default: every task in the manifest)");
  sub.add_option("--limit", o.limit, "Only the first N selected samples (manifest order; -1: all)")->capture_default_str();
  sub.add_option("--batch", o.batch, "Samples per generate() call (same task, left-padded)")->capture_default_str();
  sub.add_option("--shard", f->shard, "Shard i/N of the samples, by id hash (datasets/manifest/shard.h)")->capture_default_str();
  sub.add_option("--variant", o.variant, "Variant name in results and reports (default: the model name)");
  sub.add_option("--group", o.group,
                 "Replicate group (e.g. one projector design trained with several seeds): g4u report pools the "
                 "variants of a group");
  sub.add_option("--max-new-tokens", o.max_new_tokens, "Cap on new tokens for every task (0: each task's own)")
      ->capture_default_str();
  sub.add_option("--budget", o.budget, "Soft tokens per image (0: the model default)")->capture_default_str();
  sub.add_option("--placement", o.placement, "Media placement: before-text (lmms-eval) or interleaved (VLMEvalKit)")
      ->capture_default_str();
  sub.add_option("--system", o.system_prompt, "System message for every sample");
  sub.add_flag("--thinking", o.thinking, "Enable the thinking channel (<|think|>)");
  sub.add_option("--thinking-budget", o.thinking_budget,
                 "With --thinking: new tokens allowed for the thought beyond each task's (capped) max_new_tokens")
      ->capture_default_str();
  sub.add_option("--vision-mask", o.vision_mask, "sliding | all-layers | causal (see g4u generate)")->capture_default_str();
  sub.add_option("--warmup", o.warmup, "Unlogged warm-up generations before timing")->capture_default_str();
  sub.add_flag("--skip-invalid", o.skip_invalid, "Skip (and count) invalid manifest lines instead of stopping");
  sub.add_option("--spellings", o.scoring.spellings, "UK->US spelling map for the whisper-en normalizer");
  sub.add_option("--reasoning-tags", o.scoring.reasoning, "Reasoning trace stripped before scoring")->capture_default_str();
  sub.add_option("--bootstrap-samples", o.scoring.bootstrap_samples, "Bootstrap resamples (corpus metrics)")
      ->capture_default_str();
  sub.add_option("--bootstrap-seed", o.scoring.bootstrap_seed, "Bootstrap seed")->capture_default_str();
  // --draft: speculative decoding beside the plain run (needs --batch 1); losslessness, acceptance
  // and speedup per task in results.json ("speculative") and speculative.jsonl.
  add_draft_flags(sub, f->draft);
  sub.add_flag("--json", f->json, "Print results.json on stdout");
  return [f]() -> int {
    runner::EvalOptions o = f->opt;
    o.model = f->model.model;
    o.dtype = f->model.dtype;
    o.seed = f->model.seed;
    o.threads = f->model.threads;
    parse_dtype_flag(o.dtype);
    if (!f->tasks.empty()) o.tasks = split_commas(f->tasks);
    o.shard = datasets::parse_shard(f->shard, "--shard");
    bool tty = ::isatty(STDERR_FILENO);
    o.log = [tty](const std::string& line) {
      if (tty || line.rfind("warning", 0) == 0 || line.find("torn") != std::string::npos)
        fmt::print(stderr, "{}\n", line);
    };
    ModelFlags mf = f->model;
    if (f->draft.enabled()) {
      o.draft = {f->draft.draft, f->draft.k, f->draft.schedule, f->draft.k_max, f->draft.draft_quant};
      const DraftFlags df = f->draft;
      o.load_drafter = [df, mf](model::LoadedModel& target) { return load_drafter_from_flags(df, target, mf); };
    }
    runner::EvalRun r = runner::run_eval(o, [mf]() { return load_from_flags(mf); });
    if (f->json) print_json(r.results);
    else print_human(r);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
