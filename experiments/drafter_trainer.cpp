#include "experiments/drafter_trainer.h"

#include "base/error.h"
#include "base/json_util.h"
#include "base/rng.h"
#include "datasets/manifest/manifest.h"
#include "datasets/prompt/prompt.h"
#include "experiments/adamw.h"
#include "model/io/sysinfo.h"
#include "model/multimodal/prompt.h"
#include "model/mtp/speculative.h"
#include "model/text/chat.h"
#include "model/text/generate.h"

#include <fmt/format.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>

namespace g4u::experiments {
namespace fs = std::filesystem;
namespace {

// Sets requires_grad(false) on the target for the lifetime of the guard.
class FreezeGuard {
 public:
  explicit FreezeGuard(torch::nn::Module& m) {
    for (auto& p : m.parameters()) {
      saved_.emplace_back(p, p.requires_grad());
      p.requires_grad_(false);
    }
  }
  ~FreezeGuard() {
    for (auto& [p, r] : saved_) p.requires_grad_(r);
  }

 private:
  std::vector<std::pair<torch::Tensor, bool>> saved_;
};

// Cuts the sequences of `data` into windows of at most `seq_len` tokens (each of 2 or more).
class Windows {
 public:
  Windows(const TokenSequenceSource& data, int64_t seq_len) : data_(data), seq_len_(static_cast<size_t>(seq_len)) {}

  std::optional<std::vector<int64_t>> next() {
    while (pending_.empty() && !exhausted_) {
      auto s = data_();
      if (!s) {
        exhausted_ = true;
        break;
      }
      for (size_t off = 0; off + 1 < s->size(); off += seq_len_) {
        size_t end = std::min(s->size(), off + seq_len_);
        if (end - off >= 2) pending_.emplace_back(s->begin() + off, s->begin() + end);
      }
    }
    if (pending_.empty()) return std::nullopt;
    auto s = std::move(pending_.front());
    pending_.pop_front();
    return s;
  }

 private:
  const TokenSequenceSource& data_;
  size_t seq_len_;
  std::deque<std::vector<int64_t>> pending_;
  bool exhausted_ = false;
};

// Random prompts of 4 non-special ids (the byte tokenizer's specials sit below 32), drawn without
// modulo bias (base/rng.h), so they are the same on every platform.
std::vector<std::vector<int64_t>> random_prompts(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int64_t>> out(n, std::vector<int64_t>(4));
  const int64_t lo = vocab > 64 ? 32 : 0;
  for (auto& prompt : out)
    for (auto& id : prompt) id = lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(vocab - lo)));
  return out;
}

// Greedy speculative decoding of held-out random prompts: the acceptance metrics over all of them.
nlohmann::json evaluate_acceptance(model::Gemma4Model& target, model::Drafter& drafter, const DrafterTrainOptions& o) {
  model::SpeculativeOptions so;
  so.max_new_tokens = o.eval_tokens;
  so.k = o.eval_k;
  so.use_config_stop_ids = false;
  model::SpeculativeStats total;
  for (const auto& prompt : random_prompts(o.eval_prompts, target.config().text.vocab_size, o.seed ^ 0xe7a1ULL))
    total.add(model::speculative_generate(target, drafter, prompt, so).stats);
  nlohmann::json j = model::acceptance_json(total);
  j["prompts"] = o.eval_prompts;
  j["tokens_per_prompt"] = o.eval_tokens;
  j["k"] = o.eval_k;
  return j;
}

std::vector<std::string> non_empty_lines(const std::string& path) {
  std::istringstream in(read_text_file(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// --data: every non-empty line of 2 or more tokens.
std::vector<std::vector<int64_t>> sequences_of_text_file(const model::LoadedModel& lm, const std::string& path) {
  std::vector<std::vector<int64_t>> pool;
  for (const auto& line : non_empty_lines(path)) {
    std::vector<int64_t> ids = lm.tokenizer->encode(line);
    if (ids.size() >= 2) pool.push_back(std::move(ids));
  }
  if (pool.empty()) throw_input("{}: no line encodes to 2 or more tokens", path);
  return pool;
}

// --prompts: one user message per non-empty line, chat-formatted as `g4u generate --prompt` does
// (or, raw, the text after <bos>); a manifest (.jsonl): each sample's prompt exactly as `g4u eval`
// and `g4u train` render it (datasets::build_chat), text-only samples.
std::vector<std::vector<int64_t>> prompts_of_file(const model::LoadedModel& lm, const std::string& path, bool raw) {
  std::vector<std::vector<int64_t>> prompts;
  if (fs::path(path).extension() == ".jsonl") {
    if (raw) throw_input("--raw-prompts: {} is a manifest; its prompts are chat-formatted by their task", path);
    for (const datasets::Sample& s : datasets::read_manifest(path)) {
      std::vector<model::ChatMessage> msgs = datasets::build_chat(s);
      for (const auto& m : msgs)
        for (const auto& item : m.content)
          if (item.kind != model::ChatItem::Kind::kText)
            throw_input("{}: the sample has media; drafters are distilled on text prompts (give a manifest of text tasks)",
                        s.where);
      prompts.push_back(model::expand_placeholders(lm.tokenizer->encode(model::render_chat(msgs)), lm.model->config(), {}, {}, s.where)
                            .input_ids);
    }
    if (prompts.empty()) throw_input("{}: no samples", path);
    return prompts;
  }
  for (const auto& line : non_empty_lines(path)) {
    const std::string text = raw ? "<bos>" + line : model::render_chat({model::ChatMessage::plain("user", line)});
    prompts.push_back(model::expand_placeholders(lm.tokenizer->encode(text), lm.model->config(), {}, {}, path).input_ids);
  }
  if (prompts.empty()) throw_input("{}: no prompt lines", path);
  return prompts;
}

struct TrainingSequences {
  std::vector<std::vector<int64_t>> pool;
  std::string source;  // the report's "data"
};

// Prompts (--prompts cycled up to --samples, or random 4-token ones) continued by the target,
// sampled at --sample-temperature in chunks of 32.
TrainingSequences sampled_sequences(const model::LoadedModel& lm, const DrafterTrainOptions& o) {
  const int64_t len = o.sample_len > 0 ? o.sample_len : o.seq_len;
  model::GenerateOptions go;
  go.max_new_tokens = o.prompts.empty() ? len - 4 : len;
  go.use_config_stop_ids = false;
  go.sampling.temperature = o.sample_temperature;
  std::vector<std::vector<int64_t>> prompts;
  if (!o.prompts.empty()) {
    // Continuations of real prompts stop at an end-of-turn/eos id as generate's do.
    std::vector<std::vector<int64_t>> lines = prompts_of_file(lm, o.prompts, o.raw_prompts);
    for (int64_t i = 0; i < o.samples; ++i) prompts.push_back(lines[i % lines.size()]);
    go.use_config_stop_ids = true;
  } else {
    prompts = random_prompts(o.samples, lm.model->config().text.vocab_size, o.seed ^ 0xda7aULL);
  }
  TrainingSequences out;
  for (size_t b = 0; b < prompts.size(); b += 32) {
    std::vector<std::vector<int64_t>> chunk(prompts.begin() + b, prompts.begin() + std::min(prompts.size(), b + 32));
    go.sampling.seed = o.seed + b;
    model::GenerateResult r = model::generate(*lm.model, chunk, go);
    for (size_t i = 0; i < chunk.size(); ++i) {
      std::vector<int64_t> s = chunk[i];
      s.insert(s.end(), r.tokens[i].begin(), r.tokens[i].end());
      out.pool.push_back(std::move(s));
    }
  }
  out.source = fmt::format("{} sequences: {} prompts + up to {} tokens sampled from the target (temperature {})",
                           out.pool.size(), o.prompts.empty() ? std::string("random 4-token") : o.prompts, len,
                           o.sample_temperature);
  return out;
}

// Endless epochs over `pool` (which must outlive the source), each in a fresh shuffled order.
TokenSequenceSource shuffled_epochs(const std::vector<std::vector<int64_t>>& pool, uint64_t seed) {
  struct Epochs {
    Rng rng;
    std::vector<size_t> order;
    size_t next = 0;
  };
  auto epochs = std::make_shared<Epochs>(Epochs{Rng(seed), {}, 0});
  return [&pool, epochs]() -> std::optional<std::vector<int64_t>> {
    if (epochs->next == epochs->order.size()) {
      epochs->order.resize(pool.size());
      std::iota(epochs->order.begin(), epochs->order.end(), size_t{0});
      epochs->rng.shuffle(epochs->order);
      epochs->next = 0;
    }
    return pool[epochs->order[epochs->next++]];
  };
}

void print_log_line(const DrafterTrainLog& l) {
  fmt::print(stderr, "step {:5d}  lr {:.2e}  loss {:.4f}  kl [{:.4f}]  top1 [{:.3f}]  {:.1f} s\n", l.step, l.lr,
             l.stats.loss, fmt::join(l.stats.kl, ", "), fmt::join(l.stats.top1, ", "), l.seconds);
}

}  // namespace

const std::vector<OptionField<DrafterTrainOptions>>& drafter_train_option_fields() {
  using O = DrafterTrainOptions;
  static const std::vector<OptionField<O>> fields = {
      {"--draft", &O::draft, "Drafter preset or checkpoint directory to start from", {}, /*required=*/true},
      {"--out", &O::out, "Output checkpoint directory", {}, /*required=*/true},
      {"--data", &O::data, "Text file, one training sequence per non-empty line (default: sample the target)"},
      {"--prompts", &O::prompts,
       "Text file, one user message per non-empty line, or a manifest (.jsonl) of text tasks, each sample's prompt "
       "as g4u eval renders it: train on prompt + the target's own sampled continuation (self-distillation on real "
       "prompts; default: random 4-token prompts)"},
      {"--raw-prompts", &O::raw_prompts, "--prompts lines are raw text after <bos> (no chat template)"},
      {"--sample-temperature", &O::sample_temperature, "Temperature of the target's continuations", Limits::at_least(0)},
      {"--samples", &O::samples, "Sequences sampled from the target when no --data", Limits::at_least(1)},
      {"--sample-len", &O::sample_len, "Tokens per sampled sequence (0: --seq-len)", Limits::at_least(0)},
      {"--steps", &O::steps, "Optimizer steps", Limits::at_least(0)},
      {"--batch", &O::batch_size, "Sequences per step", Limits::at_least(1)},
      {"--seq-len", &O::seq_len, "Longest training window", Limits::at_least(2)},
      {"--unroll", &O::unroll, "Draft steps trained per position", Limits::at_least(1)},
      {"--lr", &O::lr, "AdamW learning rate", Limits::above(0)},
      {"--warmup", &O::warmup, "Linear warm-up steps (then cosine decay)", Limits::at_least(0)},
      {"--min-lr-ratio", &O::min_lr_ratio, "Cosine decay ends at this fraction of --lr", Limits::between(0, 1)},
      {"--weight-decay", &O::weight_decay, "AdamW weight decay", Limits::at_least(0)},
      {"--grad-clip", &O::grad_clip, "Gradient norm clip (0: off)"},
      {"--eval-prompts", &O::eval_prompts, "Held-out random prompts for the acceptance check (0: skip)",
       Limits::at_least(0)},
      {"--eval-tokens", &O::eval_tokens, "Tokens generated per evaluation prompt", Limits::at_least(2)},
      {"--eval-k", &O::eval_k, "Draft length of the evaluation", Limits::at_least(1)},
      {"--no-init", &O::skip_init, "Skip the drafter's init from the target (Medusa: copy of the head)"},
  };
  return fields;
}

DrafterTrainResult train_drafter(model::Gemma4Model& target, model::Drafter& drafter, const TokenSequenceSource& data,
                                 const DrafterTrainOptions& opt) {
  check_option_fields(opt, drafter_train_option_fields());
  FreezeGuard freeze(target);
  target.eval();
  torch::nn::Module& m = drafter.module();
  for (auto& p : m.parameters())
    G4U_CHECK(p.scalar_type() == torch::kFloat32, "train the drafter in fp32 (got {})", c10::toString(p.scalar_type()));
  if (!opt.skip_init) drafter.init_for_training(target);
  m.train();
  NamedParameters named;
  for (auto& p : m.named_parameters(true)) {
    p.value().requires_grad_(true);
    named.emplace_back(p.key(), p.value());
  }
  AdamWOptions ao;
  ao.weight_decay = opt.weight_decay;
  NamedAdamW optimizer(std::move(named), ao, decays_by_default);
  Windows windows(data, opt.seq_len);

  DrafterTrainResult r;
  const double t0 = now_seconds();
  for (int64_t step = 1; step <= opt.steps; ++step) {
    std::vector<std::vector<int64_t>> batch;
    while (static_cast<int64_t>(batch.size()) < opt.batch_size) {
      auto s = windows.next();
      if (!s) break;
      batch.push_back(std::move(*s));
    }
    if (batch.empty()) break;
    const double lr = warmup_cosine_lr(step - 1, opt.steps, opt.warmup, opt.lr, opt.min_lr_ratio);
    model::DistillLoss dl = model::drafter_distill_loss(target, drafter, batch, opt.unroll);
    optimizer.clear_grads();
    dl.loss.backward();
    if (opt.grad_clip > 0) torch::nn::utils::clip_grad_norm_(optimizer.parameters(), opt.grad_clip);
    optimizer.step(lr);
    for (const auto& s : batch) r.tokens += static_cast<int64_t>(s.size());
    r.steps = step;
    if (step == 1 || step % std::max<int64_t>(1, opt.log_every) == 0 || step == opt.steps) {
      DrafterTrainLog log{step, lr, dl.stats, r.tokens, now_seconds() - t0};
      r.log.push_back(log);
      if (opt.on_log) opt.on_log(log);
    }
  }
  m.eval();
  r.seconds = now_seconds() - t0;
  return r;
}

nlohmann::json run_drafter_training(const model::LoadedModel& lm, model::Drafter& drafter,
                                    const DrafterTrainOptions& options) {
  check_option_fields(options, drafter_train_option_fields());
  if (!options.data.empty() && !options.prompts.empty()) throw_input("--data and --prompts exclude each other");
  model::Gemma4Model& target = *lm.model;

  TrainingSequences sequences;
  if (!options.data.empty()) {
    sequences.pool = sequences_of_text_file(lm, options.data);
    sequences.source = options.data;
  } else {
    sequences = sampled_sequences(lm, options);
  }
  TokenSequenceSource data = shuffled_epochs(sequences.pool, options.seed ^ 0x5eedULL);

  const bool evaluate = options.eval_prompts > 0;
  nlohmann::json before = evaluate ? evaluate_acceptance(target, drafter, options) : nlohmann::json(nullptr);
  DrafterTrainOptions loop = options;
  loop.on_log = [&options](const DrafterTrainLog& l) {
    print_log_line(l);
    if (options.on_log) options.on_log(l);
  };
  DrafterTrainResult tr = train_drafter(target, drafter, data, loop);
  model::save_drafter(drafter, options.out, torch::kFloat32);
  nlohmann::json after = evaluate ? evaluate_acceptance(target, drafter, options) : nlohmann::json(nullptr);

  nlohmann::json log = nlohmann::json::array();
  for (const auto& l : tr.log)
    log.push_back({{"step", l.step}, {"lr", l.lr}, {"loss", l.stats.loss}, {"kl", l.stats.kl}, {"top1", l.stats.top1},
                   {"tokens", l.tokens}, {"seconds", l.seconds}});
  return {{"model", lm.source},
          {"draft", options.draft},
          {"draft_kind", drafter.kind()},
          {"draft_params", drafter.parameter_count()},
          {"out", options.out},
          {"data", sequences.source},
          {"steps", tr.steps},
          {"tokens", tr.tokens},
          {"seconds", tr.seconds},
          {"unroll", options.unroll},
          {"log", log},
          {"eval_before", before},
          {"eval_after", after}};
}

std::string describe_drafter_run(const nlohmann::json& report) {
  std::string text = fmt::format("saved {} ({} params) after {} steps, {} tokens, {:.1f} s\n",
                                 report["out"].get<std::string>(), report["draft_params"].get<int64_t>(),
                                 report["steps"].get<int64_t>(), report["tokens"].get<int64_t>(),
                                 report["seconds"].get<double>());
  const nlohmann::json& before = report["eval_before"];
  const nlohmann::json& after = report["eval_after"];
  if (!before.is_null())
    text += fmt::format("greedy acceptance {:.3f} -> {:.3f}, tau {:.3f} -> {:.3f} (k={}, bonus token included)\n",
                        before["acceptance_rate"].get<double>(), after["acceptance_rate"].get<double>(),
                        before["tau"].get<double>(), after["tau"].get<double>(), before["k"].get<int64_t>());
  return text;
}

}  // namespace g4u::experiments
