#include "apps/run/bench_embedders.h"

#include "model/io/device.h"
#include "model/io/loader.h"
#include "model/multimodal/embedders.h"
#include "model/multimodal/image_resize.h"
#include "model/model.h"
#include "model/multimodal/projectors.h"

#include <algorithm>
#include <chrono>

namespace g4u::app {
namespace {

// Median seconds of `reps` runs of fn after one warm-up, each waiting for `device`'s queued work.
template <typename F>
double median_seconds(int reps, const torch::Device& device, F&& fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    model::synchronize(device);
    auto t0 = std::chrono::steady_clock::now();
    fn();
    model::synchronize(device);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Random weights for the modules of one variant (same init as a random checkpoint).
void init_module(torch::nn::Module& m, const std::vector<model::TensorSpec>& specs, const std::string& strip) {
  torch::NoGradGuard ng;
  auto params = m.named_parameters(true);
  for (const auto& s : specs) {
    std::string name = s.name.substr(strip.size());
    if (params.contains(name)) params[name].copy_(model::random_init_tensor(s, 1));
  }
}

}  // namespace

nlohmann::json bench_embedders(const model::ModelConfig& c, int reps, bool decoder_available, uint64_t seed,
                               torch::ScalarType dtype, const torch::Device& device) {
  torch::NoGradGuard ng;
  const auto on_device = torch::TensorOptions().dtype(dtype).device(device);
  const auto ids_on_device = torch::TensorOptions().dtype(torch::kInt64).device(device);
  const int64_t H = c.text.hidden_size;
  nlohmann::json out = {{"hidden_size", H}, {"vision", nlohmann::json::array()}, {"audio", nlohmann::json::array()}};
  std::vector<int64_t> budgets;
  if (c.vision && c.vision->model_patch_size() == 48) budgets.assign(std::begin(model::kImageBudgets), std::end(model::kImageBudgets));
  else if (c.vision) budgets = {c.vision->num_soft_tokens};

  // Decoder prefill of n tokens, for comparison.
  std::shared_ptr<model::Gemma4Model> decoder;
  if (decoder_available) {
    decoder = model::random_model(c, seed, dtype, device);
    decoder->to(dtype);  // buffers
    decoder->to(device);
  }
  auto prefill_seconds = [&](int64_t n) -> nlohmann::json {
    if (!decoder) return nullptr;
    torch::Tensor ids = torch::randint(32, c.text.vocab_size, {1, n}, ids_on_device);
    torch::Tensor valid = torch::ones({1, n}, torch::TensorOptions().dtype(torch::kBool).device(device));
    return median_seconds(reps, device, [&] { decoder->text().forward(decoder->text().embed(ids), valid, nullptr); });
  };
  std::map<int64_t, nlohmann::json> prefill_cache;
  auto prefill = [&](int64_t n) {
    if (!prefill_cache.count(n)) prefill_cache[n] = prefill_seconds(n);
    return prefill_cache[n];
  };

  if (c.vision) {
    for (const auto& projector : model::vision_projector_names()) {
      model::VisionConfig v = *c.vision;
      v.projector = projector;
      v.position = projector == "gemma4" || projector == "linear-pos" ? "factorized" : "none";
      if (projector == "conv" && v.model_patch_size() % 8) continue;
      auto specs = model::vision_tensor_specs(v, H);
      int64_t params = model::count_params(specs)["total"];
      model::VisionEmbedder emb(v, H);
      init_module(emb, specs, "model.vision_embedder.");
      emb.to(device, dtype);
      std::shared_ptr<model::MultimodalProjection> proj;
      if (emb.needs_projection()) {
        proj = std::make_shared<model::MultimodalProjection>(v.output_proj_dims, H, v.rms_norm_eps);
        init_module(*proj, specs, "model.embed_vision.");
        proj->to(device, dtype);
      }
      for (int64_t budget : budgets) {
        torch::Tensor pixels = torch::rand({1, budget, v.patch_dim()}, on_device);
        torch::Tensor idx = torch::arange(budget, ids_on_device);
        torch::Tensor pos = torch::stack({idx.remainder(32), idx.div(32, "floor")}, -1).unsqueeze(0);
        double s = median_seconds(reps, device, [&] {
          torch::Tensor z = emb.forward(pixels, pos);
          if (proj) z = proj->forward(z);
        });
        out["vision"].push_back({{"projector", projector}, {"params", params}, {"budget", budget},
                                 {"seconds", s}, {"decoder_prefill_seconds", prefill(budget)}});
      }
    }
  }
  if (c.audio) {
    for (const auto& projector : model::audio_projector_names()) {
      model::AudioConfig a = *c.audio;
      a.projector = projector;
      auto specs = model::audio_tensor_specs(a, H);
      model::AudioEmbedder emb(a, H);
      init_module(emb, specs, "model.embed_audio.");
      emb.to(device, dtype);
      const int64_t frames = std::max<int64_t>(1, a.sample_rate / a.audio_embed_dim);  // one second
      torch::Tensor x = torch::randn({frames, a.audio_embed_dim}, on_device) * 0.1;
      double s = median_seconds(reps, device, [&] { emb.forward(x); });
      out["audio"].push_back({{"projector", projector}, {"params", model::count_params(specs)["total"]},
                              {"frame_length", a.audio_embed_dim}, {"tokens_per_second_of_audio", frames},
                              {"seconds_per_second_of_audio", s}, {"decoder_prefill_seconds", prefill(frames)}});
    }
  }
  return out;
}

}  // namespace g4u::app
