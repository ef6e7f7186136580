// The whole Gemma 4 unified model: text decoder plus (issue 3) the vision and audio embedders,
// under the HF module tree so parameter names equal the checkpoint's tensor names.
#pragma once

#include "model/io/config.h"
#include "model/text/decoder.h"
#include "model/multimodal/embedders.h"
#include "model/io/tensor_specs.h"

#include <torch/torch.h>

#include <memory>
#include <string>

namespace g4u::model {

// "model" in the HF tree: holds language_model (and the multimodal embedders).
class Gemma4Body : public torch::nn::Module {
 public:
  explicit Gemma4Body(const ModelConfig& c);
  std::shared_ptr<TextModel> language_model;
  std::shared_ptr<VisionEmbedder> vision_embedder;    // null without a vision config
  std::shared_ptr<MultimodalProjection> embed_vision;  // gemma4 projector only
  std::shared_ptr<AudioEmbedder> embed_audio;          // null without an audio config
};

class Gemma4Model : public torch::nn::Module {
 public:
  explicit Gemma4Model(const ModelConfig& c);
  const ModelConfig& config() const { return config_; }
  TextModel& text() { return *body->language_model; }
  const TextModel& text() const { return *body->language_model; }
  torch::ScalarType dtype() const { return body->language_model->dtype(); }  // the run dtype
  torch::Device device() const { return body->language_model->device(); }    // where it runs
  // The checkpoint tensors this module holds (model/io/tensor_specs.h), in checkpoint order.
  std::vector<TensorSpec> tensor_specs() const;

  // Soft tokens of images: pixels [N, budget, P], positions [N, budget, 2] -> [N, budget, H]
  // (padding rows included; the caller keeps the valid ones). Not scaled by sqrt(H).
  torch::Tensor embed_image_patches(const torch::Tensor& pixels, const torch::Tensor& positions);
  // Soft tokens of one audio clip: frames [T, F] -> [T, H].
  torch::Tensor embed_audio_frames(const torch::Tensor& frames);

  std::shared_ptr<Gemma4Body> body;

 private:
  ModelConfig config_;
};

// Deterministic random values for one checkpoint tensor, generated in fixed chunks of
// kInitChunk elements (chunk i from its own generator seeded by (seed, name, i)) so a streamed writer
// (`g4u init`) and an in-memory model produce identical weights without materialising whole tensors.
constexpr int64_t kInitChunk = int64_t(1) << 22;
// Fills elements [chunk * kInitChunk, ...) of `spec` into `out` (flat, fp32, at most kInitChunk).
void random_init_chunk(const TensorSpec& spec, uint64_t seed, int64_t chunk, torch::Tensor out);
// The whole tensor in `dtype` (each chunk drawn in fp32, then rounded, as `g4u init --dtype`
// writes it), its chunks drawn in parallel on LibTorch's threads: the same values on any count.
torch::Tensor random_init_tensor(const TensorSpec& spec, uint64_t seed, torch::ScalarType dtype = torch::kFloat32);

// Initialises every parameter of `module` whose name appears in `specs` (all must match by name
// and shape; a mismatch is a bug in g4u).
void init_random(torch::nn::Module& module, const std::vector<TensorSpec>& specs, uint64_t seed);

// Checks that the module's parameters are exactly `specs` (names and shapes).
void check_parameters_match(const torch::nn::Module& module, const std::vector<TensorSpec>& specs);

}  // namespace g4u::model
