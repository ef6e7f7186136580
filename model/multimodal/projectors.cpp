#include "model/multimodal/projectors.h"

#include "base/error.h"

#include <algorithm>

namespace g4u::model {
namespace {

const std::vector<std::string> kVisionProjectors = {"gemma4", "linear", "linear-pos", "mlp2", "conv"};
const std::vector<std::string> kPositions = {"factorized", "learned2d", "sincos2d", "none"};
const std::vector<std::string> kAudioProjectors = {"gemma4", "logmel", "conv1d"};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

int64_t vision_position_dim(const VisionConfig& v, int64_t hidden) {
  return v.projector == "gemma4" ? v.mm_embed_dim : hidden;
}

int64_t audio_conv_output_length(int64_t frame) {
  int64_t l1 = (frame - 16) / 8 + 1;
  return (l1 - 8) / 4 + 1;
}

std::vector<std::string> vision_projector_names() { return kVisionProjectors; }
std::vector<std::string> vision_position_names() { return kPositions; }
std::vector<std::string> audio_projector_names() { return kAudioProjectors; }

void validate_vision_variant(const VisionConfig& v, int64_t hidden, const std::string& where) {
  if (!contains(kVisionProjectors, v.projector))
    throw_input("{}: vision_config.g4u_projector '{}' is unknown (known: {})", where, v.projector, joined(kVisionProjectors));
  if (!contains(kPositions, v.position))
    throw_input("{}: vision_config.g4u_position '{}' is unknown (known: {})", where, v.position, joined(kPositions));
  if (v.projector == "linear" && v.position != "none")
    throw_input("{}: vision_config: projector 'linear' has no position embedding (use linear-pos)", where);
  if (v.token_pooling < 1) throw_input("{}: vision_config.g4u_token_pooling must be >= 1", where);
  // The gemma4 embedder's rows (mm_embed_dim wide) are what the projection reads (output_proj_dims
  // wide); the text width is the projection's output and may differ from both.
  if (v.projector == "gemma4" && v.output_proj_dims != v.mm_embed_dim)
    throw_input("{}: vision_config.output_proj_dims {} contradicts mm_embed_dim {} (the embedder's width is the "
                "projection's input)", where, v.output_proj_dims, v.mm_embed_dim);
  if (v.position == "sincos2d" && vision_position_dim(v, hidden) % 4)
    throw_input("{}: vision_config: sincos2d positions need a width divisible by 4", where);
  if (v.projector == "conv" && v.model_patch_size() % 8)
    throw_input("{}: vision_config: the conv stem needs a model patch size divisible by 8 (got {})", where,
                v.model_patch_size());
}

void validate_audio_variant(const AudioConfig& a, int64_t hidden, const std::string& where) {
  if (!contains(kAudioProjectors, a.projector))
    throw_input("{}: audio_config.g4u_projector '{}' is unknown (known: {})", where, a.projector, joined(kAudioProjectors));
  if (a.projector == "conv1d" && audio_conv_output_length(a.audio_embed_dim) < 1)
    throw_input("{}: audio_config: frames of {} samples are too short for the conv1d stem", where, a.audio_embed_dim);
  if (a.projector == "logmel" && a.audio_embed_dim < 2 * kAudioMelBands)
    throw_input("{}: audio_config: frames of {} samples are too short for {} mel bands", where, a.audio_embed_dim,
                kAudioMelBands);
}

std::vector<TensorSpec> vision_tensor_specs(const VisionConfig& v, int64_t H) {
  std::vector<TensorSpec> out;
  const std::string p = "model.vision_embedder.";
  const std::string comp = "vision_embedder";
  const int64_t P = v.patch_dim(), D = v.mm_embed_dim;
  auto add = [&](const std::string& n, std::vector<int64_t> s, TensorKind k, const std::string& c = "vision_embedder") {
    out.push_back({n, std::move(s), c, k});
  };
  auto add_position = [&](int64_t dim) {
    if (v.position == "factorized") add(p + "pos_embedding", {v.mm_posemb_size, 2, dim}, TensorKind::kTable);
    if (v.position == "learned2d") add(p + "pos_embedding_2d", {v.mm_posemb_size, v.mm_posemb_size, dim}, TensorKind::kTable);
  };
  if (v.projector == "gemma4") {
    add(p + "patch_ln1.weight", {P}, TensorKind::kNorm);
    add(p + "patch_ln1.bias", {P}, TensorKind::kBias);
    add(p + "patch_dense.weight", {D, P}, TensorKind::kLinear);
    add(p + "patch_dense.bias", {D}, TensorKind::kBias);
    add(p + "patch_ln2.weight", {D}, TensorKind::kNorm);
    add(p + "patch_ln2.bias", {D}, TensorKind::kBias);
    add_position(D);
    add(p + "pos_norm.weight", {D}, TensorKind::kNorm);
    add(p + "pos_norm.bias", {D}, TensorKind::kBias);
    // The projection maps the embedder's width (output_proj_dims) to the text width.
    add("model.embed_vision.embedding_projection.weight", {H, v.output_proj_dims}, TensorKind::kLinear, "vision_projection");
    return out;
  }
  int64_t in = P;
  if (v.projector == "conv") {
    int64_t g = v.model_patch_size() / 8;
    add(p + "conv1.weight", {kVisionConvC1, 3, 4, 4}, TensorKind::kLinear);
    add(p + "conv1.bias", {kVisionConvC1}, TensorKind::kBias);
    add(p + "conv2.weight", {kVisionConvC2, kVisionConvC1, 2, 2}, TensorKind::kLinear);
    add(p + "conv2.bias", {kVisionConvC2}, TensorKind::kBias);
    in = kVisionConvC2 * g * g;
  }
  add(p + "patch_dense.weight", {H, in}, TensorKind::kLinear);
  add(p + "patch_dense.bias", {H}, TensorKind::kBias);
  if (v.projector == "mlp2") {
    add(p + "mlp_out.weight", {H, H}, TensorKind::kLinear);
    add(p + "mlp_out.bias", {H}, TensorKind::kBias);
  }
  add_position(H);
  return out;
}

std::vector<TensorSpec> audio_tensor_specs(const AudioConfig& a, int64_t H) {
  std::vector<TensorSpec> out;
  const std::string p = "model.embed_audio.";
  const std::string comp = "audio_projection";
  if (a.projector == "conv1d") {
    out.push_back({p + "conv1.weight", {kAudioConvChannels, 1, 16}, comp, TensorKind::kLinear});
    out.push_back({p + "conv1.bias", {kAudioConvChannels}, comp, TensorKind::kBias});
    out.push_back({p + "conv2.weight", {kAudioConvChannels, kAudioConvChannels, 8}, comp, TensorKind::kLinear});
    out.push_back({p + "conv2.bias", {kAudioConvChannels}, comp, TensorKind::kBias});
    out.push_back({p + "embedding_projection.weight", {H, kAudioConvChannels * audio_conv_output_length(a.audio_embed_dim)}, comp,
                   TensorKind::kLinear});
  } else {
    int64_t in = a.projector == "logmel" ? kAudioMelBands : a.audio_embed_dim;
    out.push_back({p + "embedding_projection.weight", {H, in}, comp, TensorKind::kLinear});
  }
  return out;
}

int64_t pooled_token_count(int64_t grid_h, int64_t grid_w, int64_t pooling) {
  return ((grid_h + pooling - 1) / pooling) * ((grid_w + pooling - 1) / pooling);
}

}  // namespace g4u::model
