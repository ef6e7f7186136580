// `g4u quantize --calib`: the calibrated paths on top of the streaming writer.
//
//  * imatrix: for recipes whose scheme has an importance-weighted encoder (q4_0, q4_1, q4_k, q6_k,
//    iq4_nl, q4_k_m), the calibration activations' mean squares per input column are passed to
//    the encoder of every decoder projection.
//  * gptq_*: sequential layer by layer, and within a layer in the reference's true-sequential
//    order (gptq_sequential_groups): each group's Hessians are collected with every earlier layer
//    and every earlier group of this layer already replaced by its quantized weights (quantized
//    outputs propagated), then the group is quantized with gptq_quantize.
//  * awq_*: awq_layer per layer (scales folded into the norms / up_proj, weights clipped), each
//    layer seeing the outputs of the modified earlier layers; the writer replays the edits on the
//    stored weights and packs them with awq_pack; the changed norm weights are written in fp32.
// All three run on a LayerwiseCalibration (quant/algorithms/layerwise.h): one fp32 layer in memory at a time
// plus the calibration states, never the whole model, so the 12B calibrates in bounded memory.
// GPTQ keeps its packed results (~4.5 bits per weight) until the writer runs.
#pragma once

#include "quant/io/checkpoint.h"

#include <string>
#include <vector>

namespace g4u::quant {

struct CalibrationOptions {
  std::string text_file;
  int64_t segments = 32;
  int64_t seq_len = 256;
};

// GPTQ's true-sequential order of the decoder projections of one layer: the projections that read
// the same input form a group — {q,k,v}, {o}, {gate,up}, {down} — quantized one group after the
// other. Module-relative names ("self_attn.q_proj", ...).
std::vector<std::vector<std::string>> gptq_sequential_groups();

// Quantizes src_dir into out_dir with `opt.recipe`; with calibration when `calib.text_file` is set
// (required for gptq_* / awq_*; an InputError for schemes that cannot use it).
nlohmann::json quantize_calibrated(const std::string& src_dir, const std::string& out_dir, QuantizeOptions opt,
                                   const CalibrationOptions& calib);

}  // namespace g4u::quant
