// `g4u train-drafter`: distils a drafter (Gemma 4 assistant, MTP module or Medusa heads) from a
// frozen target (the objective is model/mtp/drafter_train.h) and saves it as a checkpoint that
// `--draft <dir>` loads. Data: the lines of a text file (target tokenizer), real prompts with the
// target's own sampled continuations, or by default sequences sampled from the target after random
// prompts (temperature 1), so the drafter learns exactly what the target generates. The loop uses
// the trainers' AdamW and warm-up + cosine schedule (experiments/adamw.h), gradient clipping and
// the same no-decay rule for norms, biases and layer scalars as `g4u train`. Greedy acceptance on
// held-out random prompts is measured before and after training.
#pragma once

#include "experiments/config_fields.h"
#include "model/io/loader.h"
#include "model/model.h"
#include "model/mtp/drafter.h"
#include "model/mtp/drafter_train.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g4u::experiments {

// Token sequences to train on; std::nullopt when exhausted.
using TokenSequenceSource = std::function<std::optional<std::vector<int64_t>>()>;

struct DrafterTrainLog {
  int64_t step = 0;
  double lr = 0;
  model::DistillStats stats;
  int64_t tokens = 0;  // tokens seen so far
  double seconds = 0;  // since the start
};

// Every option of a drafter training run; the command-line flags are drafter_train_option_fields().
struct DrafterTrainOptions {
  std::string draft;  // preset or checkpoint the drafter was loaded from (reported)
  std::string out;    // checkpoint directory written at the end
  uint64_t seed = 0;  // of the sampled data and the evaluation prompts

  // Data (run_drafter_training): --data, or --prompts, or random prompts; continuations sampled.
  std::string data, prompts;
  bool raw_prompts = false;
  double sample_temperature = 1.0;
  int64_t samples = 256;
  int64_t sample_len = 0;  // 0: seq_len

  // The loop (train_drafter).
  int64_t steps = 200;
  int64_t batch_size = 8;
  int64_t seq_len = 64;       // longer sequences are cut into windows of this many tokens
  int64_t unroll = 2;         // draft steps trained per anchor
  double lr = 1e-3;
  int64_t warmup = 10;        // linear warm-up steps, then cosine decay to min_lr_ratio * lr at `steps`
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;  // AdamW decay of the drafter's matrices (norms, biases, scalars never)
  double grad_clip = 1.0;     // <= 0: off
  bool skip_init = false;     // true: no Drafter::init_for_training before training
  int64_t log_every = 10;
  std::function<void(const DrafterTrainLog&)> on_log;

  // Greedy acceptance before and after training (run_drafter_training).
  int64_t eval_prompts = 8;  // 0: skip
  int64_t eval_tokens = 32;
  int64_t eval_k = 4;
};

// The flags of `g4u train-drafter` besides the model flags (--seed fills `seed`): flag, member,
// help and accepted values, declared once for registration, checking and help.
const std::vector<OptionField<DrafterTrainOptions>>& drafter_train_option_fields();

struct DrafterTrainResult {
  std::vector<DrafterTrainLog> log;
  int64_t steps = 0, tokens = 0;
  double seconds = 0;
};

// The loop: trains `drafter` (fp32 parameters) for `target` (frozen: its parameters get
// requires_grad false for the duration and are restored afterwards). Stops early when `data` runs
// out. Uses the loop's options only.
DrafterTrainResult train_drafter(model::Gemma4Model& target, model::Drafter& drafter, const TokenSequenceSource& data,
                                 const DrafterTrainOptions& options);

// The whole run of `g4u train-drafter` once target and drafter are loaded: checks the options, builds
// the training sequences, evaluates, trains (log lines on stderr), saves the drafter to
// `options.out` in fp32 and evaluates again. Returns the report that `--json` prints.
nlohmann::json run_drafter_training(const model::LoadedModel& target, model::Drafter& drafter,
                                    const DrafterTrainOptions& options);

// The report's human-readable summary (what `g4u train-drafter` prints without --json).
std::string describe_drafter_run(const nlohmann::json& report);

}  // namespace g4u::experiments
