// Tensor policy: which checkpoint tensors a quantization recipe quantizes, and to which scheme.
// One rule, applied identically to every recipe (quant-and-mtp.md §2.5, §9 A.3):
//
//  * Decoder projections (component "text", kind kLinear: q/k/v/o_proj, gate/up/down_proj of every
//    layer) -> the recipe's scheme.
//  * The tied token embedding / LM head -> kept in the source checkpoint's float dtype (bf16 for
//    released and `g4u init` checkpoints) for every uniform recipe. It is the most sensitive tensor
//    (llama.cpp PR #5650 on Gemma) and is read whole per decoded token as the head, so it is
//    reported separately. At load it stays bf16 even under an fp32 run (quant/layer/tied_head.h: the
//    same logits up to summation order, half the bytes). Exception: `q4_k_m` follows llama.cpp and
//    stores it as Q6_K (at load the head reads it packed, the lookups a dequantized copy; see
//    model::LoadOptions::packed_head).
//  * Norm weights, layer scalars, and all vision/audio embedder tensors (their linears included:
//    they run once per image or clip, not per decoded token) -> kept unchanged.
//  * Shape fallback (llama.cpp-like): a decoder linear whose cols the scheme cannot store (cols not
//    a multiple of its block) gets q4_0 if the scheme is q4_k, q8_0 if it is q6_k, otherwise q8_0;
//    if cols is not a multiple of 32 either, it stays in float. Fallbacks are recorded per tensor.
//
// Recipes: every registered scheme name (quant/formats/scheme.h) is a "pure" recipe (llama-quantize
// --pure: one scheme for all decoder linears), plus the mixed recipe
//  * `q4_k_m` (llama.cpp LLAMA_FTYPE_MOSTLY_Q4_K_M): q4_k everywhere, except q6_k for v_proj
//    tensors with use_more_bits(i_v, n_v) and down_proj with use_more_bits(layer, n_layers), where
//    use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 (integer division) and i_v
//    counts only the v_proj tensors present (Gemma 4's K=V full layers have none; their k_proj is
//    not promoted, as llama.cpp only promotes tensors named attn_v); embedding/head q6_k.
// Calibrated recipes (gptq_*, awq_*) use the same policy with their storage scheme.
#pragma once

#include "model/io/config.h"
#include "model/io/tensor_specs.h"
#include "quant/formats/scheme.h"

#include <string>
#include <string_view>
#include <vector>

namespace g4u::quant {

enum class Method { kRoundToNearest, kGptq, kAwq };

struct Recipe {
  std::string name;
  std::string summary;
  const SchemeTraits* base = nullptr;  // scheme (storage layout) of ordinary decoder linears
  bool q4_k_m = false;                 // the llama.cpp Q4_K_M mix
  Method method = Method::kRoundToNearest;
  bool sym = false;  // gptq: symmetric quantizer
  int llama_ftype = -1;  // llama.cpp's llama_ftype of a model made with this recipe; -1: none
};

// All recipes: every scheme (pure) plus q4_k_m, and the calibrated ones (need --calib):
// gptq_asym_g{32,64,128}, gptq_sym_g{32,64,128} (stored as rtn4_{asym,sym}_g*; act-order, static
// groups, damp 0.01, block 128, sequential layer by layer) and awq_g{32,64,128} (rtn4_asym_g*).
std::vector<Recipe> all_recipes();
// InputError "unknown quantization recipe 'x' (known: ...)" when unknown.
Recipe find_recipe(std::string_view name);

struct TensorAssignment {
  model::TensorSpec spec;
  const SchemeTraits* scheme = nullptr;  // nullptr: kept in float
  std::string rule;                      // why (one short phrase, stored in the metadata)
};

// use_more_bits of llama-quant.cpp.
bool use_more_bits(int64_t i, int64_t n);

// Applies the policy to every tensor of `specs` (in order).
std::vector<TensorAssignment> plan_tensors(const std::vector<model::TensorSpec>& specs, const Recipe& recipe);

}  // namespace g4u::quant
