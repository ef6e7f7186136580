#include "quant/algorithms/calibrated.h"

#include "base/error.h"
#include "base/json_util.h"
#include "quant/algorithms/awq.h"
#include "quant/algorithms/calibration.h"
#include "quant/algorithms/gptq.h"
#include "quant/algorithms/layerwise.h"
#include "quant/layer/torch_tensor.h"

#include <filesystem>
#include <set>

namespace g4u::quant {
namespace fs = std::filesystem;

std::vector<std::vector<std::string>> gptq_sequential_groups() {
  return {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
          {"self_attn.o_proj"},
          {"mlp.gate_proj", "mlp.up_proj"},
          {"mlp.down_proj"}};
}

namespace {

// The dense module of projection `proj` ("self_attn.q_proj", ...) of a loaded float layer; nullptr
// if the layer has none (v_proj of K=V layers).
model::DenseLinear* dense_projection(model::DecoderLayer& layer, const std::string& proj) {
  torch::nn::Module* parent = nullptr;
  auto* slot = projection_slot(layer, proj.substr(proj.find('.') + 1), &parent);
  if (!slot) return nullptr;
  auto* d = dynamic_cast<model::DenseLinear*>(slot->get());
  G4U_CHECK(d != nullptr, "{} is not dense", proj);
  return d;
}

std::vector<std::string> all_projections() {
  std::vector<std::string> out;
  for (const auto& g : gptq_sequential_groups()) out.insert(out.end(), g.begin(), g.end());
  return out;
}

}  // namespace

nlohmann::json quantize_calibrated(const std::string& src_dir, const std::string& out_dir, QuantizeOptions opt,
                                   const CalibrationOptions& co) {
  const Recipe recipe = find_recipe(opt.recipe);
  const bool calibrated = recipe.method != Method::kRoundToNearest;
  if (co.text_file.empty()) {
    if (calibrated) throw_input("--scheme {}: needs --calib <text file>", recipe.name);
    return quantize_checkpoint(src_dir, out_dir, opt);
  }
  if (!calibrated && !recipe.base->uses_imatrix)
    throw_input("--calib: scheme {} has no importance-weighted (imatrix) encoder; calibration applies to "
                "q4_0, q4_1, q4_k, q6_k, iq4_nl, q4_k_m, gptq_* and awq_*", recipe.name);
  if (fs::exists(out_dir)) throw_input("--out {}: already exists (remove it or choose another path)", out_dir);
  if (is_quantized_checkpoint(src_dir)) throw_input("--model {}: already a quantized checkpoint", src_dir);
  if (!fs::is_directory(src_dir)) throw_input("--model {}: not a checkpoint directory", src_dir);
  const model::ModelConfig cfg = model::load_model_config(src_dir);
  CalibrationSet calib = make_calibration_set(co.text_file, *model::load_tokenizer(cfg, src_dir), cfg.text.bos_token_id,
                                              co.segments, co.seq_len);
  LayerwiseCalibration lw(src_dir, calib);
  nlohmann::json cj = calib.describe();
  cj["method"] = recipe.method == Method::kGptq ? "gptq" : recipe.method == Method::kAwq ? "awq" : "imatrix";
  cj["layerwise"] = true;
  const auto plan = plan_tensors(model::model_tensor_specs(cfg), recipe);
  auto progress = [&](const std::string& s) {
    if (opt.progress) opt.progress(s);
  };
  // The projections the recipe's calibrated scheme applies to.
  std::set<std::string> targets;
  for (const auto& a : plan)
    if (a.scheme && (calibrated ? a.scheme == recipe.base : a.scheme->uses_imatrix)) targets.insert(a.spec.name);
  const int64_t n_layers = lw.num_layers();

  if (recipe.method == Method::kRoundToNearest) {
    for (int64_t l = 0; l < n_layers; ++l) {
      auto layer = lw.load_layer(l);
      const std::string p = LayerwiseCalibration::layer_prefix(l);
      std::map<std::string, SquaredMeanAccumulator> acc;
      LayerInputHooks hooks;
      for (const auto& proj : all_projections()) {
        model::DenseLinear* d = dense_projection(*layer, proj);
        if (!d || !targets.count(p + proj + ".weight")) continue;
        SquaredMeanAccumulator* a = &acc.emplace(proj, SquaredMeanAccumulator(d->in_features())).first->second;
        hooks[proj] = [a](const torch::Tensor& x) { a->add(x); };
      }
      lw.advance(*layer, hooks);
      for (auto& [proj, a] : acc) opt.imatrix[p + proj + ".weight"] = a.mean();
      progress(fmt::format("imatrix: layer {}/{} ({} projections)", l + 1, n_layers, acc.size()));
    }
    cj["imatrix_tensors"] = opt.imatrix.size();
    opt.calibration = cj;
    return quantize_checkpoint(src_dir, out_dir, opt);
  }

  if (recipe.method == Method::kGptq) {
    GptqOptions go;
    go.group_size = recipe.base->block > 0 ? recipe.base->block : -1;
    go.sym = recipe.sym;
    go.act_order = true;
    cj["gptq"] = {{"group_size", go.group_size}, {"sym", go.sym}, {"act_order", go.act_order}, {"static_groups", true},
                  {"percdamp", go.percdamp}, {"block", go.block}, {"true_sequential", true}};
    std::map<std::string, QuantizedTensor> done;
    std::map<std::string, double> losses;
    for (int64_t l = 0; l < n_layers; ++l) {
      auto layer = lw.load_layer(l);
      const std::string p = LayerwiseCalibration::layer_prefix(l);
      for (const auto& group : gptq_sequential_groups()) {
        std::map<std::string, std::unique_ptr<HessianAccumulator>> acc;
        LayerInputHooks hooks;
        for (const auto& proj : group) {
          model::DenseLinear* d = dense_projection(*layer, proj);
          if (!d || !targets.count(p + proj + ".weight")) continue;  // K=V layers have no v_proj
          HessianAccumulator* h = (acc[proj] = std::make_unique<HessianAccumulator>(d->in_features())).get();
          hooks[proj] = [h](const torch::Tensor& x) { h->add(x); };
        }
        if (hooks.empty()) continue;
        lw.run(*layer, hooks);
        for (auto& [proj, h] : acc) {
          model::DenseLinear* d = dense_projection(*layer, proj);
          GptqResult r = gptq_quantize(d->weight, h->hessian(), go);
          torch::NoGradGuard ng;
          d->weight.copy_(dequantize_tensor(r.q));  // later groups and layers see the quantized outputs
          const std::string name = p + proj + ".weight";
          losses[name] = r.loss;
          progress(fmt::format("gptq {} loss {:.4g} ({} tokens)", name, r.loss, h->samples()));
          done.emplace(name, std::move(r.q));
        }
      }
      lw.advance(*layer);
    }
    for (const auto& name : targets)
      G4U_CHECK(done.count(name), "{}: planned for GPTQ but in no true-sequential group", name);
    cj["gptq_loss"] = losses;
    opt.calibration = cj;
    opt.transform = [&done](const TensorAssignment& a, std::vector<float>&, QuantizedTensor& out) {
      auto it = done.find(a.spec.name);
      if (it == done.end()) return false;
      out = std::move(it->second);
      return true;
    };
    return quantize_checkpoint(src_dir, out_dir, opt);
  }

  // AWQ: per layer, capture the group inputs on the float layer, search and apply scales and
  // clipping (awq_layer), then propagate through the modified float layer. Only the edits are
  // kept; the writer replays them on each stored weight and packs it (awq_pack), and the rescaled
  // norms are written in fp32.
  AwqOptions ao;
  ao.group_size = recipe.base->block;
  cj["awq"] = {{"group_size", ao.group_size}, {"grid", ao.grid}, {"clip_steps", ao.clip_steps},
               {"clip_tokens", ao.clip_tokens}, {"search_tokens", ao.search_tokens}};
  std::map<std::string, AwqWeightEdit> edits;
  nlohmann::json records = nlohmann::json::array();
  for (int64_t l = 0; l < n_layers; ++l) {
    auto layer = lw.load_layer(l);
    const std::string p = LayerwiseCalibration::layer_prefix(l);
    AwqInputCollector in;
    LayerInputHooks hooks;
    for (int i = 0; i < 4; ++i) hooks[kAwqInputProjections[i]] = in.hook(i);
    lw.run(*layer, hooks);
    AwqLayerResult r = awq_layer(*layer, in.inputs(), ao);
    r.record["layer"] = l;
    records.push_back(r.record);
    for (auto& [proj, e] : r.edits) edits[p + proj + ".weight"] = std::move(e);
    opt.kept_overrides[p + "input_layernorm.weight"] = layer->input_layernorm->weight.detach().clone();
    opt.kept_overrides[p + "pre_feedforward_layernorm.weight"] = layer->pre_feedforward_layernorm->weight.detach().clone();
    lw.advance(*layer);
    progress(fmt::format("awq: layer {}/{} scaled and clipped", l + 1, n_layers));
  }
  cj["awq_layers"] = records;
  opt.calibration = cj;
  const int64_t g = ao.group_size;
  opt.transform = [g, &recipe, &edits](const TensorAssignment& a, std::vector<float>& w, QuantizedTensor& out) {
    if (a.scheme != recipe.base) return false;
    torch::Tensor wt = torch::from_blob(w.data(), {a.spec.shape[0], a.spec.shape[1]}, torch::kFloat32);
    auto it = edits.find(a.spec.name);
    G4U_CHECK(it != edits.end(), "{}: planned for AWQ but no layer edited it", a.spec.name);
    awq_replay(wt, it->second, g);  // in place: the relative error is measured against these weights
    out = awq_pack(wt, g);
    return true;
  };
  return quantize_checkpoint(src_dir, out_dir, opt);
}

}  // namespace g4u::quant
