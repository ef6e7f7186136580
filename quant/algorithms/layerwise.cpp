#include "quant/algorithms/layerwise.h"

#include "base/error.h"
#include "model/io/tensor_specs.h"
#include "quant/io/checkpoint.h"

#include <cmath>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace g4u::quant {

LayerwiseCalibration::LayerwiseCalibration(const std::string& dir, const CalibrationSet& calib)
    : config_(model::load_model_config(dir)),
      checkpoint_(open_float_checkpoint(dir, model::model_tensor_specs(config_))) {
  torch::NoGradGuard ng;
  G4U_CHECK(!calib.segments.empty(), "empty calibration set");
  const auto& t = config_.text;
  // TextModel::embed on the fp32 model: E[ids] * sqrt(H), with only the needed rows read.
  const torch::Tensor table = checkpoint_.view(model::kTextEmbeddingName);
  const torch::Tensor scale = torch::scalar_tensor(std::sqrt(static_cast<double>(t.hidden_size)), torch::kFloat32);
  for (const auto& seg : calib.segments) {
    for (int64_t id : seg)
      if (id < 0 || id >= t.vocab_size) throw_input("calibration token {} outside the vocabulary of {}", id, t.vocab_size);
    const torch::Tensor ids = torch::tensor(seg, torch::kInt64);
    states_.push_back((table.index_select(0, ids).to(torch::kFloat32) * scale).unsqueeze(0));
  }
  release_tensor_pages(checkpoint_, model::kTextEmbeddingName);
  valid_ = torch::ones({1, calib.seq_len}, torch::kBool);
  for (model::LayerType type : {model::LayerType::kSliding, model::LayerType::kFull})
    if (t.count_layers(type))
      context_[type == model::LayerType::kFull] = model::sequence_attention_context(t, type, valid_, torch::kFloat32);
}

std::string LayerwiseCalibration::layer_prefix(int64_t l) {
  return std::string(model::kTextPrefix) + "layers." + std::to_string(l) + ".";
}

std::shared_ptr<model::DecoderLayer> LayerwiseCalibration::load_layer(int64_t l) const {
  G4U_CHECK(l >= 0 && l < num_layers(), "layer {} of {}", l, num_layers());
  torch::NoGradGuard ng;
  auto layer = std::make_shared<model::DecoderLayer>(config_.text, l);
  const std::string prefix = layer_prefix(l);
  for (auto& p : layer->named_parameters(true)) {
    p.value().copy_(checkpoint_.view(prefix + p.key()).to(torch::kFloat32));
    release_tensor_pages(checkpoint_, prefix + p.key());
  }
  return layer;
}

void LayerwiseCalibration::run(model::DecoderLayer& layer, const LayerInputHooks& hooks) const {
  pass(layer, hooks, nullptr);
}

void LayerwiseCalibration::advance(model::DecoderLayer& layer, const LayerInputHooks& hooks) {
  std::vector<torch::Tensor> out;
  pass(layer, hooks, &out);
  states_ = std::move(out);
  ++next_layer_;
#ifdef __GLIBC__
  // The freed layer leaves holes under the new states in glibc's heap; without a trim the process
  // grew by ~60 MB per 12B layer (measured), i.e. ~3 GB over the 48 layers.
  malloc_trim(0);
#endif
}

void LayerwiseCalibration::pass(model::DecoderLayer& layer, const LayerInputHooks& hooks,
                                std::vector<torch::Tensor>* outputs) const {
  torch::NoGradGuard ng;
  struct Installed {
    std::shared_ptr<model::Linear>* slot;
    torch::nn::Module* parent;
    std::string name;
    std::shared_ptr<model::Linear> original;
  };
  std::vector<Installed> installed;
  struct Restore {
    std::vector<Installed>& v;
    ~Restore() {
      for (auto& i : v) *i.slot = i.parent->replace_module(i.name, i.original);
    }
  } restore{installed};
  for (const auto& [proj, fn] : hooks) {
    const auto dot = proj.find('.');
    const std::string module = proj.substr(0, dot == std::string::npos ? 0 : dot);
    const std::string name = dot == std::string::npos ? proj : proj.substr(dot + 1);
    torch::nn::Module* parent = nullptr;
    std::shared_ptr<model::Linear>* slot = projection_slot(layer, name, &parent);
    if (!slot || module != (parent == layer.mlp.get() ? "mlp" : "self_attn"))
      throw_input("calibration hook: layer has no projection {}", proj);
    installed.push_back({slot, parent, name, *slot});
    *slot = parent->replace_module(name, std::make_shared<CaptureLinear>(*slot, fn));
  }
  const model::AttentionContext& ctx = context_[layer.self_attn->type() == model::LayerType::kFull];
  for (const auto& h : states_) {
    torch::Tensor y = layer.forward(h, ctx, nullptr);
    if (outputs) outputs->push_back(std::move(y));
  }
}

}  // namespace g4u::quant
