// `g4u train-drafter`'s loop: distils a drafter from a frozen target (the objective is
// model/mtp/drafter_train.h) with the trainers' AdamW and warm-up + cosine schedule (experiments/adamw.h),
// gradient clipping and the same no-decay rule for norms, biases and layer scalars as `g4u train`.
#pragma once

#include "model/mtp/drafter.h"
#include "model/mtp/drafter_train.h"
#include "model/model.h"

#include <cstdint>
#include <functional>
#include <optional>
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

struct DrafterTrainOptions {
  int64_t steps = 200;
  int64_t batch_size = 8;
  int64_t seq_len = 64;     // longer sequences are cut into windows of this many tokens
  int64_t unroll = 2;       // draft steps trained per anchor
  double lr = 1e-3;
  int64_t warmup = 10;      // linear warm-up steps, then cosine decay to min_lr_ratio * lr at `steps`
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;  // AdamW decay of the drafter's matrices (norms, biases, scalars never)
  double grad_clip = 1.0;   // <= 0: off
  bool init_from_target = true;  // Drafter::init_for_training first
  int64_t log_every = 10;
  std::function<void(const DrafterTrainLog&)> on_log;
};

struct DrafterTrainResult {
  std::vector<DrafterTrainLog> log;
  int64_t steps = 0, tokens = 0;
  double seconds = 0;
};

// Trains `drafter` (fp32 parameters) for `target` (frozen: its parameters get requires_grad false
// for the duration and are restored afterwards). Stops early when `data` runs out.
DrafterTrainResult train_drafter(model::Gemma4Model& target, model::Drafter& drafter, const TokenSequenceSource& data,
                                 const DrafterTrainOptions& options);

}  // namespace g4u::experiments
