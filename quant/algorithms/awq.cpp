#include "quant/algorithms/awq.h"

#include "base/error.h"
#include "quant/io/checkpoint.h"
#include "quant/algorithms/gptq.h"

#include <cmath>
#include <cstring>

namespace g4u::quant {

namespace {

struct AwqParams {
  torch::Tensor scale, zero;  // [rows, groups, 1]
};

AwqParams awq_params(const torch::Tensor& wg /* [rows, groups, g] */, bool fp16_scale) {
  torch::Tensor mx = std::get<0>(wg.max(-1, true)), mn = std::get<0>(wg.min(-1, true));
  AwqParams p;
  p.scale = (mx - mn).clamp_min(1e-5) / 15;
  if (fp16_scale) p.scale = p.scale.to(torch::kHalf).to(torch::kFloat32);
  p.zero = (-torch::round(mn / p.scale)).clamp(0, 15);
  return p;
}

torch::Tensor dense_weight(const std::shared_ptr<model::Linear>& l, const std::string& name) {
  auto* d = dynamic_cast<model::DenseLinear*>(l.get());
  G4U_CHECK(d != nullptr, "AWQ needs a float model; {} is {}", name, l ? l->scheme() : "missing");
  return d->weight;
}

// Evenly spaced rows of x [T, K], at most n.
torch::Tensor sample_rows(const torch::Tensor& x, int64_t n) {
  if (x.size(0) <= n) return x;
  torch::Tensor idx = torch::linspace(0, static_cast<double>(x.size(0) - 1), n).round().to(torch::kInt64);
  return x.index_select(0, idx);
}

}  // namespace

torch::Tensor awq_fake_quant(const torch::Tensor& w, int64_t g) {
  const int64_t rows = w.size(0), cols = w.size(1);
  G4U_CHECK(cols % g == 0, "awq: cols {} not a multiple of {}", cols, g);
  torch::Tensor wg = w.reshape({rows, cols / g, g});
  AwqParams p = awq_params(wg, false);
  torch::Tensor q = (torch::round(wg / p.scale) + p.zero).clamp(0, 15);
  return ((q - p.zero) * p.scale).reshape({rows, cols});
}

QuantizedTensor awq_pack(const torch::Tensor& w_in, int64_t g) {
  torch::NoGradGuard ng;
  torch::Tensor w = w_in.detach().to(torch::kFloat32).contiguous();
  const int64_t rows = w.size(0), cols = w.size(1);
  const SchemeTraits& s = find_scheme("rtn4_asym_g" + std::to_string(g));
  check_shape(s, rows, cols, "awq");
  torch::Tensor wg = w.reshape({rows, cols / g, g});
  AwqParams p = awq_params(wg, true);
  torch::Tensor codes = (torch::round(wg / p.scale) + p.zero).clamp(0, 15).reshape({rows, cols}).to(torch::kUInt8).contiguous();
  torch::Tensor sb = p.scale.reshape({rows, cols / g}).to(torch::kHalf).contiguous();
  torch::Tensor zb = p.zero.reshape({rows, cols / g}).to(torch::kUInt8).contiguous();
  std::vector<uint16_t> bits(static_cast<size_t>(sb.numel()));
  std::memcpy(bits.data(), sb.data_ptr(), bits.size() * 2);
  return pack_rtn4(s, rows, cols, codes.data_ptr<uint8_t>(), bits.data(), zb.data_ptr<uint8_t>());
}

torch::Tensor awq_search_scales(const torch::Tensor& x_in, const std::vector<torch::Tensor>& ws, const GroupOutputFn& out,
                                const AwqOptions& o, double* best_alpha) {
  torch::NoGradGuard ng;
  torch::Tensor x = sample_rows(x_in.reshape({-1, x_in.size(-1)}).to(torch::kFloat32), o.search_tokens);
  torch::Tensor ref = out(x, ws);
  torch::Tensor a = x.abs().mean(0);
  double best = std::numeric_limits<double>::infinity();
  torch::Tensor best_s = torch::ones_like(a);
  for (int i = 0; i < o.grid; ++i) {
    const double alpha = static_cast<double>(i) / o.grid;
    torch::Tensor s = a.pow(alpha).clamp_min(1e-4);
    s = s / std::sqrt((s.max() * s.min()).item<double>());
    std::vector<torch::Tensor> q;
    for (const auto& w : ws) q.push_back(awq_fake_quant(w * s.view({1, -1}), o.group_size) / s.view({1, -1}));
    const double loss = (out(x, q) - ref).pow(2).mean().item<double>();
    if (loss < best) {
      best = loss;
      best_s = s;
      if (best_alpha) *best_alpha = alpha;
    }
  }
  return best_s;
}

torch::Tensor awq_search_clip(const torch::Tensor& x_in, const torch::Tensor& w, const AwqOptions& o) {
  torch::NoGradGuard ng;
  const int64_t g = o.group_size, rows = w.size(0), cols = w.size(1), groups = cols / g;
  torch::Tensor x = sample_rows(x_in.reshape({-1, cols}).to(torch::kFloat32), o.clip_tokens);  // [T, K]
  const int64_t tokens = x.size(0);
  // Each group's output is a [T, g] x [g, rows] product: one batched matmul over the groups (the
  // reference's broadcast multiply-and-sum would hold g times more values).
  torch::Tensor xg = x.view({tokens, groups, g}).permute({1, 0, 2}).contiguous();  // [G, T, g]
  auto group_outputs = [&](const torch::Tensor& wc) { return torch::bmm(xg, wc.permute({1, 2, 0})); };  // -> [G, T, nr]
  torch::Tensor wf = w.to(torch::kFloat32).view({rows, groups, g});  // [N, G, g]
  torch::Tensor org_max = std::get<0>(wf.abs().max(-1, true));      // [N, G, 1]
  torch::Tensor best_max = org_max.clone();
  torch::Tensor min_err = torch::full({rows, groups}, std::numeric_limits<float>::infinity());
  // Row chunks keep the [G, T, nr] products small.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, tokens * groups));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t nr = std::min(chunk, rows - r0);
    torch::Tensor w_c = wf.narrow(0, r0, nr);  // [nr, G, g]
    torch::Tensor org_out = group_outputs(w_c);
    torch::Tensor om = org_max.narrow(0, r0, nr);
    for (int i = 0; i < o.clip_steps; ++i) {
      torch::Tensor max_val = om * (1 - static_cast<double>(i) / 20);
      torch::Tensor cw = torch::clamp(w_c, -max_val, max_val);
      torch::Tensor q = awq_fake_quant(cw.reshape({nr, cols}), g).view({nr, groups, g});
      torch::Tensor err = (group_outputs(q) - org_out).pow(2).mean(1).t();  // [nr, G]
      torch::Tensor me = min_err.narrow(0, r0, nr);
      torch::Tensor better = err < me;
      me.copy_(torch::where(better, err, me));
      torch::Tensor bm = best_max.narrow(0, r0, nr);
      bm.copy_(torch::where(better.unsqueeze(-1), max_val, bm));
    }
  }
  return best_max.view({rows, groups});
}

void fold_into_norm(model::RMSNorm& norm, const std::vector<torch::Tensor>& linear_weights, const torch::Tensor& s) {
  torch::NoGradGuard ng;
  norm.weight.div_(s.to(norm.weight.scalar_type()));
  for (auto w : linear_weights) w.mul_(s.view({1, -1}).to(w.scalar_type()));
}

void fold_into_linear(torch::Tensor prev_weight, torch::Tensor next_weight, const torch::Tensor& s) {
  torch::NoGradGuard ng;
  prev_weight.div_(s.view({-1, 1}).to(prev_weight.scalar_type()));
  next_weight.mul_(s.view({1, -1}).to(next_weight.scalar_type()));
}

void awq_replay(torch::Tensor w, const AwqWeightEdit& e, int64_t group_size) {
  torch::NoGradGuard ng;
  if (e.col_scale.defined()) w.mul_(e.col_scale.view({1, -1}).to(w.scalar_type()));
  if (e.row_div.defined()) w.div_(e.row_div.view({-1, 1}).to(w.scalar_type()));
  if (e.clip.defined()) {
    const torch::Tensor mvx = e.clip.repeat_interleave(group_size, 1);
    w.copy_(torch::max(torch::min(w, mvx), -mvx));
  }
}

AwqLayerResult awq_layer(model::DecoderLayer& L, AwqLayerInputs in, const AwqOptions& o) {
  torch::NoGradGuard ng;
  auto& at = *L.self_attn;
  auto& mlp = *L.mlp;
  torch::Tensor wq = dense_weight(at.q_proj, "q_proj"), wk = dense_weight(at.k_proj, "k_proj");
  torch::Tensor wv = at.v_proj ? dense_weight(at.v_proj, "v_proj") : torch::Tensor();
  torch::Tensor wo = dense_weight(at.o_proj, "o_proj");
  torch::Tensor wg = dense_weight(mlp.gate_proj, "gate_proj"), wu = dense_weight(mlp.up_proj, "up_proj");
  torch::Tensor wd = dense_weight(mlp.down_proj, "down_proj");
  AwqLayerResult r;
  double alpha = 0;

  // input_layernorm -> q, k (, v)
  std::vector<torch::Tensor> qkv = {wq, wk};
  if (wv.defined()) qkv.push_back(wv);
  auto proj_out = [](const torch::Tensor& x, const std::vector<torch::Tensor>& ws) {
    std::vector<torch::Tensor> outs;
    for (const auto& w : ws) outs.push_back(torch::matmul(x, w.t()));
    return torch::cat(outs, -1);
  };
  torch::Tensor s_attn = awq_search_scales(in.attn, qkv, proj_out, o, &alpha);
  r.record["alpha_qkv"] = alpha;
  fold_into_norm(*L.input_layernorm, qkv, s_attn);
  torch::Tensor xa = in.attn / s_attn;

  // pre_feedforward_layernorm -> gate, up (loss on the MLP output with the float down_proj)
  auto mlp_out = [&wd](const torch::Tensor& x, const std::vector<torch::Tensor>& ws) {
    return torch::matmul(model::gelu_tanh(torch::matmul(x, ws[0].t())) * torch::matmul(x, ws[1].t()), wd.t());
  };
  torch::Tensor s_mlp = awq_search_scales(in.mlp, {wg, wu}, mlp_out, o, &alpha);
  r.record["alpha_gate_up"] = alpha;
  fold_into_norm(*L.pre_feedforward_layernorm, {wg, wu}, s_mlp);
  torch::Tensor xm = in.mlp / s_mlp;

  // up -> down
  torch::Tensor s_down = awq_search_scales(in.down, {wd}, proj_out, o, &alpha);
  r.record["alpha_down"] = alpha;
  fold_into_linear(wu, wd, s_down);
  torch::Tensor xd = in.down / s_down;

  r.edits["self_attn.q_proj"].col_scale = s_attn;
  r.edits["self_attn.k_proj"].col_scale = s_attn;
  if (wv.defined()) r.edits["self_attn.v_proj"].col_scale = s_attn;
  r.edits["self_attn.o_proj"];
  r.edits["mlp.gate_proj"].col_scale = s_mlp;
  r.edits["mlp.up_proj"].col_scale = s_mlp;
  r.edits["mlp.up_proj"].row_div = s_down;
  r.edits["mlp.down_proj"].col_scale = s_down;

  // Clipping (not q/k).
  auto clip = [&](torch::Tensor w, const torch::Tensor& x, const char* proj) {
    AwqWeightEdit& e = r.edits[proj];
    e.clip = awq_search_clip(x, w, o);  // [rows, groups]
    awq_replay(w, AwqWeightEdit{torch::Tensor(), torch::Tensor(), e.clip}, o.group_size);
  };
  if (wv.defined()) clip(wv, xa, "self_attn.v_proj");
  clip(wo, in.o, "self_attn.o_proj");
  clip(wg, xm, "mlp.gate_proj");
  clip(wu, xm, "mlp.up_proj");
  clip(wd, xd, "mlp.down_proj");
  return r;
}

nlohmann::json awq_apply(model::Gemma4Model& m, const CalibrationSet& calib, const AwqOptions& o) {
  torch::NoGradGuard ng;
  G4U_CHECK(m.dtype() == torch::kFloat32, "AWQ runs on the fp32 model");
  nlohmann::json report = nlohmann::json::array();
  auto& layers = m.text().layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    const std::string p = std::string(model::kTextPrefix) + "layers." + std::to_string(l) + ".";
    AwqInputCollector in;
    std::map<std::string, std::function<void(const torch::Tensor&)>> hooks;
    for (int i = 0; i < 4; ++i) hooks[p + kAwqInputProjections[i] + ".weight"] = in.hook(i);
    run_with_input_hooks(m, calib, hooks);
    AwqLayerResult r = awq_layer(*layers[l], in.inputs(), o);
    r.record["layer"] = l;
    report.push_back(r.record);
  }
  return report;
}

}  // namespace g4u::quant
