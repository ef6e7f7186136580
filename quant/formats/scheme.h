// Quantization scheme registry: one record per scheme (a Registry<SchemeTraits>, base/registry.h),
// in the style of ggml's type traits. Adding a scheme = adding one row to the table in scheme.cpp
// (its encoder/decoder, byte accounting, kernel, ggml facts, interleave and fallback).
//
// Every scheme stores a [rows, cols] weight (PyTorch nn.Linear layout: one row = one output
// channel, cols = input features) with all grouping along cols. Two storage layouts exist:
//
//  * kGgmlBlocks: ggml's interleaved blocks (q4_0, q4_1, q4_k, q6_k, q8_0, iq4_nl), stored row
//    after row exactly as ggml stores them; QuantizedTensor::data holds everything.
//  * kPlanar: our own layout for schemes that are not ggml types (rtn*, nf4*, hqq*): codes in
//    QuantizedTensor::data, metadata in separate arrays (scales, zeros, meta). See
//    quant/formats/quantized_tensor.h for the exact byte order of each.
//
// Names are stable lowercase strings that reach files and the command line; never rename one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::quant {

struct QuantizedTensor;

// Exact storage bytes of a quantized tensor, by part. total() equals the bytes actually held.
struct ByteAccounting {
  int64_t codes = 0;       // packed quantized values
  int64_t scales = 0;      // scales / super-scales / absmax (incl. nested ones)
  int64_t zeros_mins = 0;  // zero points, minima and their super-scales
  int64_t codebook = 0;    // per-tensor tables (0 for fixed tables such as NF4's or IQ4_NL's)
  int64_t other = 0;       // any other metadata (e.g. NF4 double-quant offset)
  int64_t total() const { return codes + scales + zeros_mins + codebook + other; }
};

// Sizes of the arrays of a QuantizedTensor (see quantized_tensor.h).
struct StorageSizes {
  int64_t data = 0, scales = 0, zeros = 0, meta = 0;
  int64_t total() const { return data + scales + zeros + meta; }
};

enum class Layout { kGgmlBlocks, kPlanar };

// Which fast (packed) kernel computes products with this scheme; kNone = reference path only
// (dequantize a row to fp32, then an fp32 dot product).
enum class KernelKind {
  kNone,
  kQ4_0,
  kQ4_1,
  kQ8_0,
  kQ4_K,
  kQ6_K,
  kPlanarSym8,      // rtn*_sym: w = s * (q - 8)
  kPlanarIntZero,   // rtn*_asym: w = s * (q - z), z a 4-bit integer
  kPlanarFp16Zero,  // hqq: w = s * (q - z), z fp16 (fractional)
  kCount,
};

struct SchemeTraits;

// How ggml and llama.cpp know a scheme stored as ggml blocks.
struct GgmlFacts {
  uint32_t type = 0;              // ggml_type (GGUF tensor type) holding these bytes as they are
  std::string_view type_name;     // "Q4_0", ... as ggml names it
  int llama_ftype = -1;           // llama.cpp's llama_ftype of a model quantized purely with it; -1: none
};

// Encoders see the whole tensor (some, like HQQ and NF4 double quantization, are not row-local).
// `imatrix` is null or `cols` non-negative importance values; `threads` <= 0 means default.
using EncodeFn = void (*)(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols,
                          const float* imatrix, int threads, QuantizedTensor& out);
// Decodes rows [r0, r1) to fp32, row-major, into out[(r - r0) * cols + c].
using DecodeRowsFn = void (*)(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out);
using StorageFn = StorageSizes (*)(const SchemeTraits& s, int64_t rows, int64_t cols);
using AccountingFn = ByteAccounting (*)(const SchemeTraits& s, int64_t rows, int64_t cols);

struct SchemeTraits {
  std::string_view name;     // stable, lowercase: "q4_k", "rtn4_asym_g128", ...
  std::string_view summary;  // one line for `g4u quant schemes`
  Layout layout;
  int64_t block;            // weights per block / group along a row; 0 = one group per row
  int64_t cols_multiple;    // cols must be a multiple of this
  int64_t bytes_per_block;  // ggml block size in bytes (sizeof the block); 0 for planar schemes
  bool uses_imatrix;        // has an importance-weighted encode path
  KernelKind kernel;        // kNone => reference-only products
  EncodeFn encode_ref;
  DecodeRowsFn decode_ref;
  StorageFn storage;
  AccountingFn accounting;
  // Scheme parameters read by the shared planar encoders/decoders.
  bool symmetric = false;   // rtn: sym (zero fixed at 8) vs asym (4-bit integer zero)
  bool double_quant = false;  // nf4: double quantization of the absmax scales
  // ggml / GGUF identity (kGgmlBlocks schemes; type_name empty otherwise).
  GgmlFacts ggml{};
  // The kernels keep the rows in an interleaved order (quant/formats/interleave.h).
  bool interleaved = false;
  // The scheme a tensor gets when its cols do not fit this one's blocks ("": kept float).
  std::string_view fallback = "q8_0";

  bool reference_only() const { return kernel == KernelKind::kNone; }
  bool has_ggml_type() const { return !ggml.type_name.empty(); }
  // Group size for a row of `cols` weights (block, or cols for per-channel schemes).
  int64_t group_size(int64_t cols) const { return block > 0 ? block : cols; }
};

// All registered schemes, in a stable order.
const std::vector<const SchemeTraits*>& all_schemes();
std::vector<std::string> scheme_names();
// nullptr when unknown.
const SchemeTraits* lookup_scheme(std::string_view name);
// InputError "unknown quantization scheme 'x' (known: q4_0, ...)" when unknown.
const SchemeTraits& find_scheme(std::string_view name);

// Bits per weight including every piece of metadata, for a [rows, cols] tensor.
double bits_per_weight(const SchemeTraits& s, int64_t rows, int64_t cols);

}  // namespace g4u::quant
