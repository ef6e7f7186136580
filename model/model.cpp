#include "model/model.h"

#include "base/error.h"
#include "base/hash.h"
#include "base/rng.h"

#include <ATen/Parallel.h>

#include <map>

namespace g4u::model {

Gemma4Body::Gemma4Body(const ModelConfig& c) {
  language_model = register_module("language_model", std::make_shared<TextModel>(c.text));
  if (c.vision) {
    vision_embedder = register_module("vision_embedder", std::make_shared<VisionEmbedder>(*c.vision, c.text.hidden_size));
    if (vision_embedder->needs_projection())
      embed_vision = register_module(
          "embed_vision", std::make_shared<MultimodalProjection>(c.vision->output_proj_dims, c.text.hidden_size, c.vision->rms_norm_eps));
  }
  if (c.audio) embed_audio = register_module("embed_audio", std::make_shared<AudioEmbedder>(*c.audio, c.text.hidden_size));
}

torch::Tensor Gemma4Model::embed_image_patches(const torch::Tensor& pixels, const torch::Tensor& positions) {
  G4U_CHECK(body->vision_embedder, "model {} has no vision config", config_.name);
  // The processor's tensors are built on the CPU; the embedder runs where the model does.
  torch::Tensor z = body->vision_embedder->forward(pixels.to(device()), positions.to(device()));
  return body->embed_vision ? body->embed_vision->forward(z) : z;
}

torch::Tensor Gemma4Model::embed_audio_frames(const torch::Tensor& frames) {
  G4U_CHECK(body->embed_audio, "model {} has no audio config", config_.name);
  return body->embed_audio->forward(frames.to(device()));
}

Gemma4Model::Gemma4Model(const ModelConfig& c) : config_(c) {
  body = register_module("model", std::make_shared<Gemma4Body>(c));
}

std::vector<TensorSpec> Gemma4Model::tensor_specs() const { return model_tensor_specs(config_); }

namespace {
constexpr double kInitStd = 0.02;  // HF initializer_range
}  // namespace

void random_init_chunk(const TensorSpec& spec, uint64_t seed, int64_t chunk, torch::Tensor out) {
  switch (spec.kind) {
    case TensorKind::kNorm:
    case TensorKind::kScalar:
      out.fill_(1.0);
      return;
    case TensorKind::kBias:
      out.fill_(0.0);
      return;
    default:
      break;
  }
  uint64_t s = splitmix64(fnv1a64(spec.name, splitmix64(seed) ^ kFnv1a64Basis) + static_cast<uint64_t>(chunk));
  auto gen = at::detail::createCPUGenerator(s);
  out.normal_(0.0, kInitStd, gen);
}

torch::Tensor random_init_tensor(const TensorSpec& spec, uint64_t seed, torch::ScalarType dtype) {
  const int64_t n = spec.numel();
  torch::Tensor t = torch::empty({n}, dtype);
  const int64_t chunks = (n + kInitChunk - 1) / kInitChunk;
  // Every chunk has its own generator, so the split over threads does not change a value.
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    torch::Tensor fp32 = dtype == torch::kFloat32 ? torch::Tensor() : torch::empty({kInitChunk}, torch::kFloat32);
    for (int64_t c = begin; c < end; ++c) {
      const int64_t off = c * kInitChunk, len = std::min(kInitChunk, n - off);
      torch::Tensor dst = t.narrow(0, off, len);
      if (dtype == torch::kFloat32) {
        random_init_chunk(spec, seed, c, dst);
      } else {
        torch::Tensor part = fp32.narrow(0, 0, len);
        random_init_chunk(spec, seed, c, part);
        dst.copy_(part);
      }
    }
  });
  return t.view(spec.shape);
}

void check_parameters_match(const torch::nn::Module& module, const std::vector<TensorSpec>& specs) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::map<std::string, std::vector<int64_t>> want;
  for (const auto& s : specs) want[s.name] = s.shape;
  G4U_CHECK(params.size() == want.size(), "module has {} parameters, spec lists {}", params.size(), want.size());
  for (const auto& p : params) {
    auto it = want.find(p.key());
    G4U_CHECK(it != want.end(), "parameter {} not in the tensor spec", p.key());
    G4U_CHECK(p.value().sizes().vec() == it->second, "parameter {} has shape {}, spec {}", p.key(),
              p.value().sizes(), fmt::join(it->second, "x"));
  }
}

void init_random(torch::nn::Module& module, const std::vector<TensorSpec>& specs, uint64_t seed) {
  check_parameters_match(module, specs);
  torch::NoGradGuard no_grad;
  auto params = module.named_parameters(true);
  for (const auto& s : specs) {
    torch::Tensor p = params[s.name];
    p.copy_(random_init_tensor(s, seed, p.scalar_type()));
  }
}

}  // namespace g4u::model
