// Drafter training by distillation from a frozen target (issue 7 item 4): the target runs over
// token sequences; the drafter sees the target's hidden states and K/V (the same inputs it gets at
// inference) and learns the target's next-token distribution at each unrolled draft step j:
//   loss = mean_j mean_{anchors i} CE(p_target(. | t_<=i+j), q_j(. | target state before i, t_i..t_i+j))
// (cross-entropy with the target's soft distribution = KL + the target's entropy). Step j > 0
// feeds the drafter's own recurrent context (Gemma assistant: post_projection output; MTP: block
// output) and the sequence's tokens (teacher forcing); sequences sampled from the target itself make
// those tokens the target's own choices.
//
// Two levels, so a general trainer can drive it: `drafter_distill_loss` computes one batch's loss
// (the trainer owns the optimizer, schedule and checkpoints), `train_drafter` is a small
// self-contained loop (AdamW, linear warm-up + cosine decay, gradient clipping) used by `g4u train-drafter`.
#pragma once

#include "model/drafter.h"
#include "model/model.h"

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace g4u::model {

// A stream of token sequences; nullopt when exhausted.
using TokenSequenceSource = std::function<std::optional<std::vector<int64_t>>()>;

struct DistillStats {
  double loss = 0;              // the mean over steps (what backward() sees)
  std::vector<double> kl;       // per unrolled step: mean KL(p_target || q)
  std::vector<double> top1;     // per step: argmax q == argmax p_target (teacher-forced greedy acceptance)
  std::vector<int64_t> count;   // per step: anchors averaged over
};

struct DistillLoss {
  torch::Tensor loss;  // scalar, differentiable in the drafter's parameters
  DistillStats stats;
};

// Target forward (no grad) over `batch` (right-padded to the longest; each sequence >= 2 tokens)
// and the drafter's loss over `unroll` draft steps (Medusa: at most its number of heads).
DistillLoss drafter_distill_loss(Gemma4Model& target, Drafter& drafter, const std::vector<std::vector<int64_t>>& batch,
                                 int64_t unroll);

struct DrafterTrainLog {
  int64_t step = 0;
  double lr = 0;
  DistillStats stats;
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
  double weight_decay = 0.0;
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

// The learning rate of step `step` (1-based): linear warm-up to `lr` over `warmup` steps, then
// half a cosine from `lr` down to min_lr_ratio * lr at step `steps`.
double drafter_lr_at(const DrafterTrainOptions& options, int64_t step);

// Trains `drafter` (fp32 parameters) for `target` (frozen: its parameters get requires_grad false
// for the duration and are restored afterwards). Stops early when `data` runs out.
DrafterTrainResult train_drafter(Gemma4Model& target, Drafter& drafter, const TokenSequenceSource& data,
                                 const DrafterTrainOptions& options);

}  // namespace g4u::model
