#include "quant/calibrated.h"

#include "model/error.h"
#include "model/json_util.h"
#include "quant/awq.h"
#include "quant/calibration.h"
#include "quant/gptq.h"
#include "quant/torch_tensor.h"

#include <unistd.h>

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
  model::LoadOptions lo;
  lo.dtype = torch::kFloat32;
  model::LoadedModel lm = model::load_model(src_dir, lo);
  CalibrationSet calib = make_calibration_set(co.text_file, *lm.tokenizer, lm.model->config().text.bos_token_id,
                                              co.segments, co.seq_len);
  nlohmann::json cj = calib.describe();
  cj["method"] = recipe.method == Method::kGptq ? "gptq" : recipe.method == Method::kAwq ? "awq" : "imatrix";
  const auto plan = plan_tensors(lm.model->tensor_specs(), recipe);
  auto progress = [&](const std::string& s) {
    if (opt.progress) opt.progress(s);
  };

  if (recipe.method == Method::kRoundToNearest) {
    auto im = collect_imatrix(*lm.model, calib);
    for (const auto& a : plan)
      if (a.scheme && a.scheme->uses_imatrix && im.count(a.spec.name)) opt.imatrix[a.spec.name] = im[a.spec.name];
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
    model::Gemma4Model& m = *lm.model;
    const size_t n_layers = m.text().layers.size();
    auto linears = decoder_linears(m);
    std::set<std::string> gptq_tensors;
    for (const auto& a : plan)
      if (a.scheme == recipe.base) gptq_tensors.insert(a.spec.name);
    for (size_t l = 0; l < n_layers; ++l) {
      const std::string p = std::string(model::kTextPrefix) + "layers." + std::to_string(l) + ".";
      for (const auto& group : gptq_sequential_groups()) {
        std::map<std::string, std::unique_ptr<HessianAccumulator>> acc;
        std::map<std::string, std::function<void(const torch::Tensor&)>> hooks;
        for (const auto& proj : group) {
          const std::string name = p + proj + ".weight";
          if (!gptq_tensors.count(name) || !linears.count(name)) continue;  // K=V layers have no v_proj
          acc[name] = std::make_unique<HessianAccumulator>(linears.at(name)->in_features());
          HessianAccumulator* h = acc[name].get();
          hooks[name] = [h](const torch::Tensor& x) { h->add(x); };
        }
        if (hooks.empty()) continue;
        run_with_input_hooks(m, calib, hooks);
        for (auto& [name, h] : acc) {
          auto* dense = dynamic_cast<model::DenseLinear*>(linears.at(name).get());
          G4U_CHECK(dense, "{} is not dense", name);
          GptqResult r = gptq_quantize(dense->weight, h->hessian(), go);
          torch::NoGradGuard ng;
          dense->weight.copy_(dequantize_tensor(r.q));  // later groups and layers see the quantized outputs
          losses[name] = r.loss;
          progress(fmt::format("gptq {} loss {:.4g} ({} tokens)", name, r.loss, h->samples()));
          done.emplace(name, std::move(r.q));
        }
      }
    }
    for (const auto& name : gptq_tensors)
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

  // AWQ: modify the float model, save it (fp32) next to the output, quantize that.
  AwqOptions ao;
  ao.group_size = recipe.base->block;
  cj["awq"] = {{"group_size", ao.group_size}, {"grid", ao.grid}, {"clip_steps", ao.clip_steps},
               {"clip_tokens", ao.clip_tokens}, {"search_tokens", ao.search_tokens}};
  cj["awq_layers"] = awq_apply(*lm.model, calib, ao);
  progress("awq: scales and clipping applied to every layer");
  opt.calibration = cj;
  opt.source_label = src_dir + " (AWQ-scaled float model)";
  const fs::path tmp = fs::path(out_dir).string() + ".awq-float.tmp." + std::to_string(getpid());
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  fs::remove_all(tmp);
  const std::string tok = (fs::path(src_dir) / "tokenizer.model").string();
  model::save_model(*lm.model, tmp.string(), torch::kFloat32, fs::exists(tok) ? tok : "");
  if (fs::exists(fs::path(src_dir) / "generation_config.json"))
    fs::copy_file(fs::path(src_dir) / "generation_config.json", tmp / "generation_config.json");
  const int64_t g = ao.group_size;
  opt.transform = [g, &recipe](const TensorAssignment& a, std::vector<float>& w, QuantizedTensor& out) {
    if (a.scheme != recipe.base) return false;
    out = awq_pack(torch::from_blob(w.data(), {a.spec.shape[0], a.spec.shape[1]}, torch::kFloat32), g);
    return true;
  };
  nlohmann::json meta = quantize_checkpoint(tmp.string(), out_dir, opt);
  return meta;
}

}  // namespace g4u::quant
