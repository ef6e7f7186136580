#include "model/multimodal/embedders.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>

namespace g4u::model {

// ---- vision ----------------------------------------------------------------------------------

VisionEmbedder::VisionEmbedder(const VisionConfig& v, int64_t hidden)
    : v_(v), projector_(&vision_projectors().find(v.projector)), width_(projector_->width(v, hidden)) {
  projector_->build(*this, v, hidden);
  if (v.position == "factorized")
    pos_embedding = register_parameter("pos_embedding", torch::zeros({v.mm_posemb_size, 2, width_}));
  if (v.position == "learned2d")
    pos_embedding_2d = register_parameter("pos_embedding_2d", torch::zeros({v.mm_posemb_size, v.mm_posemb_size, width_}));
}

torch::Tensor VisionEmbedder::position_embedding(const torch::Tensor& positions, torch::ScalarType dtype) const {
  const int64_t dim = width_;
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
  torch::Tensor omega = 1.0 / torch::pow(10000.0, torch::arange(q, positions.options().dtype(torch::kFloat32)) / static_cast<double>(q));
  auto enc = [&](const torch::Tensor& c) {
    torch::Tensor a = c.to(torch::kFloat32).unsqueeze(-1) * omega;
    return torch::cat({a.sin(), a.cos()}, -1);
  };
  return (torch::cat({enc(y), enc(x)}, -1).to(dtype)) * valid;
}

torch::Tensor VisionEmbedder::forward(const torch::Tensor& pixels, const torch::Tensor& positions) {
  torch::Tensor z = projector_->stem(*this, pixels);
  if (v_.position != "none") z = z + position_embedding(positions, z.scalar_type());
  return projector_->finish ? projector_->finish(*this, z) : z;
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

AudioEmbedder::AudioEmbedder(const AudioConfig& a, int64_t hidden)
    : a_(a), projector_(&audio_projectors().find(a.projector)) {
  projector_->build(*this, a, hidden);
}

torch::Tensor AudioEmbedder::log_mel(const torch::Tensor& frames) const {
  // One STFT window per soft token: n_fft = hop = frame length, no centring.
  const int64_t F = frames.size(1);
  // The window and filters are not module buffers (no checkpoint tensors): they follow the frames.
  torch::Tensor spec = torch::stft(frames.to(torch::kFloat32).reshape({-1}), F, F, F, window.to(frames.device()),
                                   false, true, true);
  torch::Tensor power = spec.abs().pow(2).transpose(0, 1);  // [T, F/2+1]
  return torch::log(torch::matmul(power, mel_filters.to(frames.device()).t()) + 1e-6);
}

torch::Tensor AudioEmbedder::forward(const torch::Tensor& frames) { return projector_->forward(*this, frames); }

}  // namespace g4u::model
