#include "experiments/drafter_trainer.h"

#include "experiments/adamw.h"
#include "base/error.h"
#include "model/io/sysinfo.h"

#include <deque>
#include <string>

namespace g4u::experiments {
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

DrafterTrainResult train_drafter(model::Gemma4Model& target, model::Drafter& drafter, const TokenSequenceSource& data,
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
  NamedParameters named;
  for (auto& p : m.named_parameters(true)) {
    p.value().requires_grad_(true);
    named.emplace_back(p.key(), p.value());
  }
  AdamWOptions ao;
  ao.weight_decay = opt.weight_decay;
  NamedAdamW optimizer(std::move(named), ao, decays_by_default);

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

}  // namespace g4u::experiments
