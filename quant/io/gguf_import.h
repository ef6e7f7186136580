// GGUF import: a GGUF file of llama.cpp's `gemma4` architecture (what `g4u export-gguf` writes,
// and what llama.cpp's converter writes for a Gemma 4 text decoder) loaded as the same in-memory
// model a g4u quantized checkpoint gives: `--model file.gguf` in every model command.
//
// Config (gguf_model_config), from the metadata as llama.cpp's gemma4 loader reads it:
//   general.architecture = "gemma4" (anything else: InputError naming it);
//   gemma4.block_count, embedding_length, context_length, feed_forward_length (one value or one
//   per layer, all equal), attention.head_count / head_count_kv (one value or one per layer,
//   uniform per layer type; head_count_kv defaults to head_count), attention.key_length /
//   value_length (full layers) and key_length_swa / value_length_swa (sliding layers; key and
//   value equal), attention.sliding_window_pattern (bool per layer, true = sliding),
//   attention.sliding_window, attention.layer_norm_rms_epsilon, rope.freq_base (full layers);
//   optional: rope.freq_base_swa (default 10000, llama.cpp's), rope.dimension_count(_swa) (must equal
//   the head dims: partial rotation is carried by rope_freqs.weight), final_logit_softcapping
//   (absent: 30, llama.cpp's default; 0: none), attention.shared_kv_layers and
//   embedding_length_per_layer_input (must be 0), expert_count (must be 0: no MoE);
//   vocab_size = the rows of token_embd.weight; full layers without attn_v use K as V (k_eq_v);
//   rope_freqs.weight (F32 [key_length/2], required with full layers): factors 1 for the rotated
//   pairs, then >= 1e20 for the unrotated ones = proportional RoPE with partial_rotary_factor
//   2 * rotated / key_length (other factors: InputError); tokenizer.ggml.bos/eos/padding_token_id,
//   eot/eom ids (added to the stop ids) and suppress_tokens. A key g4u needs but the file lacks is
//   an InputError naming it. No vision/audio: those live in llama.cpp's separate mmproj file.
//
// Tensors (names as gguf_tensor_name maps them; each must have the config's shape):
//   Q4_0, Q4_1, Q8_0, Q4_K, Q6_K, IQ4_NL decoder projections -> QuantLinear with the g4u scheme of
//   that ggml type (byte for byte the same blocks); a quantized token_embd -> dequantized table for
//   the lookups plus the packed head (as load_quantized_model); F32/F16/BF16 tensors -> dense
//   parameters; a BF16 token_embd under an fp32 run stays bf16 behind TiedBf16Head unless
//   LoadOptions::packed_head is false; blk.L.layer_output_scale.weight absent -> 1 (llama.cpp: no
//   scaling); any other tensor (output.weight, MoE, per-layer embeddings, ...) is an InputError.
//
// Memory: the file is memory-mapped. With LoadOptions::map_packed (the default), quantized tensors
// whose blocks the kernels read as stored (all but Q4_0 and Q4_K, which they read interleaved) and
// a BF16 token_embd kept for TiedBf16Head stay views of the mapping, which the model then keeps
// alive; every other tensor is copied out and its pages released at once (MADV_DONTNEED), so
// loading costs about the model's own bytes, not the file's twice.
#pragma once

#include "model/io/config.h"
#include "model/io/loader.h"
#include "quant/io/gguf_reader.h"

#include <string>

namespace g4u::quant {

// The model config a gemma4 GGUF describes (see above); InputError naming the file and key.
model::ModelConfig gguf_model_config(const GgufFile& f);

// Loads `path` (see above). opt.tokenizer false: no tokenizer is read (token-id commands).
model::LoadedModel load_gguf_model(const std::string& path, const model::LoadOptions& opt = {});

}  // namespace g4u::quant
