// Calibration one decoder layer at a time, straight from a float checkpoint: what `g4u quantize
// --calib` runs for the imatrix, GPTQ and AWQ, so a model never has to fit in memory as a whole.
//
// The runner holds the hidden states of every calibration segment at the input of the current
// layer (segments x seq_len x hidden fp32: 126 MB for 32 x 256 tokens of the 12B) and reads one
// layer's weights at a time (fp32; 0.7 GB for a 12B layer). A step is
//   layer = load_layer(l);  run(*layer, hooks) ... (as often as the algorithm needs);  advance(*layer);
// where `run` shows the inputs of the layer's projections to the hooks and `advance` replaces the
// states by the layer's outputs (with whatever the algorithm did to its weights: GPTQ's quantized
// weights, AWQ's scaled and clipped ones).
//
// Numerics: each segment runs alone ([1, T, H]) through the same DecoderLayer::forward with the
// same attention context as TextModel::forward without a cache, and the embedding rows are the
// fp32 values load_model(fp32) would hold, so the states equal the whole-model forward's layer
// outputs bit for bit (tests/quant/layerwise_test.cpp).
#pragma once

#include "model/text/decoder.h"
#include "model/io/safetensors.h"
#include "quant/algorithms/calibration.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace g4u::quant {

// Projection ("self_attn.q_proj", "mlp.down_proj", ...) -> callback on its input [1, T, in].
using LayerInputHooks = std::map<std::string, std::function<void(const torch::Tensor&)>>;

class LayerwiseCalibration {
 public:
  // Opens the float checkpoint in `dir` (validated against its config) and embeds the segments.
  LayerwiseCalibration(const std::string& dir, const CalibrationSet& calib);

  const model::ModelConfig& config() const { return config_; }
  int64_t num_layers() const { return config_.text.num_layers; }
  // "model.language_model.layers.<l>."
  static std::string layer_prefix(int64_t l);

  // Decoder layer l with its fp32 weights read from the checkpoint.
  std::shared_ptr<model::DecoderLayer> load_layer(int64_t l) const;
  // Runs the current states through `layer` with `hooks` on its projections (restored afterwards,
  // also on error); the states do not change. InputError for a projection the layer lacks.
  void run(model::DecoderLayer& layer, const LayerInputHooks& hooks) const;
  // The states become `layer`'s outputs: the inputs of the next layer (`hooks` as in run).
  void advance(model::DecoderLayer& layer, const LayerInputHooks& hooks = {});

  // Per segment [1, T, H] fp32: the inputs of the next layer to load.
  const std::vector<torch::Tensor>& states() const { return states_; }
  int64_t next_layer() const { return next_layer_; }

 private:
  void pass(model::DecoderLayer& layer, const LayerInputHooks& hooks, std::vector<torch::Tensor>* outputs) const;

  model::ModelConfig config_;
  model::Checkpoint checkpoint_;
  std::vector<torch::Tensor> states_;
  torch::Tensor valid_;                    // [1, T] all true
  model::AttentionContext context_[2];     // sliding, full
  int64_t next_layer_ = 0;
};

}  // namespace g4u::quant
