// AdamW (decoupled weight decay, Loshchilov & Hutter) with its state as named tensors, so a
// checkpoint stores it in safetensors and a resumed run continues bit for bit. Same update as
// torch.optim.AdamW (amsgrad off):
//   p <- p * (1 - lr * wd)            (only parameters selected for decay)
//   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
//   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace g4u::experiments {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

class AdamW {
 public:
  // `decay(name)` says which parameters get weight decay (typically matrices, not norms/biases).
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options,
        const std::function<bool(const std::string&)>& decay);

  // One update with learning rate `lr` from the parameters' .grad() (a missing grad counts as 0).
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return t_; }

  // "<param>.exp_avg", "<param>.exp_avg_sq" for every parameter, and "step" (int64 scalar).
  std::map<std::string, torch::Tensor> state() const;
  // Restores state(); InputError naming `where` for missing entries or shape mismatches.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    bool decay = false;
  };
  std::vector<Slot> slots_;
  AdamWOptions opt_;
  int64_t t_ = 0;
};

// The weight-decay rule of g4u's trainers: matrices decay; norms, biases and layer scalars do not.
bool decays_by_default(const std::string& param_name);

// Linear warm-up to `peak` over `warmup` steps (step 0 gets peak/warmup), then a half cosine from
// `peak` down to `peak * min_ratio` at `total` steps.
double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double peak, double min_ratio);

}  // namespace g4u::experiments
