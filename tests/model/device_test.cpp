// Device-generic model code: `--device` parsing, and a whole forward on LibTorch's meta device.
// A meta tensor has a shape and no data, and an operator that mixes it with a CPU tensor (other
// than a 0-dim scalar) fails as it would with a CUDA tensor. So every tensor the decoder, the KV
// cache and the embedders build in a step must follow the model's device: a stray CPU factory (a
// mask, positions, RoPE frequencies) fails this test on a machine without a GPU.
#include "base/error.h"
#include "model/io/device.h"
#include "model/io/loader.h"
#include "model/model.h"
#include "model/text/kv_cache.h"

#include <catch2/catch.hpp>
#include <torch/version.h>

using namespace g4u;
using namespace g4u::model;

namespace {
// Module::to(meta) is refused by LibTorch's set_data (meta is no dense backend, unlike CUDA), so the
// test moves each parameter's tensor in place: every handle to it (the module's members too) sees
// the meta tensor, as after Module::to(cuda).
void move_to_meta(torch::nn::Module& module) {
  for (auto& p : module.named_parameters(/*recurse=*/true)) {
    torch::Tensor meta = torch::empty(p.value().sizes(), p.value().options().device(torch::kMeta));
    p.value().unsafeGetTensorImpl()->shallow_copy_from(meta.getIntrusivePtr());
  }
}
}  // namespace

TEST_CASE("--device accepts cpu and refuses what it cannot run on", "[unit][device]") {
  CHECK(parse_device("cpu").is_cpu());
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "", "cuda:1:2"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_device(bad), InputError);
  }
  if (!built_with_cuda() || !torch::cuda::is_available()) {
    CHECK_THROWS_WITH(parse_device("cuda:0", "--device"), Catch::Contains("--device cuda:0") && Catch::Contains("CUDA"));
  } else {
    CHECK(parse_device("cuda").is_cuda());
    CHECK_THROWS_AS(parse_device("cuda:999"), InputError);
  }
  CHECK(describe_device(torch::kCPU) == "cpu");
}

namespace {
// Some operators have no meta kernel (logical_not in 1.13 and 2.6, which is why the masks use the
// bitwise forms; index_select and layer_norm in 1.13): a step that reaches one is inconclusive, not
// failed. Any other error (a
// tensor left on the CPU: "Expected all tensors to be on the same device") fails.
template <typename F>
void run_on_meta(F step) {
  try {
    step();
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    // 1.13: "... with arguments from the 'Meta' backend"; 2.x: "... no fake impl or Meta kernel registered".
    if (what.find("'Meta' backend") == std::string::npos && what.find("Meta kernel") == std::string::npos) throw;
    WARN("inconclusive on LibTorch " << TORCH_VERSION << ": " << what.substr(0, what.find('.')));
  }
}
}  // namespace

TEST_CASE("a cached prefill and decode step run wholly on the model's device (meta)", "[unit][device]") {
  torch::NoGradGuard ng;
  LoadedModel lm = load_model("tiny");
  Gemma4Model& m = *lm.model;
  const torch::Device meta(torch::kMeta);
  move_to_meta(m);
  REQUIRE(m.device() == meta);
  const ModelConfig& c = m.config();
  const int64_t H = c.text.hidden_size;
  KVCache cache(c.text, 1, m.dtype());
  run_on_meta([&] {
    // Masks built on the CPU, as the commands build them; embeddings on the device.
    ForwardResult prefill = m.text().forward(torch::zeros({1, 5, H}, torch::TensorOptions().device(meta)),
                                             torch::ones({1, 5}, torch::kBool), &cache);
    CHECK(prefill.hidden.device() == meta);
    CHECK(prefill.hidden.sizes() == torch::IntArrayRef({1, 5, H}));
    torch::Tensor logits = m.text().logits(prefill.hidden.select(1, -1));
    CHECK(logits.device() == meta);
    CHECK(logits.sizes() == torch::IntArrayRef({1, c.text.vocab_size}));
    ForwardResult step = m.text().forward(torch::zeros({1, 1, H}, torch::TensorOptions().device(meta)),
                                          torch::ones({1, 1}, torch::kBool), &cache);
    CHECK(step.hidden.device() == meta);
    CHECK(cache.length() == 6);
  });
}

TEST_CASE("the same logits on a CUDA device as on the CPU", "[unit][device]") {
  if (!built_with_cuda() || !torch::cuda::is_available()) return;  // a CUDA build on a GPU machine only
  torch::NoGradGuard ng;
  torch::Tensor ids = torch::tensor(std::vector<int64_t>{5, 6, 7, 8, 9}).view({1, 5});
  auto logits_on = [&](const torch::Device& device) {
    LoadedModel lm = load_model("tiny");
    lm.model->to(device);
    Gemma4Model& m = *lm.model;
    KVCache cache(m.config().text, 1, m.dtype());
    ForwardResult r = m.text().forward(m.text().embed(ids), torch::ones({1, 5}, torch::kBool), &cache);
    ForwardResult s = m.text().forward(m.text().embed(ids.narrow(1, 0, 1)), torch::ones({1, 1}, torch::kBool), &cache);
    return torch::cat({m.text().logits(r.hidden[0]), m.text().logits(s.hidden[0])}).to(torch::kCPU);
  };
  const torch::Tensor cpu = logits_on(torch::kCPU), cuda = logits_on(parse_device("cuda"));
  CHECK((cpu - cuda).abs().max().item<double>() <= 1e-4 * cpu.abs().max().item<double>() + 1e-5);
}

TEST_CASE("audio soft tokens are computed on the model's device (meta)", "[unit][device]") {
  torch::NoGradGuard ng;
  LoadedModel lm = load_model("tiny");
  Gemma4Model& m = *lm.model;
  const ModelConfig& c = m.config();
  REQUIRE(c.audio);
  move_to_meta(m);
  torch::Tensor audio = m.embed_audio_frames(torch::zeros({3, c.audio->audio_embed_dim}));  // frames on the CPU
  CHECK(audio.device().is_meta());
  CHECK(audio.sizes() == torch::IntArrayRef({3, c.text.hidden_size}));
}
