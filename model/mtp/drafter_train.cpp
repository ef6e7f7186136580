#include "model/mtp/drafter_train.h"

#include "base/error.h"
#include "model/text/kv_cache.h"

#include <cmath>

namespace g4u::model {

DistillLoss drafter_distill_loss(Gemma4Model& target, Drafter& drafter, const std::vector<std::vector<int64_t>>& batch,
                                 int64_t unroll) {
  G4U_CHECK(!batch.empty() && unroll >= 1, "batch {} unroll {}", batch.size(), unroll);
  const TextConfig& tc = target.config().text;
  const int64_t B = static_cast<int64_t>(batch.size());
  int64_t T = 0;
  for (const auto& s : batch) {
    G4U_CHECK(s.size() >= 2, "training sequence of {} tokens", s.size());
    T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
  }
  torch::Tensor ids = torch::full({B, T}, tc.pad_token_id, torch::kInt64);
  torch::Tensor valid = torch::zeros({B, T}, torch::kBool);
  torch::Tensor lengths = torch::empty({B}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = batch[b];
    for (int64_t id : s)
      if (id < 0 || id >= tc.vocab_size) throw_input("training token {} outside the vocabulary [0, {})", id, tc.vocab_size);
    ids[b].narrow(0, 0, s.size()).copy_(torch::tensor(s, torch::kInt64));
    valid[b].narrow(0, 0, s.size()).fill_(true);
    lengths[b] = static_cast<int64_t>(s.size());
  }

  // The frozen target: hidden states, every layer's K/V (margin T: sliding layers drop nothing),
  // and its next-token distributions.
  KVCache cache(tc, B, target.dtype(), T + 1);
  torch::Tensor hidden, logp_target;
  {
    torch::NoGradGuard ng;
    ForwardResult out = target.text().forward(target.text().embed(ids), valid, cache);
    hidden = out.hidden;
    logp_target = torch::log_softmax(target.text().logits(hidden).to(torch::kFloat32), -1);  // [B, T, V]
  }
  TargetPass pass{&target, ids, valid, hidden, &cache};
  std::vector<torch::Tensor> q = drafter.unrolled_logits(pass, unroll);
  G4U_CHECK(!q.empty(), "drafter produced no training logits");

  torch::Tensor slot = torch::arange(T, torch::kInt64).view({1, T});
  DistillLoss out;
  torch::Tensor total;
  for (size_t j = 0; j < q.size(); ++j) {
    const int64_t s = std::min<int64_t>(static_cast<int64_t>(j), T);
    // Anchor i, step j predicts slot i + j + 1: the target's distribution at slot i + j.
    torch::Tensor lp = torch::cat({logp_target.narrow(1, s, T - s),
                                   torch::zeros({B, s, logp_target.size(2)}, logp_target.options())},
                                  1)
                           .detach();
    torch::Tensor mask = (slot >= 1).logical_and(slot + static_cast<int64_t>(j) < lengths.view({B, 1}));  // [B, T]
    torch::Tensor m = mask.to(torch::kFloat32);
    const double count = m.sum().item<double>();
    out.stats.count.push_back(static_cast<int64_t>(count));
    if (count == 0) {
      out.stats.kl.push_back(0);
      out.stats.top1.push_back(0);
      continue;
    }
    torch::Tensor logq = torch::log_softmax(q[j].to(torch::kFloat32), -1);
    torch::Tensor p = lp.exp();
    torch::Tensor ce = -(p * logq).sum(-1);      // [B, T]
    torch::Tensor ent = -(p * lp).sum(-1);
    torch::Tensor loss_j = (ce * m).sum() / count;
    total = total.defined() ? total + loss_j : loss_j;
    torch::NoGradGuard ng;
    out.stats.kl.push_back((((ce - ent) * m).sum() / count).item<double>());
    torch::Tensor same = (logq.argmax(-1) == lp.argmax(-1)).logical_and(mask);
    out.stats.top1.push_back(same.sum().item<double>() / count);
  }
  G4U_CHECK(total.defined(), "no anchors to train on (sequences too short)");
  out.loss = total / static_cast<double>(q.size());
  out.stats.loss = out.loss.item<double>();
  return out;
}

}  // namespace g4u::model
