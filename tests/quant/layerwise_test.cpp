// LayerwiseCalibration: the states it carries from layer to layer are the whole-model forward's
// layer outputs, bit for bit, and its hooks see what the projections see.
#include "model/io/loader.h"
#include "quant/algorithms/calibration.h"
#include "quant/algorithms/layerwise.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace g4u;
using namespace g4u::quant;

TEST_CASE("Layer-by-layer calibration states equal the whole-model forward's layer outputs", "[unit][layerwise]") {
  const fs::path dir = fs::temp_directory_path() / ("g4u_layerwise_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{dir};
  const std::string ckpt = (dir / "dense").string(), text = (dir / "calib.txt").string();
  model::write_random_checkpoint(*model::model_preset("tiny"), ckpt, 11);
  {
    std::ofstream f(text);
    for (int i = 0; i < 60; ++i) f << "Calibration line " << i << " of a small text. ";
  }
  model::LoadedModel lm = model::load_model(ckpt);
  model::TextModel& tm = lm.model->text();
  const CalibrationSet cs = make_calibration_set(text, *lm.tokenizer, tm.config().bos_token_id, 3, 40);
  REQUIRE(cs.segments.size() == 3);

  LayerwiseCalibration lw(ckpt, cs);
  REQUIRE(lw.num_layers() == static_cast<int64_t>(tm.layers.size()));
  std::vector<std::vector<torch::Tensor>> want;
  torch::NoGradGuard ng;
  for (size_t s = 0; s < cs.segments.size(); ++s) {
    torch::Tensor ids = torch::tensor(cs.segments[s]).view({1, -1});
    CHECK(torch::equal(lw.states()[s], tm.embed(ids)));
    model::ForwardOptions fo;
    fo.collect_layer_outputs = true;
    want.push_back(tm.forward(tm.embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr, fo).layer_outputs);
  }
  for (int64_t l = 0; l < lw.num_layers(); ++l) {
    INFO("layer " << l);
    auto layer = lw.load_layer(l);
    // The weights are the fp32 model's.
    auto ref_params = tm.layers[l]->named_parameters(true);
    for (const auto& p : layer->named_parameters(true)) CHECK(torch::equal(p.value(), ref_params[p.key()]));
    // The hook on down_proj sees gelu(gate(x)) * up(x) of the pre-feedforward-normed stream.
    std::vector<torch::Tensor> seen;
    lw.run(*layer, {{"mlp.down_proj", [&](const torch::Tensor& x) { seen.push_back(x.clone()); }}});
    REQUIRE(seen.size() == cs.segments.size());
    CHECK(seen[0].size(-1) == tm.config().intermediate_size);
    const torch::Tensor before = lw.states()[1].clone();
    lw.advance(*layer);
    for (size_t s = 0; s < cs.segments.size(); ++s) CHECK(torch::equal(lw.states()[s], want[s][l]));
    CHECK_FALSE(torch::equal(before, lw.states()[1]));
    // Hooks are removed afterwards.
    CHECK(dynamic_cast<model::DenseLinear*>(layer->mlp->down_proj.get()));
  }
  CHECK(lw.next_layer() == lw.num_layers());

  auto layer0 = lw.load_layer(0);
  g4u::test::expect_input_error([&] { lw.run(*layer0, {{"mlp.q_proj", [](const torch::Tensor&) {}}}); }, "mlp.q_proj");
  g4u::test::expect_input_error([&] { lw.run(*layer0, {{"down_proj", [](const torch::Tensor&) {}}}); }, "down_proj");
  CHECK(dynamic_cast<model::DenseLinear*>(layer0->self_attn->q_proj.get()));
}
