// Encoder-free multimodal embedders (architecture doc §3.3, §4) and the projector variants g4u
// offers for ablations. Every variant is one record of a registry (Registry<VisionProjector>,
// Registry<AudioProjector>) holding all of it: its checks, its tensor list (so parameter counts,
// random init, checkpoints and `g4u info` handle every variant alike), and how its modules are
// built and run. Adding a variant = adding one record in projectors.cpp.
//
// Vision (`vision_config.g4u_projector`):
//   gemma4      LayerNorm(eps 1e-5) -> Linear P->D (+bias) -> LayerNorm -> + position -> LayerNorm
//               -> RMSNorm without weight -> Linear D->H (no bias) — the released model
//   linear      Linear P->H (+bias), nothing else
//   linear-pos  Linear P->H (+bias) + position
//   mlp2        Linear P->H (+bias) -> GELU -> Linear H->H (+bias) (LLaVA-1.5 style)
//   conv        Conv 3->32 (k4 s4) -> GELU -> Conv 32->64 (k2 s2) -> GELU -> flatten -> Linear -> H
// Position (`g4u_position`): factorized (x and y tables, the released model), learned2d (one
// vector per (x, y) cell), sincos2d (fixed 2-D sinusoidal), none.
// Token pooling (`g4u_token_pooling` k): the soft tokens of each k x k cell of the patch grid are
// averaged into one (fewer tokens per image).
// P = model patch pixels^2 * 3, D = mm_embed_dim, H = text hidden size.
//
// Audio (`audio_config.g4u_projector`), F = samples per frame (audio_embed_dim: 320/640/1280):
//   gemma4      RMSNorm without weight over the F samples -> Linear F->H (no bias) — the released model
//   logmel      Hann-windowed power spectrum of the frame (torch STFT) -> 80 mel bands -> log ->
//               RMSNorm without weight -> Linear 80->H
//   conv1d      Conv1d 1->32 (k16 s8) -> GELU -> Conv1d 32->32 (k8 s4) -> GELU -> flatten -> Linear -> H
#pragma once

#include "base/registry.h"
#include "model/io/config.h"
#include "model/io/tensor_specs.h"

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace g4u::model {

class VisionEmbedder;
class AudioEmbedder;

// A vision projector variant (`vision_config.g4u_projector`). Its rows go through
//   z = stem(pixels); z += position (g4u_position, unless none); z = finish(z)
// and then, when `projection` is set, through model.embed_vision (RMS0 + Linear -> H).
struct VisionProjector {
  std::string name;
  bool projection = false;  // followed by model.embed_vision (the released design)
  bool positions = true;    // accepts a position embedding (g4u_position other than none)
  // Checks of this variant's sizes; InputError naming `where`.
  std::function<void(const VisionConfig& v, const std::string& where)> validate;
  // Width of the embedder's rows (what the position embedding is added to).
  std::function<int64_t(const VisionConfig& v, int64_t hidden)> width;
  // Its tensors besides the position table (canonical checkpoint names).
  std::function<std::vector<TensorSpec>(const VisionConfig& v, int64_t hidden)> specs;
  // Registers its modules on the embedder, and runs them before / after the position is added.
  std::function<void(VisionEmbedder& e, const VisionConfig& v, int64_t hidden)> build;
  std::function<torch::Tensor(VisionEmbedder& e, const torch::Tensor& pixels)> stem;
  std::function<torch::Tensor(VisionEmbedder& e, const torch::Tensor& z)> finish;  // empty: identity
};

// An audio projector variant (`audio_config.g4u_projector`): frames [T, F] -> soft tokens [T, H].
struct AudioProjector {
  std::string name;
  std::function<void(const AudioConfig& a, const std::string& where)> validate;
  std::function<std::vector<TensorSpec>(const AudioConfig& a, int64_t hidden)> specs;
  std::function<void(AudioEmbedder& e, const AudioConfig& a, int64_t hidden)> build;
  std::function<torch::Tensor(AudioEmbedder& e, const torch::Tensor& frames)> forward;
};

const Registry<VisionProjector>& vision_projectors();
const Registry<AudioProjector>& audio_projectors();

std::vector<std::string> vision_projector_names();
std::vector<std::string> vision_position_names();
std::vector<std::string> audio_projector_names();
// InputError naming `where` for unknown names or incompatible sizes.
void validate_vision_variant(const VisionConfig& v, int64_t hidden, const std::string& where);
void validate_audio_variant(const AudioConfig& a, int64_t hidden, const std::string& where);

// Tensor lists (canonical checkpoint names) of a variant.
std::vector<TensorSpec> vision_tensor_specs(const VisionConfig& v, int64_t hidden);
std::vector<TensorSpec> audio_tensor_specs(const AudioConfig& a, int64_t hidden);

// Soft tokens an image with a grid_h x grid_w patch grid becomes after token pooling.
int64_t pooled_token_count(int64_t grid_h, int64_t grid_w, int64_t pooling);

// Shared sizes of the variants.
constexpr int64_t kVisionConvC1 = 32, kVisionConvC2 = 64;  // vision conv stem channels
constexpr int64_t kAudioConvChannels = 32;                 // audio conv1d channels
constexpr int64_t kAudioMelBands = 80;
int64_t audio_conv_output_length(int64_t frame_length);
// Width of the vector the vision position embedding is added to (D for gemma4, else H).
int64_t vision_position_dim(const VisionConfig& v, int64_t hidden);

}  // namespace g4u::model
