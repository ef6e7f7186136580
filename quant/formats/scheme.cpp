// The scheme registry: one row per scheme (see scheme.h for the fields).
#include "quant/formats/scheme.h"

#include "base/error.h"
#include "base/registry.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/nf4.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme_impl.h"

#include <algorithm>

namespace g4u::quant {
namespace {

using namespace detail;

// The ggml block formats. Unless a row says otherwise, a tensor whose cols do not fit the blocks
// falls back to Q8_0.
struct GgmlRow {
  bool interleaved = false;            // the kernels keep rows interleaved (interleave.h)
  std::string_view fallback = "q8_0";
};
SchemeTraits ggml(std::string_view name, std::string_view summary, int64_t block, int64_t bytes, bool imatrix,
                  KernelKind kernel, EncodeFn enc, DecodeRowsFn dec, GgmlFacts facts, GgmlRow row = {}) {
  SchemeTraits s{name, summary, Layout::kGgmlBlocks, block, block, bytes, imatrix, kernel, enc, dec,
                 storage_ggml, accounting_ggml};
  s.ggml = facts;
  s.interleaved = row.interleaved;
  s.fallback = row.fallback;
  return s;
}

SchemeTraits rtn(std::string_view name, std::string_view summary, int64_t group, bool sym) {
  SchemeTraits s{name,
                 summary,
                 Layout::kPlanar,
                 group,
                 group > 0 ? group : 32,
                 0,
                 false,
                 sym ? KernelKind::kPlanarSym8 : KernelKind::kPlanarIntZero,
                 encode_rtn,
                 decode_planar,
                 storage_planar,
                 accounting_planar};
  s.symmetric = sym;
  return s;
}

SchemeTraits hqq(std::string_view name, std::string_view summary, int64_t group) {
  SchemeTraits s{name, summary, Layout::kPlanar, group, std::max<int64_t>(group, 32), 0, false,
                 KernelKind::kPlanarFp16Zero, encode_hqq, decode_planar, storage_planar, accounting_planar};
  return s;
}

SchemeTraits nf4(std::string_view name, std::string_view summary, bool dq) {
  SchemeTraits s{name,  summary, Layout::kPlanar, kNf4BlockSize, kNf4BlockSize, 0, false, KernelKind::kNone,
                 encode_nf4, decode_nf4, storage_nf4, accounting_nf4};
  s.double_quant = dq;
  return s;
}

const Registry<SchemeTraits>& registry() {
  static const Registry<SchemeTraits> r = [] {
    Registry<SchemeTraits> reg("quantization scheme");
    for (SchemeTraits s : {
        ggml("q4_0", "ggml Q4_0: 32-blocks, fp16 scale, codes -8..7 (4.5 bpw)", kQK4_0, sizeof(BlockQ4_0), true,
             KernelKind::kQ4_0, encode_q4_0, decode_q4_0, {ggml_type::kQ4_0, "Q4_0", 2}, {true}),
        ggml("q4_1", "ggml Q4_1: 32-blocks, fp16 scale + fp16 min (5.0 bpw)", kQK4_1, sizeof(BlockQ4_1), true,
             KernelKind::kQ4_1, encode_q4_1, decode_q4_1, {ggml_type::kQ4_1, "Q4_1", 3}),
        ggml("q4_k", "ggml Q4_K: 256-super-blocks of 8x32, 6-bit scales and mins (4.5 bpw)", kQK_K,
             sizeof(BlockQ4_K), true, KernelKind::kQ4_K, encode_q4_K, decode_q4_K, {ggml_type::kQ4_K, "Q4_K", -1},
             {true, "q4_0"}),  // Q4_0's 32-blocks: same bits per weight
        ggml("q6_k", "ggml Q6_K: 256-super-blocks of 16x16, int8 scales (6.5625 bpw)", kQK_K, sizeof(BlockQ6_K),
             true, KernelKind::kQ6_K, encode_q6_K, decode_q6_K, {ggml_type::kQ6_K, "Q6_K", 18}),
        ggml("q8_0", "ggml Q8_0: 32-blocks, fp16 scale, int8 codes (8.5 bpw)", kQK8_0, sizeof(BlockQ8_0), false,
             KernelKind::kQ8_0, encode_q8_0, decode_q8_0, {ggml_type::kQ8_0, "Q8_0", 7}, {false, ""}),
        ggml("iq4_nl", "ggml IQ4_NL: 32-blocks, fp16 scale, fixed non-linear 16-entry table (4.5 bpw)", kQK4_NL,
             sizeof(BlockIQ4_NL), true, KernelKind::kNone, encode_iq4_nl, decode_iq4_nl,
             {ggml_type::kIQ4_NL, "IQ4_NL", 25}),
        nf4("nf4", "bitsandbytes NF4: 64-blocks of the flattened tensor, fp32 absmax (4.5 bpw)", false),
        nf4("nf4_dq", "bitsandbytes NF4 with double-quantized absmax (8-bit, 256-blocks; ~4.127 bpw)", true),
        hqq("hqq", "HQQ 4-bit, group 64 along the row, fp16 scale + fractional fp16 zero (4.5 bpw)", 64),
        hqq("hqq_g32", "HQQ 4-bit, group 32 (5.0 bpw)", 32),
        hqq("hqq_g128", "HQQ 4-bit, group 128 (4.25 bpw)", 128),
        rtn("rtn4_sym_g32", "RTN 4-bit symmetric (zero 8), group 32, fp16 scale (4.5 bpw)", 32, true),
        rtn("rtn4_sym_g64", "RTN 4-bit symmetric (zero 8), group 64, fp16 scale (4.25 bpw)", 64, true),
        rtn("rtn4_sym_g128", "RTN 4-bit symmetric (zero 8), group 128, fp16 scale (4.125 bpw)", 128, true),
        rtn("rtn4_sym_pc", "RTN 4-bit symmetric (zero 8), one fp16 scale per row", 0, true),
        rtn("rtn4_asym_g32", "RTN 4-bit asymmetric, group 32, fp16 scale + 4-bit zero (4.625 bpw)", 32, false),
        rtn("rtn4_asym_g64", "RTN 4-bit asymmetric, group 64, fp16 scale + 4-bit zero (4.3125 bpw)", 64, false),
        rtn("rtn4_asym_g128", "RTN 4-bit asymmetric, group 128, fp16 scale + 4-bit zero (4.156 bpw)", 128, false),
        rtn("rtn4_asym_pc", "RTN 4-bit asymmetric, one fp16 scale + 4-bit zero per row", 0, false),
         })
      reg.add(s);
    for (const auto& s : reg.all())
      G4U_CHECK(s.fallback.empty() || reg.lookup(s.fallback), "scheme {}: unknown fallback {}", s.name, s.fallback);
    return reg;
  }();
  return r;
}

}  // namespace

const std::vector<const SchemeTraits*>& all_schemes() {
  static const std::vector<const SchemeTraits*> v = [] {
    std::vector<const SchemeTraits*> out;
    for (const auto& s : registry().all()) out.push_back(&s);
    return out;
  }();
  return v;
}

std::vector<std::string> scheme_names() {
  std::vector<std::string> out;
  for (const auto* s : all_schemes()) out.emplace_back(s->name);
  return out;
}

const SchemeTraits* lookup_scheme(std::string_view name) { return registry().lookup(name); }
const SchemeTraits& find_scheme(std::string_view name) { return registry().find(name); }

double bits_per_weight(const SchemeTraits& s, int64_t rows, int64_t cols) {
  return 8.0 * static_cast<double>(s.accounting(s, rows, cols).total()) / static_cast<double>(rows * cols);
}

}  // namespace g4u::quant
