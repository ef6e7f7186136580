// g4u train-drafter: distils a drafter (Gemma 4 assistant, MTP module or Medusa heads) from a frozen
// target (experiments/drafter_trainer.h) and saves it as a checkpoint that `--draft <dir>` loads. Data: the
// lines of a text file (target tokenizer), or by default sequences sampled from the target itself
// (temperature 1), so the drafter learns exactly what the target generates. Reports greedy
// acceptance on held-out random prompts before and after training.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/draft_flags.h"
#include "apps/flags/model_flags.h"
#include "apps/flags/prompt_flags.h"
#include "experiments/drafter_trainer.h"
#include "base/error.h"
#include "base/json_util.h"
#include "base/rng.h"
#include "model/mtp/speculative.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace g4u::app {
namespace {

struct TrainDrafterFlags {
  ModelFlags model;
  std::string draft, out, data, prompts;
  bool raw_prompts = false;
  double sample_temperature = 1.0;
  int64_t samples = 256, sample_len = 0, steps = 200, batch = 8, seq_len = 64, unroll = 2, warmup = 10;
  double lr = 1e-3, weight_decay = 0.0, grad_clip = 1.0, min_lr_ratio = 0.1;
  int64_t eval_prompts = 8, eval_tokens = 32, eval_k = 4;
  bool no_init = false, json = false;
};

// Random prompts of 4 non-special ids (the byte tokenizer's specials sit below 32).
// Drawn without modulo bias (base/rng.h), so they are the same on every platform.
std::vector<std::vector<int64_t>> random_prompts(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int64_t>> out(n, std::vector<int64_t>(4));
  const int64_t lo = vocab > 64 ? 32 : 0;
  for (auto& p : out)
    for (auto& id : p) id = lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(vocab - lo)));
  return out;
}

nlohmann::json evaluate(model::Gemma4Model& target, model::Drafter& drafter, const TrainDrafterFlags& f) {
  model::SpeculativeOptions so;
  so.max_new_tokens = f.eval_tokens;
  so.k = f.eval_k;
  so.use_config_stop_ids = false;
  model::SpeculativeStats total;
  for (const auto& prompt : random_prompts(f.eval_prompts, target.config().text.vocab_size, f.model.seed ^ 0xe7a1ULL))
    total.add(model::speculative_generate(target, drafter, prompt, so).stats);
  nlohmann::json j = model::acceptance_json(total);
  j["prompts"] = f.eval_prompts;
  j["tokens_per_prompt"] = f.eval_tokens;
  j["k"] = f.eval_k;
  return j;
}

Command train_drafter_cmd("train-drafter", "Distil a drafter (assistant, MTP, Medusa) from a frozen target", [](CLI::App& sub) {
  auto f = std::make_shared<TrainDrafterFlags>();
  add_model_flags(sub, f->model);
  sub.add_option("--draft", f->draft, "Drafter preset or checkpoint directory to start from")->required();
  sub.add_option("--out", f->out, "Output checkpoint directory")->required();
  sub.add_option("--data", f->data, "Text file, one training sequence per non-empty line (default: sample the target)");
  sub.add_option("--prompts", f->prompts,
                 "Text file, one user message per non-empty line: train on prompt + the target's own sampled "
                 "continuation (self-distillation on real prompts; default: random 4-token prompts)");
  sub.add_flag("--raw-prompts", f->raw_prompts, "--prompts lines are raw text after <bos> (no chat template)");
  sub.add_option("--sample-temperature", f->sample_temperature, "Temperature of the target's continuations")
      ->capture_default_str();
  sub.add_option("--samples", f->samples, "Sequences sampled from the target when no --data")->capture_default_str();
  sub.add_option("--sample-len", f->sample_len, "Tokens per sampled sequence (0: --seq-len)")->capture_default_str();
  sub.add_option("--steps", f->steps, "Optimizer steps")->capture_default_str();
  sub.add_option("--batch", f->batch, "Sequences per step")->capture_default_str();
  sub.add_option("--seq-len", f->seq_len, "Longest training window")->capture_default_str();
  sub.add_option("--unroll", f->unroll, "Draft steps trained per position")->capture_default_str();
  sub.add_option("--lr", f->lr, "AdamW learning rate")->capture_default_str();
  sub.add_option("--warmup", f->warmup, "Linear warm-up steps (then cosine decay)")->capture_default_str();
  sub.add_option("--min-lr-ratio", f->min_lr_ratio, "Cosine decay ends at this fraction of --lr")->capture_default_str();
  sub.add_option("--weight-decay", f->weight_decay, "AdamW weight decay")->capture_default_str();
  sub.add_option("--grad-clip", f->grad_clip, "Gradient norm clip (0: off)")->capture_default_str();
  sub.add_option("--eval-prompts", f->eval_prompts, "Held-out random prompts for the acceptance check (0: skip)")
      ->capture_default_str();
  sub.add_option("--eval-tokens", f->eval_tokens, "Tokens generated per evaluation prompt")->capture_default_str();
  sub.add_option("--eval-k", f->eval_k, "Draft length of the evaluation")->capture_default_str();
  sub.add_flag("--no-init", f->no_init, "Skip the drafter's init from the target (Medusa: copy of the head)");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    if (f->steps < 0 || f->batch < 1 || f->seq_len < 2 || f->unroll < 1 || !(f->lr > 0) || f->min_lr_ratio < 0 || f->min_lr_ratio > 1 || f->samples < 1 ||
        f->sample_len < 0 || f->eval_prompts < 0 || f->eval_tokens < 2 || f->eval_k < 1)
      throw_input("train-drafter: --steps >= 0, --batch >= 1, --seq-len >= 2, --unroll >= 1, --lr > 0, --samples >= 1, "
                  "0 <= --min-lr-ratio <= 1, --eval-tokens >= 2, --eval-k >= 1 required");
    ModelFlags mf = f->model;
    if (mf.dtype != "fp32" && mf.dtype != "float32") throw_input("--dtype {}: drafter training runs in fp32", mf.dtype);
    model::LoadedModel lm = load_from_flags(mf);
    model::Gemma4Model& target = *lm.model;
    DraftFlags df;
    df.draft = f->draft;
    std::shared_ptr<model::Drafter> drafter = load_drafter_from_flags(df, lm, mf);
    const auto& tc = target.config().text;

    // The training sequences.
    std::vector<std::vector<int64_t>> pool;
    std::string source;
    if (!f->data.empty() && !f->prompts.empty()) throw_input("--data and --prompts exclude each other");
    if (!f->data.empty()) {
      std::istringstream in(read_text_file(f->data));
      std::string line;
      while (std::getline(in, line))
        if (!line.empty()) {
          std::vector<int64_t> ids = lm.tokenizer->encode(line);
          if (ids.size() >= 2) pool.push_back(std::move(ids));
        }
      if (pool.empty()) throw_input("{}: no line encodes to 2 or more tokens", f->data);
      source = f->data;
    } else {
      const int64_t len = f->sample_len > 0 ? f->sample_len : f->seq_len;
      model::GenerateOptions go;
      go.max_new_tokens = f->prompts.empty() ? len - 4 : len;
      go.use_config_stop_ids = false;
      if (!(f->sample_temperature >= 0)) throw_input("--sample-temperature {}: must be >= 0", f->sample_temperature);
      go.sampling.temperature = f->sample_temperature;
      std::vector<std::vector<int64_t>> prompts;
      if (!f->prompts.empty()) {
        // Real prompts (chat-formatted unless --raw-prompts), cycled up to --samples sequences; the
        // continuation stops at an end-of-turn/eos id like generate does.
        std::istringstream in(read_text_file(f->prompts));
        std::string line;
        std::vector<std::vector<int64_t>> lines;
        while (std::getline(in, line))
          if (!line.empty()) {
            PromptFlags pf;
            pf.prompt = line;
            pf.raw = f->raw_prompts;
            lines.push_back(build_prompt(lm, pf).input_ids);
          }
        if (lines.empty()) throw_input("{}: no prompt lines", f->prompts);
        for (int64_t i = 0; i < f->samples; ++i) prompts.push_back(lines[i % lines.size()]);
        go.use_config_stop_ids = true;
      } else {
        prompts = random_prompts(f->samples, tc.vocab_size, mf.seed ^ 0xda7aULL);
      }
      for (size_t b = 0; b < prompts.size(); b += 32) {
        std::vector<std::vector<int64_t>> chunk(prompts.begin() + b, prompts.begin() + std::min(prompts.size(), b + 32));
        go.sampling.seed = mf.seed + b;
        model::GenerateResult r = model::generate(target, chunk, go);
        for (size_t i = 0; i < chunk.size(); ++i) {
          std::vector<int64_t> s = chunk[i];
          s.insert(s.end(), r.tokens[i].begin(), r.tokens[i].end());
          pool.push_back(std::move(s));
        }
      }
      source = fmt::format("{} sequences: {} prompts + up to {} tokens sampled from the target (temperature {})",
                           pool.size(), f->prompts.empty() ? std::string("random 4-token") : f->prompts, len,
                           f->sample_temperature);
    }
    // Endless shuffled epochs over the pool.
    Rng rng(mf.seed ^ 0x5eedULL);
    std::vector<size_t> order;
    size_t pos = 0;
    experiments::TokenSequenceSource data = [&]() -> std::optional<std::vector<int64_t>> {
      if (pos == order.size()) {
        order.resize(pool.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        rng.shuffle(order);
        pos = 0;
      }
      return pool[order[pos++]];
    };

    nlohmann::json before = f->eval_prompts ? evaluate(target, *drafter, *f) : nlohmann::json(nullptr);
    experiments::DrafterTrainOptions o;
    o.steps = f->steps;
    o.batch_size = f->batch;
    o.seq_len = f->seq_len;
    o.unroll = f->unroll;
    o.lr = f->lr;
    o.warmup = f->warmup;
    o.min_lr_ratio = f->min_lr_ratio;
    o.weight_decay = f->weight_decay;
    o.grad_clip = f->grad_clip;
    o.init_from_target = !f->no_init;
    o.on_log = [&](const experiments::DrafterTrainLog& l) {
      fmt::print(stderr, "step {:5d}  lr {:.2e}  loss {:.4f}  kl [{:.4f}]  top1 [{:.3f}]  {:.1f} s\n", l.step, l.lr,
                 l.stats.loss, fmt::join(l.stats.kl, ", "), fmt::join(l.stats.top1, ", "), l.seconds);
    };
    experiments::DrafterTrainResult tr = experiments::train_drafter(target, *drafter, data, o);
    model::save_drafter(*drafter, f->out, torch::kFloat32);
    nlohmann::json after = f->eval_prompts ? evaluate(target, *drafter, *f) : nlohmann::json(nullptr);

    nlohmann::json log = nlohmann::json::array();
    for (const auto& l : tr.log)
      log.push_back({{"step", l.step}, {"lr", l.lr}, {"loss", l.stats.loss}, {"kl", l.stats.kl}, {"top1", l.stats.top1},
                     {"tokens", l.tokens}, {"seconds", l.seconds}});
    const int64_t params = drafter->parameter_count();
    nlohmann::json j = {{"model", lm.source},       {"draft", f->draft},   {"draft_kind", drafter->kind()},
                        {"draft_params", params},   {"out", f->out},       {"data", source},
                        {"steps", tr.steps},        {"tokens", tr.tokens}, {"seconds", tr.seconds},
                        {"unroll", f->unroll},      {"log", log},          {"eval_before", before},
                        {"eval_after", after}};
    if (f->json) print_json(j);
    else {
      fmt::print(stderr, "saved {} ({} params) after {} steps, {} tokens, {:.1f} s\n", f->out, params, tr.steps,
                 tr.tokens, tr.seconds);
      if (!before.is_null())
        fmt::print(stderr, "greedy acceptance {:.3f} -> {:.3f}, tau {:.3f} -> {:.3f} (k={}, bonus token included)\n",
                   before["acceptance_rate"].get<double>(), after["acceptance_rate"].get<double>(),
                   before["tau"].get<double>(), after["tau"].get<double>(), f->eval_k);
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
