#include "model/multimodal/embedders.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>

namespace g4u::model {

// ---- vision ----------------------------------------------------------------------------------

VisionEmbedder::VisionEmbedder(const VisionConfig& v, int64_t hidden) : v_(v), hidden_(hidden) {
  const int64_t P = v.patch_dim(), D = v.mm_embed_dim;
  auto ln = [&](int64_t n) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({n}).eps(v.layer_norm_eps)); };
  int64_t pos_dim = vision_position_dim(v, hidden);
  if (v.projector == "gemma4") {
    patch_ln1 = register_module("patch_ln1", ln(P));
    patch_dense = register_module("patch_dense", torch::nn::Linear(P, D));
    patch_ln2 = register_module("patch_ln2", ln(D));
    pos_norm = register_module("pos_norm", ln(D));
  } else {
    int64_t in = P;
    if (v.projector == "conv") {
      conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, kVisionConvC1, 4).stride(4)));
      conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(kVisionConvC1, kVisionConvC2, 2).stride(2)));
      int64_t g = v.model_patch_size() / 8;
      in = kVisionConvC2 * g * g;
    }
    patch_dense = register_module("patch_dense", torch::nn::Linear(in, hidden));
    if (v.projector == "mlp2") mlp_out = register_module("mlp_out", torch::nn::Linear(hidden, hidden));
  }
  if (v.position == "factorized")
    pos_embedding = register_parameter("pos_embedding", torch::zeros({v.mm_posemb_size, 2, pos_dim}));
  if (v.position == "learned2d")
    pos_embedding_2d = register_parameter("pos_embedding_2d", torch::zeros({v.mm_posemb_size, v.mm_posemb_size, pos_dim}));
}

int64_t VisionEmbedder::output_dim() const { return v_.projector == "gemma4" ? v_.mm_embed_dim : hidden_; }

torch::Tensor VisionEmbedder::position_embedding(const torch::Tensor& positions, int64_t dim,
                                                 torch::ScalarType dtype) const {
  // positions [N, B, 2] (x, y); padding rows are (-1, -1) and contribute zero.
  torch::Tensor valid = (positions.select(-1, 0) >= 0).unsqueeze(-1).to(dtype);
  torch::Tensor x = positions.select(-1, 0).clamp_min(0), y = positions.select(-1, 1).clamp_min(0);
  if (v_.position == "factorized") {
    torch::Tensor tx = pos_embedding.select(1, 0), ty = pos_embedding.select(1, 1);  // [S, dim]
    return (torch::embedding(tx, x) + torch::embedding(ty, y)) * valid;
  }
  if (v_.position == "learned2d") {
    torch::Tensor flat = pos_embedding_2d.reshape({-1, dim});  // index y * S + x
    return torch::embedding(flat, y * v_.mm_posemb_size + x) * valid;
  }
  // sincos2d: first half encodes y, second half x; each half sin then cos over dim/4 frequencies.
  const int64_t q = dim / 4;
  torch::Tensor omega = 1.0 / torch::pow(10000.0, torch::arange(q, torch::kFloat32) / static_cast<double>(q));
  auto enc = [&](const torch::Tensor& c) {
    torch::Tensor a = c.to(torch::kFloat32).unsqueeze(-1) * omega;
    return torch::cat({a.sin(), a.cos()}, -1);
  };
  return (torch::cat({enc(y), enc(x)}, -1).to(dtype)) * valid;
}

torch::Tensor VisionEmbedder::forward(const torch::Tensor& pixels, const torch::Tensor& positions) {
  torch::ScalarType dtype = patch_dense->weight.scalar_type();
  torch::Tensor z = pixels.to(dtype);
  if (v_.projector == "gemma4") {
    z = patch_ln2->forward(patch_dense->forward(patch_ln1->forward(z)));
    z = z + position_embedding(positions, v_.mm_embed_dim, dtype);
    return pos_norm->forward(z);
  }
  if (v_.projector == "conv") {
    const int64_t p = v_.model_patch_size();
    auto sizes = z.sizes().vec();  // [N, B, P]
    torch::Tensor img = z.reshape({-1, p, p, 3}).permute({0, 3, 1, 2});  // HWC patch -> CHW
    img = gelu_tanh(conv2->forward(gelu_tanh(conv1->forward(img))));
    z = img.flatten(1).reshape({sizes[0], sizes[1], -1});
  }
  z = patch_dense->forward(z);
  if (v_.projector == "mlp2") z = mlp_out->forward(gelu_tanh(z));
  if (v_.position != "none") z = z + position_embedding(positions, hidden_, dtype);
  return z;
}

MultimodalProjection::MultimodalProjection(int64_t in, int64_t hidden, double eps) : eps_(eps) {
  embedding_projection = register_module("embedding_projection", std::make_shared<DenseLinear>(in, hidden));
}

torch::Tensor MultimodalProjection::forward(const torch::Tensor& x) {
  return embedding_projection->forward(rms_norm(x, torch::Tensor(), eps_));
}

torch::Tensor pool_tokens(const torch::Tensor& tokens, int64_t grid_h, int64_t grid_w, int64_t pooling) {
  G4U_CHECK(tokens.size(0) == grid_h * grid_w, "{} tokens for a {}x{} grid", tokens.size(0), grid_h, grid_w);
  if (pooling == 1) return tokens;
  const int64_t H = tokens.size(1);
  const int64_t ph = (grid_h + pooling - 1) / pooling, pw = (grid_w + pooling - 1) / pooling;
  // Pad the grid to a multiple of the pooling size and average only the real cells.
  torch::Tensor grid = torch::zeros({ph * pooling, pw * pooling, H}, tokens.options());
  torch::Tensor count = torch::zeros({ph * pooling, pw * pooling, 1}, tokens.options());
  grid.narrow(0, 0, grid_h).narrow(1, 0, grid_w).copy_(tokens.view({grid_h, grid_w, H}));
  count.narrow(0, 0, grid_h).narrow(1, 0, grid_w).fill_(1);
  auto cells = [&](const torch::Tensor& t) {
    return t.view({ph, pooling, pw, pooling, t.size(2)}).sum({1, 3});
  };
  return (cells(grid) / cells(count)).view({ph * pw, H});
}

// ---- audio -----------------------------------------------------------------------------------

torch::Tensor mel_filterbank(int64_t n_fft, int64_t sample_rate, int64_t n_mels) {
  const int64_t bins = n_fft / 2 + 1;
  auto hz_to_mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  auto mel_to_hz = [](double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); };
  double top = hz_to_mel(sample_rate / 2.0);
  std::vector<double> edges(n_mels + 2);
  for (int64_t i = 0; i < n_mels + 2; ++i) edges[i] = mel_to_hz(top * i / (n_mels + 1));
  torch::Tensor fb = torch::zeros({n_mels, bins}, torch::kFloat32);
  auto acc = fb.accessor<float, 2>();
  for (int64_t m = 0; m < n_mels; ++m)
    for (int64_t b = 0; b < bins; ++b) {
      double f = static_cast<double>(b) * sample_rate / n_fft;
      double up = (f - edges[m]) / (edges[m + 1] - edges[m]);
      double down = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
      acc[m][b] = static_cast<float>(std::max(0.0, std::min(up, down)));
    }
  return fb;
}

AudioEmbedder::AudioEmbedder(const AudioConfig& a, int64_t hidden) : a_(a) {
  int64_t in = a.audio_embed_dim;
  if (a.projector == "logmel") {
    in = kAudioMelBands;
    mel_filters_ = mel_filterbank(a.audio_embed_dim, a.sample_rate, kAudioMelBands);
    window_ = torch::hann_window(a.audio_embed_dim);
  } else if (a.projector == "conv1d") {
    conv1 = register_module("conv1", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, kAudioConvChannels, 16).stride(8)));
    conv2 = register_module("conv2", torch::nn::Conv1d(torch::nn::Conv1dOptions(kAudioConvChannels, kAudioConvChannels, 8).stride(4)));
    in = kAudioConvChannels * audio_conv_output_length(a.audio_embed_dim);
  }
  embedding_projection = register_module("embedding_projection", std::make_shared<DenseLinear>(in, hidden));
}

torch::Tensor AudioEmbedder::log_mel(const torch::Tensor& frames) const {
  // One STFT window per soft token: n_fft = hop = frame length, no centring.
  const int64_t F = frames.size(1);
  torch::Tensor spec = torch::stft(frames.to(torch::kFloat32).reshape({-1}), F, F, F, window_, false, true, true);
  torch::Tensor power = spec.abs().pow(2).transpose(0, 1);  // [T, F/2+1]
  return torch::log(torch::matmul(power, mel_filters_.t()) + 1e-6);
}

torch::Tensor AudioEmbedder::forward(const torch::Tensor& frames) {
  torch::ScalarType dtype = embedding_projection->input_dtype();
  if (a_.projector == "logmel") return embedding_projection->forward(rms_norm(log_mel(frames).to(dtype), {}, a_.rms_norm_eps));
  if (a_.projector == "conv1d") {
    torch::Tensor z = frames.to(conv1->weight.scalar_type()).unsqueeze(1);  // [T, 1, F]
    z = gelu_tanh(conv2->forward(gelu_tanh(conv1->forward(z))));
    return embedding_projection->forward(z.flatten(1).to(dtype));
  }
  return embedding_projection->forward(rms_norm(frames.to(dtype), {}, a_.rms_norm_eps));
}

}  // namespace g4u::model
