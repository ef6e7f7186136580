#include "quant/layer/int4_groups.h"

#include "base/error.h"
#include "quant/formats/fp16.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/interleave.h"
#include "quant/formats/scheme_impl.h"

#include <torch/version.h>

// LibTorch's int4 tensor-core product takes the uint8 [N, K/2] codes from 2.5 on (int32 [N, K] before).
#if defined(G4U_WITH_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5))
#define G4U_HAS_INT4PACK 1
#include <ATen/cuda/CUDAContext.h>
#endif

#include <cstring>
#include <vector>

namespace g4u::quant {
namespace {

// One group's codes and affine terms, written into row r of the outputs.
struct GroupWriter {
  uint8_t* codes;
  float* scales;
  float* zeros;
  int64_t cols, groups;
  void group(int64_t r, int64_t g, float scale, float zero) {
    scales[r * groups + g] = scale;
    zeros[r * groups + g] = zero;
  }
  uint8_t* row_codes(int64_t r) { return codes + r * cols; }
};

// ggml 32-element nibble blocks (q4_0, q4_1): qs[j] low nibble = element j, high = element j + 16.
void unpack_nibble_block(const uint8_t* qs, uint8_t* out) {
  for (int j = 0; j < 16; ++j) {
    out[j] = qs[j] & 0xF;
    out[j + 16] = qs[j] >> 4;
  }
}

void ggml_row(const SchemeTraits& s, const uint8_t* row, int64_t r, GroupWriter& w) {
  const int64_t cols = w.cols;
  uint8_t* q = w.row_codes(r);
  switch (s.kernel) {
    case KernelKind::kQ4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(row);
      for (int64_t i = 0; i < cols / kQK4_0; ++i) {
        unpack_nibble_block(b[i].qs, q + i * kQK4_0);
        w.group(r, i, fp16_to_fp32(b[i].d), 0.0f);
      }
      return;
    }
    case KernelKind::kQ4_1: {
      const auto* b = reinterpret_cast<const BlockQ4_1*>(row);
      for (int64_t i = 0; i < cols / kQK4_1; ++i) {
        unpack_nibble_block(b[i].qs, q + i * kQK4_1);
        const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        w.group(r, i, d, m + 8.0f * d);
      }
      return;
    }
    case KernelKind::kQ4_K: {
      const auto* b = reinterpret_cast<const BlockQ4_K*>(row);
      for (int64_t i = 0; i < cols / kQK_K; ++i) {
        const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        uint8_t* qb = q + i * kQK_K;
        for (int c = 0; c < 4; ++c)  // chunk c: sub-blocks 2c (low nibbles) and 2c + 1 (high)
          for (int l = 0; l < 32; ++l) {
            qb[64 * c + l] = b[i].qs[32 * c + l] & 0xF;
            qb[64 * c + 32 + l] = b[i].qs[32 * c + l] >> 4;
          }
        for (int j = 0; j < 8; ++j) {
          uint8_t sc = 0, m = 0;
          get_scale_min_k4(j, b[i].scales, &sc, &m);
          // ggml: w = (d * sc) * q - (dmin * m)
          const float scale = d * static_cast<float>(sc), min = dmin * static_cast<float>(m);
          w.group(r, i * 8 + j, scale, 8.0f * scale - min);
        }
      }
      return;
    }
    default:
      G4U_CHECK(false, "{} has no int4 group form", s.name);
  }
}

void planar_row(const QuantizedTensor& t, int64_t r, GroupWriter& w) {
  const uint8_t* row = t.data.data() + r * (t.cols / 2);
  uint8_t* q = w.row_codes(r);
  for (int64_t c = 0; c < t.cols; ++c) q[c] = static_cast<uint8_t>(detail::code_q4_0_order(row, c));
  const KernelKind kind = t.scheme->kernel;
  for (int64_t g = 0; g < w.groups; ++g) {
    const int64_t gi = r * w.groups + g;
    const float s = fp16_to_fp32(detail::load_u16(t.scales.data() + 2 * gi));
    float z = 8.0f;  // rtn sym
    if (kind == KernelKind::kPlanarIntZero) z = static_cast<float>(detail::zero_nibble(t.zeros.data(), gi));
    if (kind == KernelKind::kPlanarFp16Zero) z = fp16_to_fp32(detail::load_u16(t.zeros.data() + 2 * gi));
    w.group(r, g, s, (8.0f - z) * s);  // s (q - z) = (q - 8) s + (8 - z) s
  }
}

bool is_int4_affine(const SchemeTraits& s) {
  switch (s.kernel) {
    case KernelKind::kQ4_0:
    case KernelKind::kQ4_1:
    case KernelKind::kQ4_K:
    case KernelKind::kPlanarSym8:
    case KernelKind::kPlanarIntZero:
    case KernelKind::kPlanarFp16Zero:
      return true;
    default:
      return false;
  }
}

}  // namespace

torch::Tensor Int4Groups::dequantized() const {
  const int64_t rows = codes.size(0), cols = codes.size(1);
  torch::Tensor q = codes.to(torch::kFloat32).view({rows, cols / group, group}) - 8.0f;
  return (q * scales.unsqueeze(-1) + zeros.unsqueeze(-1)).view({rows, cols});
}

std::optional<Int4Groups> int4_groups(const QuantizedTensor& w) {
  G4U_CHECK(w.scheme != nullptr, "int4_groups of an empty tensor");
  const SchemeTraits& s = *w.scheme;
  if (!is_int4_affine(s)) return std::nullopt;
  Int4Groups g;
  g.group = s.kernel == KernelKind::kQ4_K ? 32 : s.group_size(w.cols);
  G4U_CHECK(w.cols % g.group == 0, "{}: {} columns in groups of {}", s.name, w.cols, g.group);
  const int64_t groups = w.cols / g.group;
  g.codes = torch::empty({w.rows, w.cols}, torch::kUInt8);
  g.scales = torch::empty({w.rows, groups}, torch::kFloat32);
  g.zeros = torch::empty({w.rows, groups}, torch::kFloat32);
  GroupWriter out{g.codes.data_ptr<uint8_t>(), g.scales.data_ptr<float>(), g.zeros.data_ptr<float>(), w.cols, groups};
  if (s.layout == Layout::kPlanar) {
    for (int64_t r = 0; r < w.rows; ++r) planar_row(w, r, out);
    return g;
  }
  const int64_t row_bytes = w.data_row_bytes();
  std::vector<uint8_t> storage(w.interleaved ? static_cast<size_t>(row_bytes) : 0);
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* row = w.data.data() + r * row_bytes;
    if (w.interleaved) {
      detail::deinterleave_row(s, w.cols, row, storage.data());
      row = storage.data();
    }
    ggml_row(s, row, r, out);
  }
  return g;
}

torch::Tensor scales_and_zeros_table(const Int4Groups& g) {
  return torch::stack({g.scales, g.zeros}, -1).transpose(0, 1).contiguous().to(torch::kBFloat16);
}

torch::Tensor pack_code_pairs(const torch::Tensor& codes) {
  G4U_CHECK(codes.dim() == 2 && codes.size(1) % 2 == 0 && codes.scalar_type() == torch::kUInt8, "codes {}",
            codes.sizes());
  const torch::Tensor even = codes.slice(1, 0, codes.size(1), 2), odd = codes.slice(1, 1, codes.size(1), 2);
  return torch::bitwise_or(even * 16, odd).contiguous();  // uint8 arithmetic: 16 * q <= 240
}

std::string int4_pack_unsupported_reason(const Int4Groups& g, int64_t rows, int64_t cols, const torch::Device& device) {
#if defined(G4U_HAS_INT4PACK)
  if (!device.is_cuda()) return "the packed int4 product runs on CUDA devices only";
  const auto* prop = at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0);
  if (prop->major < 8) return fmt::format("compute capability {}.{} < 8.0", prop->major, prop->minor);
  if (g.group != 32 && g.group != 64 && g.group != 128 && g.group != 256)
    return fmt::format("groups of {} (the product takes 32, 64, 128 or 256)", g.group);
  if (cols % 32 != 0) return fmt::format("{} columns (a multiple of 32 needed)", cols);
  if (rows % 8 != 0) return fmt::format("{} rows (a multiple of 8 needed)", rows);
  return "";
#else
  (void)g, (void)rows, (void)cols, (void)device;
  return "this g4u was built without a CUDA LibTorch >= 2.5 (no _weight_int4pack_mm)";
#endif
}

namespace {
// innerKTiles of the packing: the largest of 8, 4, 2 whose tile (16 * innerKTiles) divides cols.
int64_t inner_k_tiles(int64_t cols) {
  for (int64_t t : {8, 4, 2})
    if (cols % (16 * t) == 0) return t;
  return 0;
}
}  // namespace

Int4Packed int4_pack(const Int4Groups& g, const torch::Device& device) {
  const int64_t rows = g.codes.size(0), cols = g.codes.size(1);
  const std::string why = int4_pack_unsupported_reason(g, rows, cols, device);
  G4U_CHECK(why.empty(), "int4 packing: {}", why);
  Int4Packed p;
  p.group = g.group;
  p.rows = rows;
  p.cols = cols;
#if defined(G4U_HAS_INT4PACK)
  p.packed = at::_convert_weight_to_int4pack(pack_code_pairs(g.codes).to(device), inner_k_tiles(cols));
  p.scales_and_zeros = scales_and_zeros_table(g).to(device);
#else
  (void)inner_k_tiles;
#endif
  return p;
}

torch::Tensor int4_packed_matmul(const Int4Packed& w, const torch::Tensor& x) {
  G4U_CHECK(x.dim() == 2 && x.size(1) == w.cols, "int4 product [{}x{}]: input {}", w.rows, w.cols, x.sizes());
#if defined(G4U_HAS_INT4PACK)
  const torch::Tensor xb = x.to(torch::kBFloat16).contiguous();
  return at::_weight_int4pack_mm(xb, w.packed, w.group, w.scales_and_zeros).to(x.scalar_type());
#else
  G4U_CHECK(false, "int4 product: {}", "this build has no _weight_int4pack_mm");
  return {};
#endif
}

}  // namespace g4u::quant
