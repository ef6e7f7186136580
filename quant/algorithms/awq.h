// AWQ (mit-han-lab reference, quant-and-mtp.md §2.11) adapted to the Gemma 4 decoder, and its
// quantizer. Runs layer by layer on the float model (fp32), each layer seeing the outputs of the
// already scaled and clipped earlier layers:
//
//  1. Scale search for each group of projections sharing one input, on a 20-point grid
//     alpha = 0, 0.05, ..., 0.95: a_c = mean_tokens |x_c|, s = clamp(a^alpha, 1e-4),
//     s /= sqrt(max s * min s); loss = mean squared difference of the group output with the
//     fake-quantized W diag(s) (and inputs x / s) vs the float output; the best s is folded:
//       input_layernorm -> {q, k, v}: Gemma 4 norms multiply by the plain weight w (not 1 + w as
//         Gemma 1-3), so w' = w / s is exact; loss on the concatenated q/k/v projection outputs
//         (the reference uses the attention output; Gemma 4's q/k norms and V-norm make the
//         projections the natural boundary here - a documented simplification);
//       pre_feedforward_layernorm -> {gate, up}: loss on the whole MLP output;
//       up -> down: up's output rows / s, down's columns * s (exact: h = gelu(gate) * up);
//       v -> o is skipped: v is followed by a scale-free RMS norm, so no scale can be folded
//         through it (and v/o shapes differ under GQA, where the reference skips it too).
//  2. Clip search for every projection except q/k: per (row, group) max_val = amax (1 - i/20),
//     i = 0..9, weights clamped to +-max_val and fake-quantized; error = mean over <= 512 sampled
//     tokens of (sum_group x w - sum_group x Q(w))^2; the best clamp is applied.
//  3. Final quantization: asymmetric, integer zero, group g (default 128):
//     scale = clamp(max - min, 1e-5) / 15, zero = clamp(-round(min / scale), 0, 15),
//     q = clamp(round(w / scale) + zero, 0, 15), w^ = (q - zero) scale,
//     stored in the rtn4_asym_g<g> layout with the scale rounded to fp16 (codes computed with it).
#pragma once

#include "model/model.h"
#include "quant/algorithms/calibration.h"
#include "quant/formats/quantized_tensor.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace g4u::quant {

struct AwqOptions {
  int64_t group_size = 128;
  int grid = 20;
  int clip_steps = 10;            // max_shrink 0.5 on a 20-step grid
  int64_t clip_tokens = 512;      // tokens sampled for the clip search
  int64_t search_tokens = 4096;   // tokens used for the scale search (evenly sampled)
};

// AWQ's fake quantizer (fp32 scale), w [rows, cols] with cols % g == 0.
torch::Tensor awq_fake_quant(const torch::Tensor& w, int64_t g);
// The final AWQ quantization packed as rtn4_asym_g<g> (fp16 scale).
QuantizedTensor awq_pack(const torch::Tensor& w, int64_t g);

using GroupOutputFn = std::function<torch::Tensor(const torch::Tensor& x, const std::vector<torch::Tensor>& ws)>;
// Best scales [cols] for the projections `ws` (each [*, cols]) sharing input x [T, cols].
torch::Tensor awq_search_scales(const torch::Tensor& x, const std::vector<torch::Tensor>& ws, const GroupOutputFn& out,
                                const AwqOptions& o, double* best_alpha = nullptr);
// Per (row, group) clamp values [rows, cols/g] for w given input x [T, cols].
torch::Tensor awq_search_clip(const torch::Tensor& x, const torch::Tensor& w, const AwqOptions& o);

// Folding (exact in real arithmetic): norm.weight /= s and every linear's columns *= s.
void fold_into_norm(model::RMSNorm& norm, const std::vector<torch::Tensor>& linear_weights, const torch::Tensor& s);
// prev's rows /= s and next's columns *= s.
void fold_into_linear(torch::Tensor prev_weight, torch::Tensor next_weight, const torch::Tensor& s);

// The inputs of one layer's projection groups over the calibration tokens, [tokens, in] fp32:
// q/k/v (after input_layernorm), o_proj, gate/up (after pre_feedforward_layernorm), down_proj.
struct AwqLayerInputs {
  torch::Tensor attn, o, mlp, down;
};
// Projection names whose inputs make up AwqLayerInputs, in its order.
inline const char* const kAwqInputProjections[4] = {"self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj",
                                                     "mlp.down_proj"};

// Gathers AwqLayerInputs from input hooks: hook(i) goes on kAwqInputProjections[i] of a layer,
// inputs() concatenates what each saw (as [tokens, in] fp32).
class AwqInputCollector {
 public:
  std::function<void(const torch::Tensor&)> hook(int i) {
    return [&v = x_[i]](const torch::Tensor& t) { v.push_back(t.reshape({-1, t.size(-1)}).to(torch::kFloat32).clone()); };
  }
  AwqLayerInputs inputs() const { return {torch::cat(x_[0]), torch::cat(x_[1]), torch::cat(x_[2]), torch::cat(x_[3])}; }

 private:
  std::vector<torch::Tensor> x_[4];
};

// What AWQ did to one projection weight, in the order it is applied: columns multiplied by
// col_scale, rows divided by row_div, then every (row, group) clamped to +-clip [rows, cols/g].
// Undefined members: no such step. Replaying it on the stored weights (awq_replay) gives the
// modified weights bit for bit, so a streaming writer need not keep them.
struct AwqWeightEdit {
  torch::Tensor col_scale, row_div, clip;
};
void awq_replay(torch::Tensor w, const AwqWeightEdit& e, int64_t group_size);

struct AwqLayerResult {
  nlohmann::json record;                         // {"alpha_qkv", "alpha_gate_up", "alpha_down"}
  std::map<std::string, AwqWeightEdit> edits;    // by projection ("self_attn.q_proj", ...)
};
// AWQ on one decoder layer with float (DenseLinear) projections, in place: scales searched and
// folded into input_layernorm / pre_feedforward_layernorm / up_proj, then the clip search.
AwqLayerResult awq_layer(model::DecoderLayer& layer, AwqLayerInputs in, const AwqOptions& o);

// awq_layer over every decoder layer of an in-memory float model, each layer's inputs from a
// whole-model forward over the already modified earlier layers; returns per-layer records.
// (`g4u quantize` runs the same per-layer step on a LayerwiseCalibration instead.)
nlohmann::json awq_apply(model::Gemma4Model& m, const CalibrationSet& calib, const AwqOptions& o);

}  // namespace g4u::quant
