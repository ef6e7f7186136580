#include "model/multimodal/projectors.h"

#include "base/error.h"
#include "model/multimodal/embedders.h"

#include <algorithm>

namespace g4u::model {
namespace {

const std::vector<std::string> kPositions = {"factorized", "learned2d", "sincos2d", "none"};
const std::string kVisionPrefix = "model.vision_embedder.";
const std::string kAudioPrefix = "model.embed_audio.";

TensorSpec vision_spec(const std::string& name, std::vector<int64_t> shape, TensorKind kind) {
  return {kVisionPrefix + name, std::move(shape), "vision_embedder", kind};
}
TensorSpec audio_spec(const std::string& name, std::vector<int64_t> shape, TensorKind kind) {
  return {kAudioPrefix + name, std::move(shape), "audio_projection", kind};
}
void add_dense_specs(std::vector<TensorSpec>& out, const std::string& name, int64_t out_dim, int64_t in_dim) {
  out.push_back(vision_spec(name + ".weight", {out_dim, in_dim}, TensorKind::kLinear));
  out.push_back(vision_spec(name + ".bias", {out_dim}, TensorKind::kBias));
}
void add_layer_norm_specs(std::vector<TensorSpec>& out, const std::string& name, int64_t dim) {
  out.push_back(vision_spec(name + ".weight", {dim}, TensorKind::kNorm));
  out.push_back(vision_spec(name + ".bias", {dim}, TensorKind::kBias));
}

torch::nn::LayerNorm layer_norm(const VisionConfig& v, int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(v.layer_norm_eps));
}

// LayerNorm computed in fp32 and rounded to the input's dtype. LibTorch 1.13's CPU kernel loses
// precision in bf16 when values vary little around a large mean — a patch of near-uniform
// background (13 % relative error at spread / mean = 0.02) — which PyTorch's float-accumulating
// kernel does not; in bf16 the main job's model then answered count-shapes items in
// chart-highest's format. In fp32 this is the same operation.
torch::Tensor layer_norm_f32(torch::nn::LayerNorm& ln, const torch::Tensor& x) {
  if (x.scalar_type() == torch::kFloat32) return ln->forward(x);
  return torch::layer_norm(x.to(torch::kFloat32), ln->options.normalized_shape(), ln->weight.to(torch::kFloat32),
                           ln->bias.to(torch::kFloat32), ln->options.eps())
      .to(x.scalar_type());
}

// The conv stem: Conv 3->32 (k4 s4) -> GELU -> Conv 32->64 (k2 s2) -> GELU over each model patch.
int64_t conv_stem_width(const VisionConfig& v) {
  const int64_t g = v.model_patch_size() / 8;
  return kVisionConvC2 * g * g;
}

// The variants without the released projection: [stem ->] Linear -> H [-> GELU -> Linear H->H].
VisionProjector direct_projector(std::string name, bool positions, bool conv, bool mlp) {
  VisionProjector p;
  p.name = std::move(name);
  p.positions = positions;
  p.validate = [conv](const VisionConfig& v, const std::string& where) {
    if (conv && v.model_patch_size() % 8)
      throw_input("{}: vision_config: the conv stem needs a model patch size divisible by 8 (got {})", where,
                  v.model_patch_size());
  };
  p.width = [](const VisionConfig&, int64_t hidden) { return hidden; };
  p.specs = [conv, mlp](const VisionConfig& v, int64_t H) {
    std::vector<TensorSpec> out;
    if (conv) {
      out.push_back(vision_spec("conv1.weight", {kVisionConvC1, 3, 4, 4}, TensorKind::kLinear));
      out.push_back(vision_spec("conv1.bias", {kVisionConvC1}, TensorKind::kBias));
      out.push_back(vision_spec("conv2.weight", {kVisionConvC2, kVisionConvC1, 2, 2}, TensorKind::kLinear));
      out.push_back(vision_spec("conv2.bias", {kVisionConvC2}, TensorKind::kBias));
    }
    add_dense_specs(out, "patch_dense", H, conv ? conv_stem_width(v) : v.patch_dim());
    if (mlp) add_dense_specs(out, "mlp_out", H, H);
    return out;
  };
  p.build = [conv, mlp](VisionEmbedder& e, const VisionConfig& v, int64_t H) {
    if (conv) {
      e.conv1 = e.register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, kVisionConvC1, 4).stride(4)));
      e.conv2 = e.register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(kVisionConvC1, kVisionConvC2, 2).stride(2)));
    }
    e.patch_dense = e.register_module("patch_dense", torch::nn::Linear(conv ? conv_stem_width(v) : v.patch_dim(), H));
    if (mlp) e.mlp_out = e.register_module("mlp_out", torch::nn::Linear(H, H));
  };
  p.stem = [conv, mlp](VisionEmbedder& e, const torch::Tensor& pixels) {
    torch::Tensor z = pixels.to(e.patch_dense->weight.scalar_type());
    if (conv) {
      const auto sizes = z.sizes().vec();  // [N, B, P]
      const int64_t side = e.config().model_patch_size();
      torch::Tensor img = z.reshape({-1, side, side, 3}).permute({0, 3, 1, 2});  // HWC patch -> CHW
      img = gelu_tanh(e.conv2->forward(gelu_tanh(e.conv1->forward(img))));
      z = img.flatten(1).reshape({sizes[0], sizes[1], -1});
    }
    z = e.patch_dense->forward(z);
    return mlp ? e.mlp_out->forward(gelu_tanh(z)) : z;
  };
  return p;
}

// The released embedder (architecture doc §3.3): LayerNorm -> Linear P->D -> LayerNorm,
// + position, LayerNorm; then model.embed_vision projects D (= output_proj_dims) to H.
VisionProjector gemma4_vision() {
  VisionProjector p;
  p.name = "gemma4";
  p.projection = true;
  p.validate = [](const VisionConfig& v, const std::string& where) {
    // The embedder's rows (mm_embed_dim wide) are what the projection reads (output_proj_dims
    // wide); the text width is the projection's output and may differ from both.
    if (v.output_proj_dims != v.mm_embed_dim)
      throw_input("{}: vision_config.output_proj_dims {} contradicts mm_embed_dim {} (the embedder's width is the "
                  "projection's input)", where, v.output_proj_dims, v.mm_embed_dim);
  };
  p.width = [](const VisionConfig& v, int64_t) { return v.mm_embed_dim; };
  p.specs = [](const VisionConfig& v, int64_t H) {
    std::vector<TensorSpec> out;
    const int64_t P = v.patch_dim(), D = v.mm_embed_dim;
    add_layer_norm_specs(out, "patch_ln1", P);
    add_dense_specs(out, "patch_dense", D, P);
    add_layer_norm_specs(out, "patch_ln2", D);
    add_layer_norm_specs(out, "pos_norm", D);
    // The projection maps the embedder's width (output_proj_dims) to the text width.
    out.push_back({"model.embed_vision.embedding_projection.weight", {H, v.output_proj_dims}, "vision_projection",
                   TensorKind::kLinear});
    return out;
  };
  p.build = [](VisionEmbedder& e, const VisionConfig& v, int64_t) {
    const int64_t P = v.patch_dim(), D = v.mm_embed_dim;
    e.patch_ln1 = e.register_module("patch_ln1", layer_norm(v, P));
    e.patch_dense = e.register_module("patch_dense", torch::nn::Linear(P, D));
    e.patch_ln2 = e.register_module("patch_ln2", layer_norm(v, D));
    e.pos_norm = e.register_module("pos_norm", layer_norm(v, D));
  };
  p.stem = [](VisionEmbedder& e, const torch::Tensor& pixels) {
    torch::Tensor z = pixels.to(e.patch_dense->weight.scalar_type());
    return layer_norm_f32(e.patch_ln2, e.patch_dense->forward(layer_norm_f32(e.patch_ln1, z)));
  };
  p.finish = [](VisionEmbedder& e, const torch::Tensor& z) { return layer_norm_f32(e.pos_norm, z); };
  return p;
}

// Audio: an optional front end, then the bias-free embedding_projection -> H.
AudioProjector audio_projector(std::string name) {
  AudioProjector p;
  p.name = std::move(name);
  p.validate = [](const AudioConfig&, const std::string&) {};
  return p;
}

int64_t audio_projection_input(const AudioConfig& a) {
  if (a.projector == "logmel") return kAudioMelBands;
  if (a.projector == "conv1d") return kAudioConvChannels * audio_conv_output_length(a.audio_embed_dim);
  return a.audio_embed_dim;
}

std::vector<TensorSpec> audio_projection_spec(const AudioConfig& a, int64_t H) {
  return {audio_spec("embedding_projection.weight", {H, audio_projection_input(a)}, TensorKind::kLinear)};
}

void build_audio_projection(AudioEmbedder& e, const AudioConfig& a, int64_t H) {
  e.embedding_projection = e.register_module("embedding_projection", std::make_shared<DenseLinear>(audio_projection_input(a), H));
}

}  // namespace

const Registry<VisionProjector>& vision_projectors() {
  static const Registry<VisionProjector> r = [] {
    Registry<VisionProjector> reg("vision projector");
    reg.add(gemma4_vision());
    reg.add(direct_projector("linear", /*positions=*/false, /*conv=*/false, /*mlp=*/false));
    reg.add(direct_projector("linear-pos", true, false, false));
    reg.add(direct_projector("mlp2", true, false, true));
    reg.add(direct_projector("conv", true, true, false));
    return reg;
  }();
  return r;
}

const Registry<AudioProjector>& audio_projectors() {
  static const Registry<AudioProjector> r = [] {
    Registry<AudioProjector> reg("audio projector");
    // The released path: RMSNorm without weight over the raw frame, then the projection.
    AudioProjector gemma4 = audio_projector("gemma4");
    gemma4.specs = audio_projection_spec;
    gemma4.build = build_audio_projection;
    gemma4.forward = [](AudioEmbedder& e, const torch::Tensor& frames) {
      torch::ScalarType dtype = e.embedding_projection->input_dtype();
      return e.embedding_projection->forward(rms_norm(frames.to(dtype), {}, e.config().rms_norm_eps));
    };
    reg.add(gemma4);

    AudioProjector logmel = audio_projector("logmel");
    logmel.validate = [](const AudioConfig& a, const std::string& where) {
      if (a.audio_embed_dim < 2 * kAudioMelBands)
        throw_input("{}: audio_config: frames of {} samples are too short for {} mel bands", where, a.audio_embed_dim,
                    kAudioMelBands);
    };
    logmel.specs = audio_projection_spec;
    logmel.build = [](AudioEmbedder& e, const AudioConfig& a, int64_t H) {
      e.mel_filters = mel_filterbank(a.audio_embed_dim, a.sample_rate, kAudioMelBands);
      e.window = torch::hann_window(a.audio_embed_dim);
      build_audio_projection(e, a, H);
    };
    logmel.forward = [](AudioEmbedder& e, const torch::Tensor& frames) {
      torch::ScalarType dtype = e.embedding_projection->input_dtype();
      return e.embedding_projection->forward(rms_norm(e.log_mel(frames).to(dtype), {}, e.config().rms_norm_eps));
    };
    reg.add(logmel);

    AudioProjector conv1d = audio_projector("conv1d");
    conv1d.validate = [](const AudioConfig& a, const std::string& where) {
      if (audio_conv_output_length(a.audio_embed_dim) < 1)
        throw_input("{}: audio_config: frames of {} samples are too short for the conv1d stem", where, a.audio_embed_dim);
    };
    conv1d.specs = [](const AudioConfig& a, int64_t H) {
      std::vector<TensorSpec> out = {
          audio_spec("conv1.weight", {kAudioConvChannels, 1, 16}, TensorKind::kLinear),
          audio_spec("conv1.bias", {kAudioConvChannels}, TensorKind::kBias),
          audio_spec("conv2.weight", {kAudioConvChannels, kAudioConvChannels, 8}, TensorKind::kLinear),
          audio_spec("conv2.bias", {kAudioConvChannels}, TensorKind::kBias)};
      for (auto& s : audio_projection_spec(a, H)) out.push_back(s);
      return out;
    };
    conv1d.build = [](AudioEmbedder& e, const AudioConfig& a, int64_t H) {
      e.conv1 = e.register_module("conv1", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, kAudioConvChannels, 16).stride(8)));
      e.conv2 = e.register_module("conv2", torch::nn::Conv1d(torch::nn::Conv1dOptions(kAudioConvChannels, kAudioConvChannels, 8).stride(4)));
      build_audio_projection(e, a, H);
    };
    conv1d.forward = [](AudioEmbedder& e, const torch::Tensor& frames) {
      torch::Tensor z = frames.to(e.conv1->weight.scalar_type()).unsqueeze(1);  // [T, 1, F]
      z = gelu_tanh(e.conv2->forward(gelu_tanh(e.conv1->forward(z))));
      return e.embedding_projection->forward(z.flatten(1).to(e.embedding_projection->input_dtype()));
    };
    reg.add(conv1d);
    return reg;
  }();
  return r;
}

std::vector<std::string> vision_projector_names() {
  std::vector<std::string> out;
  for (const auto& p : vision_projectors().all()) out.push_back(p.name);
  return out;
}
std::vector<std::string> vision_position_names() { return kPositions; }
std::vector<std::string> audio_projector_names() {
  std::vector<std::string> out;
  for (const auto& p : audio_projectors().all()) out.push_back(p.name);
  return out;
}

int64_t vision_position_dim(const VisionConfig& v, int64_t hidden) {
  return vision_projectors().find(v.projector).width(v, hidden);
}

int64_t audio_conv_output_length(int64_t frame) {
  int64_t l1 = (frame - 16) / 8 + 1;
  return (l1 - 8) / 4 + 1;
}

void validate_vision_variant(const VisionConfig& v, int64_t hidden, const std::string& where) {
  const VisionProjector* p = vision_projectors().lookup(v.projector);
  if (!p)
    throw_input("{}: vision_config.g4u_projector '{}' is unknown (known: {})", where, v.projector,
                vision_projectors().names());
  if (std::find(kPositions.begin(), kPositions.end(), v.position) == kPositions.end())
    throw_input("{}: vision_config.g4u_position '{}' is unknown (known: {})", where, v.position,
                fmt::format("{}", fmt::join(kPositions, ", ")));
  if (!p->positions && v.position != "none")
    throw_input("{}: vision_config: projector '{}' has no position embedding (use linear-pos)", where, p->name);
  if (v.token_pooling < 1) throw_input("{}: vision_config.g4u_token_pooling must be >= 1", where);
  if (v.position == "sincos2d" && p->width(v, hidden) % 4)
    throw_input("{}: vision_config: sincos2d positions need a width divisible by 4", where);
  p->validate(v, where);
}

void validate_audio_variant(const AudioConfig& a, int64_t hidden, const std::string& where) {
  const AudioProjector* p = audio_projectors().lookup(a.projector);
  if (!p)
    throw_input("{}: audio_config.g4u_projector '{}' is unknown (known: {})", where, a.projector,
                audio_projectors().names());
  p->validate(a, where);
}

std::vector<TensorSpec> vision_tensor_specs(const VisionConfig& v, int64_t H) {
  const VisionProjector& p = vision_projectors().find(v.projector);
  std::vector<TensorSpec> out = p.specs(v, H);
  const int64_t dim = p.width(v, H);
  // The position table comes after the variant's own layers: before gemma4's pos_norm (the norm
  // that follows the addition) or its projection, else last.
  auto at = std::find_if(out.begin(), out.end(), [](const TensorSpec& s) {
    return s.component != "vision_embedder" || s.name == kVisionPrefix + "pos_norm.weight";
  });
  if (v.position == "factorized")
    at = std::next(out.insert(at, vision_spec("pos_embedding", {v.mm_posemb_size, 2, dim}, TensorKind::kTable)));
  if (v.position == "learned2d")
    out.insert(at, vision_spec("pos_embedding_2d", {v.mm_posemb_size, v.mm_posemb_size, dim}, TensorKind::kTable));
  return out;
}

std::vector<TensorSpec> audio_tensor_specs(const AudioConfig& a, int64_t H) {
  return audio_projectors().find(a.projector).specs(a, H);
}

int64_t pooled_token_count(int64_t grid_h, int64_t grid_w, int64_t pooling) {
  return ((grid_h + pooling - 1) / pooling) * ((grid_w + pooling - 1) / pooling);
}

}  // namespace g4u::model
