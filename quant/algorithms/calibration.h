// Calibration: one shared token set for the imatrix collector, GPTQ and AWQ, and hooks that see
// the inputs of decoder projections during ordinary forwards.
//
// Calibration set: the text file is tokenized once (no BOS added); the first `segments`
// non-overlapping windows of `seq_len` tokens are used, each starting with BOS (as the perplexity
// protocol does). Deterministic (no sampling, so no seed); the file, sizes and token count are
// recorded in the quantized checkpoint's metadata.
#pragma once

#include "model/model.h"
#include "model/text/tokenizer.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace g4u::quant {

struct CalibrationSet {
  std::string source;
  std::vector<std::vector<int64_t>> segments;
  int64_t seq_len = 0;
  nlohmann::json describe() const;  // {"file", "segments", "seq_len", "tokens"}
};

// InputError if the text has fewer than seq_len tokens. Uses min(segments, available) windows.
CalibrationSet make_calibration_set(const std::string& text_file, const model::Tokenizer& tok, int64_t bos,
                                    int64_t segments, int64_t seq_len);

// A Linear that reports its input to `on_input` and then runs `inner`.
class CaptureLinear : public model::Linear {
 public:
  CaptureLinear(std::shared_ptr<model::Linear> inner, std::function<void(const torch::Tensor&)> on_input)
      : inner_(std::move(inner)), on_input_(std::move(on_input)) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    on_input_(x);
    return inner_->forward(x);
  }
  int64_t in_features() const override { return inner_->in_features(); }
  int64_t out_features() const override { return inner_->out_features(); }
  std::string scheme() const override { return inner_->scheme(); }
  int64_t storage_bytes() const override { return inner_->storage_bytes(); }
  torch::ScalarType input_dtype() const override { return inner_->input_dtype(); }
  const std::shared_ptr<model::Linear>& inner() const { return inner_; }

 private:
  std::shared_ptr<model::Linear> inner_;
  std::function<void(const torch::Tensor&)> on_input_;
};

// Runs every segment through the model (no cache, no grad) with `hooks` (tensor name of a decoder
// projection -> callback on its input [1, T, in]) installed; the original modules are restored
// afterwards, also on error.
void run_with_input_hooks(model::Gemma4Model& m, const CalibrationSet& calib,
                          const std::map<std::string, std::function<void(const torch::Tensor&)>>& hooks);

// Running mean over calibration tokens of x_j^2 per input column j (one imatrix entry), in fp64.
class SquaredMeanAccumulator {
 public:
  explicit SquaredMeanAccumulator(int64_t cols) : sum_(torch::zeros({cols}, torch::kFloat64)) {}
  void add(const torch::Tensor& x);  // x [..., cols]: every row one token
  std::vector<float> mean() const;
  int64_t tokens() const { return count_; }

 private:
  torch::Tensor sum_;
  int64_t count_ = 0;
};

// llama-imatrix: per decoder projection, the mean over calibration tokens of x_j^2 per input
// column j (quant-and-mtp.md §2.8).
std::map<std::string, std::vector<float>> collect_imatrix(model::Gemma4Model& m, const CalibrationSet& calib);

}  // namespace g4u::quant
