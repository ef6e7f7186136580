// Modules of the encoder-free multimodal embedders and of the projector variants listed in
// model/multimodal/projectors.h (which also holds their tensor lists).
#pragma once

#include "model/io/config.h"
#include "model/text/layers.h"
#include "model/multimodal/projectors.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace g4u::model {
// "model.vision_embedder": everything of the vision path before the final projection (for
// gemma4) or the whole path (other variants). The variant's record (projectors.h) registers the
// modules it uses and runs them; the rest stay null.
class VisionEmbedder : public torch::nn::Module {
 public:
  VisionEmbedder(const VisionConfig& v, int64_t hidden);
  // pixels [N, budget, P] (any float dtype), positions [N, budget, 2] (x, y; -1 = padding) ->
  // [N, budget, output_dim()]; padding rows are computed but meaningless.
  torch::Tensor forward(const torch::Tensor& pixels, const torch::Tensor& positions);
  bool needs_projection() const { return projector_->projection; }
  int64_t output_dim() const { return width_; }
  const VisionConfig& config() const { return v_; }

  // Modules of the variants (null where a variant has none).
  torch::nn::LayerNorm patch_ln1{nullptr}, patch_ln2{nullptr}, pos_norm{nullptr};
  torch::nn::Linear patch_dense{nullptr}, mlp_out{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};

 private:
  torch::Tensor position_embedding(const torch::Tensor& positions, torch::ScalarType dtype) const;
  VisionConfig v_;
  const VisionProjector* projector_;
  int64_t width_;
  torch::Tensor pos_embedding, pos_embedding_2d;
};

// "model.embed_vision" / "model.embed_audio" of the released model: a bias-free projection into
// the text hidden size, applied after a weightless RMSNorm.
class MultimodalProjection : public torch::nn::Module {
 public:
  MultimodalProjection(int64_t in, int64_t hidden, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // RMS0 then projection
  std::shared_ptr<Linear> embedding_projection;

 private:
  double eps_;
};

// "model.embed_audio" for every audio variant (its record in projectors.h builds and runs it).
class AudioEmbedder : public torch::nn::Module {
 public:
  AudioEmbedder(const AudioConfig& a, int64_t hidden);
  // frames [T, F] -> soft tokens [T, H]
  torch::Tensor forward(const torch::Tensor& frames);
  // Hann-windowed power spectrum of each frame -> mel bands -> log (the logmel variant).
  torch::Tensor log_mel(const torch::Tensor& frames) const;

  std::shared_ptr<Linear> embedding_projection;
  torch::nn::Conv1d conv1{nullptr}, conv2{nullptr};
  torch::Tensor mel_filters, window;  // buffers of logmel (not checkpoint tensors)
  const AudioConfig& config() const { return a_; }

 private:
  AudioConfig a_;
  const AudioProjector* projector_;
};

// Averages the valid soft tokens of each pooling x pooling cell; `tokens` [n, H] are the valid
// rows in row-major grid order, returns [pooled_token_count, H] in row-major order of the cells.
torch::Tensor pool_tokens(const torch::Tensor& tokens, int64_t grid_h, int64_t grid_w, int64_t pooling);

// Mel filterbank [n_mels, n_fft/2 + 1] (HTK mel scale, triangular, Slaney-style area
// normalisation off), as used by the logmel audio variant.
torch::Tensor mel_filterbank(int64_t n_fft, int64_t sample_rate, int64_t n_mels);

}  // namespace g4u::model
