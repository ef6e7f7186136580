// Drafter training by distillation from a frozen target (issue 7 item 4): the target runs over
// token sequences; the drafter sees the target's hidden states and K/V (the same inputs it gets at
// inference) and learns the target's next-token distribution at each unrolled draft step j:
//   loss = mean_j mean_{anchors i} CE(p_target(. | t_<=i+j), q_j(. | target state before i, t_i..t_i+j))
// (cross-entropy with the target's soft distribution = KL + the target's entropy). Step j > 0
// feeds the drafter's own recurrent context (Gemma assistant: post_projection output; MTP: block
// output) and the sequence's tokens (teacher forcing); sequences sampled from the target itself make
// those tokens the target's own choices.
//
// This file holds the objective (`drafter_distill_loss`, one batch's loss); the training loop that
// drives it with the trainers' AdamW and schedule is experiments/drafter_trainer.h.
#pragma once

#include "model/mtp/drafter.h"
#include "model/model.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace g4u::model {

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

}  // namespace g4u::model
