// NamedAdamW (LibTorch's AdamW in two groups with named, savable state) against torch.optim.AdamW's
// documented algorithm, computed here in double precision.
#include "base/error.h"
#include "experiments/adamw.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <unistd.h>

using namespace g4u;
using namespace g4u::experiments;

namespace {

// torch.optim.AdamW's algorithm for one scalar, step by step (amsgrad off, maximize off).
struct ReferenceAdamW {
  double param, beta1, beta2, eps, weight_decay;
  double exp_avg = 0, exp_avg_sq = 0;
  int64_t t = 0;
  void step(double grad, double lr) {
    ++t;
    param -= lr * weight_decay * param;
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad;
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad;
    const double m_hat = exp_avg / (1 - std::pow(beta1, static_cast<double>(t)));
    const double v_hat = exp_avg_sq / (1 - std::pow(beta2, static_cast<double>(t)));
    param -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

std::string adamw_scratch_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("g4u_adamw_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("AdamW update equals torch.optim.AdamW's algorithm in double precision", "[unit]") {
  const AdamWOptions options{0.9, 0.99, 1e-8, 0.5};
  torch::Tensor w = torch::tensor({1.0, -2.0}, torch::kFloat64).requires_grad_(true);
  torch::Tensor norm = torch::tensor({3.0}, torch::kFloat64).requires_grad_(true);
  NamedAdamW opt({{"w", w}, {"norm.weight", norm}}, options, decays_by_default);
  ReferenceAdamW ref_w0{1.0, 0.9, 0.99, 1e-8, 0.5}, ref_w1{-2.0, 0.9, 0.99, 1e-8, 0.5};
  ReferenceAdamW ref_norm{3.0, 0.9, 0.99, 1e-8, 0.0};  // the no-decay group
  const double lrs[] = {0.1, 0.05, 0.02};
  const double grads_w0[] = {2.0, -1.0, 0.5}, grads_w1[] = {-0.3, 0.7, 4.0}, grads_norm[] = {1.5, 1.5, -2.0};
  for (int t = 0; t < 3; ++t) {
    opt.clear_grads();
    w.mutable_grad() = torch::tensor({grads_w0[t], grads_w1[t]}, torch::kFloat64);
    norm.mutable_grad() = torch::tensor({grads_norm[t]}, torch::kFloat64);
    opt.step(lrs[t]);
    ref_w0.step(grads_w0[t], lrs[t]);
    ref_w1.step(grads_w1[t], lrs[t]);
    ref_norm.step(grads_norm[t], lrs[t]);
    INFO("step " << t + 1);
    CHECK(w[0].item<double>() == Approx(ref_w0.param).epsilon(1e-12));
    CHECK(w[1].item<double>() == Approx(ref_w1.param).epsilon(1e-12));
    CHECK(norm.item<double>() == Approx(ref_norm.param).epsilon(1e-12));
  }
  auto state = opt.state();
  CHECK(state.at("step").item<int64_t>() == 3);
  CHECK(state.at("w.step").item<int64_t>() == 3);
  CHECK(state.at("w.exp_avg")[0].item<double>() == Approx(ref_w0.exp_avg).epsilon(1e-12));
  CHECK(state.at("w.exp_avg_sq")[1].item<double>() == Approx(ref_w1.exp_avg_sq).epsilon(1e-12));
  CHECK(state.at("norm.weight.exp_avg").item<double>() == Approx(ref_norm.exp_avg).epsilon(1e-12));
}

TEST_CASE("AdamW skips a parameter without a gradient: no decay, no moment update, no step", "[unit]") {
  torch::Tensor a = torch::tensor({1.0, 2.0}, torch::kFloat64).requires_grad_(true);
  torch::Tensor b = torch::tensor({-3.0}, torch::kFloat64).requires_grad_(true);
  torch::Tensor never = torch::tensor({5.0}, torch::kFloat64).requires_grad_(true);
  NamedAdamW opt({{"a", a}, {"b", b}, {"never", never}}, {0.9, 0.999, 1e-8, 1.0}, [](const std::string&) { return true; });
  a.mutable_grad() = torch::ones({2}, torch::kFloat64);
  b.mutable_grad() = torch::ones({1}, torch::kFloat64);
  opt.step(0.1);
  const torch::Tensor b_after_one = b.detach().clone();
  const torch::Tensor b_exp_avg = opt.state().at("b.exp_avg").clone();

  opt.clear_grads();
  CHECK_FALSE(b.grad().defined());
  a.mutable_grad() = torch::ones({2}, torch::kFloat64);
  opt.step(0.1);
  CHECK(torch::equal(b, b_after_one));  // bit for bit: not even multiplied by 1 - lr * wd
  CHECK(never.item<double>() == 5.0);
  auto state = opt.state();
  CHECK(torch::equal(state.at("b.exp_avg"), b_exp_avg));
  CHECK(state.at("b.step").item<int64_t>() == 1);
  CHECK(state.at("a.step").item<int64_t>() == 2);
  CHECK(state.count("never.exp_avg") == 0);
  CHECK(state.at("step").item<int64_t>() == 2);
}

TEST_CASE("AdamW state saved half way and loaded into a fresh optimizer resumes bit for bit", "[unit]") {
  // Two layers, one of them not reached by the loss in odd steps; fp32 as in the trainers.
  auto make_params = [] {
    torch::manual_seed(11);
    return NamedParameters{{"w1", torch::randn({4, 3}).requires_grad_(true)},
                           {"norm.weight", torch::randn({3}).requires_grad_(true)},
                           {"w2", torch::randn({3, 2}).requires_grad_(true)}};
  };
  const torch::Tensor x = torch::randn({5, 4});
  auto train_steps = [&](NamedAdamW& opt, NamedParameters& p, int from, int to) {
    for (int step = from; step < to; ++step) {
      opt.clear_grads();
      torch::Tensor h = torch::tanh(x.matmul(p[0].second) * p[1].second);
      torch::Tensor loss = step % 2 ? h.pow(2).mean() : h.matmul(p[2].second).pow(2).mean();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(opt.parameters(), 0.5);
      opt.step(warmup_cosine_lr(step, 8, 2, 0.05, 0.1));
    }
  };
  const AdamWOptions options{0.9, 0.95, 1e-8, 0.1};
  NamedParameters straight = make_params();
  NamedAdamW straight_opt(straight, options, decays_by_default);
  train_steps(straight_opt, straight, 0, 8);

  NamedParameters first = make_params();
  NamedAdamW first_opt(first, options, decays_by_default);
  train_steps(first_opt, first, 0, 4);
  const std::string path = adamw_scratch_file("state.safetensors");
  first_opt.save(path);
  NamedParameters resumed;
  for (const auto& [name, p] : first) resumed.emplace_back(name, p.detach().clone().requires_grad_(true));
  NamedAdamW resumed_opt(resumed, options, decays_by_default);
  resumed_opt.load(path);
  std::filesystem::remove(path);
  CHECK(resumed_opt.steps() == 4);
  train_steps(resumed_opt, resumed, 4, 8);
  for (size_t i = 0; i < straight.size(); ++i) {
    INFO(straight[i].first);
    CHECK(torch::equal(straight[i].second, resumed[i].second));
  }
}

TEST_CASE("AdamW state of another model or an older g4u is refused, naming the entry", "[unit]") {
  torch::Tensor w = torch::zeros({2, 2}).requires_grad_(true);
  NamedAdamW opt({{"w", w}}, {}, decays_by_default);
  auto refused = [&](const std::map<std::string, torch::Tensor>& state, const std::string& needle) {
    try {
      opt.load_state(state, "opt.safetensors");
      FAIL("no error");
    } catch (const InputError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  const torch::Tensor step = torch::tensor(int64_t{1});
  // The hand-written AdamW of earlier versions kept one step count for all parameters.
  refused({{"w.exp_avg", torch::zeros({2, 2})}, {"w.exp_avg_sq", torch::zeros({2, 2})}, {"step", step}}, "w.step");
  refused({{"w.exp_avg", torch::zeros({3})}, {"w.exp_avg_sq", torch::zeros({2, 2})}, {"w.step", step}, {"step", step}},
          "w.exp_avg");
  refused({{"v.exp_avg", torch::zeros({2, 2})}, {"step", step}}, "v.exp_avg");
  CHECK_NOTHROW(opt.load_state({{"step", step}}, "opt.safetensors"));
}
