// The optimizer of g4u's trainers: LibTorch's torch::optim::AdamW (PyTorch's algorithm, amsgrad
// off) over named parameters in two groups, decayed and not, with the learning rate set every step.
// Its state is saved under the parameters' names in safetensors, so a checkpoint resumes bit for
// bit. Per parameter p that has a gradient g (a parameter without one is skipped: no decay, no
// moment update, its step count t unchanged):
//   t <- t + 1 ;  p <- p * (1 - lr * wd)          (wd = 0 in the no-decay group)
//   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
//   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace g4u::experiments {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

class NamedAdamW {
 public:
  // `decay(name)` says which parameters get weight decay (typically matrices, not norms/biases).
  NamedAdamW(NamedParameters params, const AdamWOptions& options,
             const std::function<bool(const std::string&)>& decay);

  // One update with learning rate `lr` of every parameter whose .grad() is defined.
  void step(double lr);
  // Leaves every gradient undefined (PyTorch's zero_grad(set_to_none=True)), so a parameter the
  // next loss does not reach is skipped by the next step instead of decayed with a zero gradient.
  void clear_grads();
  int64_t steps() const { return steps_; }  // step() calls
  std::vector<torch::Tensor> parameters() const;

  // "<param>.exp_avg", "<param>.exp_avg_sq" and "<param>.step" (int64 scalar) of every parameter
  // updated at least once (the live tensors, not copies), and "step": the number of step() calls.
  std::map<std::string, torch::Tensor> state() const;
  // Restores state() (copies); a parameter without entries goes back to "never updated".
  // InputError naming `where` for missing entries, unknown names or shape mismatches.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where);
  void save(const std::string& path) const;  // state() as a safetensors file
  void load(const std::string& path);

 private:
  NamedParameters params_;
  torch::optim::AdamW optimizer_;
  int64_t steps_ = 0;
};

// The weight-decay rule of g4u's trainers: matrices decay; norms, biases and layer scalars do not.
bool decays_by_default(const std::string& param_name);

// Linear warm-up to `peak` over `warmup` steps (step 0 gets peak/warmup), then a half cosine from
// `peak` down to `peak * min_ratio` at `total` steps.
double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double peak, double min_ratio);

}  // namespace g4u::experiments
