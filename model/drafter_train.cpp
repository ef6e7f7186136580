#include "model/drafter_train.h"
#include "model/sysinfo.h"

#include "model/error.h"
#include "model/kv_cache.h"

#include <chrono>
#include <cmath>
#include <deque>

namespace g4u::model {
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

}  // namespace

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

double drafter_lr_at(const DrafterTrainOptions& o, int64_t step) {
  if (o.warmup > 0 && step <= o.warmup) return o.lr * static_cast<double>(step) / static_cast<double>(o.warmup);
  const int64_t span = o.steps - std::max<int64_t>(o.warmup, 0);
  if (span <= 0) return o.lr;
  const double t = std::min(1.0, static_cast<double>(step - std::max<int64_t>(o.warmup, 0)) / static_cast<double>(span));
  const double lo = o.lr * o.min_lr_ratio;
  return lo + 0.5 * (o.lr - lo) * (1.0 + std::cos(M_PI * t));
}

DrafterTrainResult train_drafter(Gemma4Model& target, Drafter& drafter, const TokenSequenceSource& data,
                                 const DrafterTrainOptions& opt) {
  if (opt.steps < 0 || opt.batch_size < 1 || opt.seq_len < 2 || opt.unroll < 1 || !(opt.lr > 0))
    throw_input("drafter training: steps {} >= 0, batch {} >= 1, seq_len {} >= 2, unroll {} >= 1, lr {} > 0 required",
                opt.steps, opt.batch_size, opt.seq_len, opt.unroll, opt.lr);
  FreezeGuard freeze(target);
  target.eval();
  torch::nn::Module& m = drafter.module();
  for (auto& p : m.parameters())
    G4U_CHECK(p.scalar_type() == torch::kFloat32, "train the drafter in fp32 (got {})", c10::toString(p.scalar_type()));
  if (opt.init_from_target) drafter.init_for_training(target);
  m.train();
  std::vector<torch::Tensor> params = m.parameters();
  for (auto& p : params) p.requires_grad_(true);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(opt.lr).weight_decay(opt.weight_decay));

  // Windows of at most seq_len tokens from the stream.
  std::deque<std::vector<int64_t>> pending;
  bool exhausted = false;
  auto next_sequence = [&]() -> std::optional<std::vector<int64_t>> {
    while (pending.empty() && !exhausted) {
      auto s = data();
      if (!s) {
        exhausted = true;
        break;
      }
      for (size_t off = 0; off + 1 < s->size(); off += opt.seq_len) {
        size_t end = std::min(s->size(), off + static_cast<size_t>(opt.seq_len));
        if (end - off >= 2) pending.emplace_back(s->begin() + off, s->begin() + end);
      }
    }
    if (pending.empty()) return std::nullopt;
    auto s = std::move(pending.front());
    pending.pop_front();
    return s;
  };

  DrafterTrainResult r;
  const double t0 = now_seconds();
  for (int64_t step = 1; step <= opt.steps; ++step) {
    std::vector<std::vector<int64_t>> batch;
    while (static_cast<int64_t>(batch.size()) < opt.batch_size) {
      auto s = next_sequence();
      if (!s) break;
      batch.push_back(std::move(*s));
    }
    if (batch.empty()) break;
    const double lr = drafter_lr_at(opt, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    DistillLoss dl = drafter_distill_loss(target, drafter, batch, opt.unroll);
    optimizer.zero_grad();
    dl.loss.backward();
    if (opt.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, opt.grad_clip);
    optimizer.step();
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

}  // namespace g4u::model
