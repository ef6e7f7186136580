// GGUF export: writes a checkpoint directory (quantized by `g4u quantize`, or plain float) as one
// GGUF v3 file for llama.cpp's `gemma4` architecture (text decoder only), or a Gemma 4 assistant
// drafter checkpoint (config.json model_type gemma4_unified_assistant) for llama.cpp's
// `gemma4-assistant` architecture (see "Drafters" below).
//
// File layout (all little endian; GGUF spec, ggml-org/ggml docs/gguf.md):
//   "GGUF", u32 version 3, u64 tensor count, u64 kv count,
//   kv pairs   : string key, u32 value type, value (strings: u64 length + bytes, no NUL;
//                arrays: u32 element type, u64 count, elements),
//   tensor info: string name, u32 n_dims, u64 ne[n_dims] (ne[0] innermost = cols of a
//                [rows, cols] weight), u32 ggml type, u64 offset relative to the data section,
//   zero padding to general.alignment, then the data section (each tensor starts at a multiple
//   of the alignment, zero padding between tensors).
//
// Tensors: ggml-scheme tensors (q4_0, q4_1, q4_k, q6_k, q8_0, iq4_nl) are stored by g4u exactly as
// ggml blocks row after row and are copied byte for byte; 2-D float tensors keep their dtype
// (F32/F16/BF16); 1-D tensors (norms, layer scalars) are written as F32 like llama.cpp's converter
// does. A quantized tensor of a scheme ggml does not have (rtn4_*, hqq*, nf4*, and the gptq/awq
// recipes that store rtn layouts) is an InputError naming the tensor and its scheme; nothing is
// written then. Vision/audio embedder tensors are not part of llama.cpp's text GGUF (llama.cpp
// keeps them in a separate mmproj file) and are reported as skipped.
//
// Streaming: the header is built from metadata alone, then tensor bytes are copied from the
// memory-mapped checkpoint in 64 MiB pieces into "<out>.tmp.<pid>", renamed onto <out> when
// complete; on any failure the temp file is removed and <out> is left untouched.
//
// Drafters (llama.cpp src/models/gemma4-assistant.cpp, conversion/gemma.py Gemma4AssistantModel):
// float only (F32/F16/BF16 matrices as stored, 1-D tensors as F32; g4u quantize writes no drafter
// checkpoints); every tensor of the config is mapped by gguf_drafter_tensor_name (no tensor without a
// counterpart, none extra in the checkpoint), plus the generated rope_freqs.weight when the drafter has
// full layers. Keys under "gemma4-assistant.": the decoder keys of the target export (sizes, heads,
// head dims, sliding window and pattern, shared_kv_layers = num_layers, RoPE) plus
// embedding_length_out = backbone_hidden_size (the target's width) and nextn_predict_layers =
// num_layers (llama.cpp builds only the nextn layers; all of the drafter's are). The vocabulary is
// the target's so that llama.cpp pairs them: GgufExportOptions::target (a target checkpoint: its
// vocabulary as its own export writes it; a target .gguf: its tokenizer.* keys copied verbatim; both
// also checked with model::check_assistant_fits), else a tokenizer.model beside the drafter, else g4u's
// byte vocabulary (the tiny/small/medium targets').
#pragma once

#include "quant/formats/ggml_formats.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace g4u::quant {

// llama.cpp tensor name of a canonical g4u text tensor name, e.g.
// "model.language_model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight";
// nullopt for tensors outside the text decoder.
std::optional<std::string> gguf_tensor_name(const std::string& canonical_name);

// llama.cpp's architecture string of the Gemma 4 assistant drafter (src/llama-arch.cpp).
inline constexpr const char* kGgufDrafterArchitecture = "gemma4-assistant";

// llama.cpp tensor name of a drafter checkpoint tensor (model/io/tensor_specs.h
// assistant_tensor_specs), e.g. "pre_projection.weight" -> "nextn.pre_projection.weight",
// "model.layers.1.self_attn.q_proj.weight" -> "blk.1.attn_q.weight"; nullopt for anything else
// (K/V projections included: the assistant's attention is Q-only).
std::optional<std::string> gguf_drafter_tensor_name(const std::string& name);

struct GgufExportOptions {
  uint32_t alignment = 32;  // general.alignment; a power of two
  std::function<void(const std::string&)> progress;  // one line per tensor, if set
  // Drafter export only: the target it drafts for (checkpoint folder or .gguf), whose vocabulary is
  // written; "" = none (see above). InputError when set for a target model.
  std::string target;
};

// Exports `model_dir` to `out_path` (see above). Returns a summary:
// {"out", "source", "architecture", "version", "alignment", "tensor_count", "kv_count", "file_bytes",
//  "tensors": [{"name", "source", "type", "dims", "offset", "bytes"}], "skipped": [{"name", "reason"}],
//  "tokenizer": "byte" | "sentencepiece" | "none" | "copied" (drafter with a .gguf target), "notes": [...]}.
// InputError (naming the file/tensor/field) for bad input; the output path is then untouched.
nlohmann::json export_gguf(const std::string& model_dir, const std::string& out_path, const GgufExportOptions& opt = {});

}  // namespace g4u::quant
