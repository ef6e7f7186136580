// Portable scalar row-dot kernels: the same algorithm as the AVX2 ones (exact integer dot per
// 32-block of 8-bit activations, fp32 scaling), used where AVX2/FMA/F16C is missing and as the
// reference the AVX2 results are tested against.
#include "quant/formats/fp16.h"
#include "quant/formats/ggml_formats.h"
#include "quant/kernels/kernel_impl.h"
#include "quant/formats/scheme_impl.h"

#include <cstring>

namespace g4u::quant::detail {
namespace {

// sum of code[j] * act[j] over a 32-element chunk in Q4_0 nibble order (16 bytes).
inline int32_t dot_nibbles_32(const uint8_t* qs, const int8_t* x) {
  int32_t sum = 0;
  for (int j = 0; j < 16; ++j) sum += (qs[j] & 0xF) * x[j] + (qs[j] >> 4) * x[j + 16];
  return sum;
}

// Rows of 32-weight blocks of 4-bit codes q with w = d q + k c per block: y = sum d_w d_a dot(q, x)
// + k sum c s_a (s_a = d_a sum(x)). Q4_0: c = d, k = -8; Q4_1: c = m, k = 1.
template <typename Block, typename BlockOffset>
void dot_4bit_blocks(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out, BlockOffset offset,
                     float k) {
  const auto* blocks = reinterpret_cast<const Block*>(w.data + r * w.row_bytes);
  const int64_t nb = w.cols / 32;
  for (int a = 0; a < na; ++a) {
    float acc = 0, off = 0;
    for (int64_t ib = 0; ib < nb; ++ib) {
      const float dw = fp16_to_fp32(blocks[ib].d);
      acc += dw * acts[a].d[ib] * static_cast<float>(dot_nibbles_32(blocks[ib].qs, acts[a].q + 32 * ib));
      off += offset(blocks[ib]) * acts[a].s[ib];
    }
    out[a] = acc + k * off;
  }
}

void dot_q4_0(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  dot_4bit_blocks<BlockQ4_0>(w, r, acts, na, out, [](const BlockQ4_0& b) { return fp16_to_fp32(b.d); }, -8.f);
}

void dot_q4_1(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  dot_4bit_blocks<BlockQ4_1>(w, r, acts, na, out, [](const BlockQ4_1& b) { return fp16_to_fp32(b.m); }, 1.f);
}

void dot_q8_0(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(w.data + r * w.row_bytes);
  const int64_t nb = w.cols / 32;
  for (int a = 0; a < na; ++a) {
    float acc = 0;
    for (int64_t ib = 0; ib < nb; ++ib) {
      const int8_t* x = acts[a].q + 32 * ib;
      int32_t sum = 0;
      for (int j = 0; j < 32; ++j) sum += blocks[ib].qs[j] * x[j];
      acc += fp16_to_fp32(blocks[ib].d) * acts[a].d[ib] * static_cast<float>(sum);
    }
    out[a] = acc;
  }
}

void dot_q4_K(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ4_K*>(w.data + r * w.row_bytes);
  const int64_t nsb = w.cols / kQK_K;
  for (int a = 0; a < na; ++a) {
    float acc = 0, off = 0;
    for (int64_t i = 0; i < nsb; ++i) {
      const BlockQ4_K& b = blocks[i];
      const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, b.scales, &sc, &m);
        const uint8_t* qs = b.qs + 32 * (j / 2);
        const int shift = (j % 2) * 4;
        const int64_t ab = 8 * i + j;
        const int8_t* x = acts[a].q + 32 * ab;
        int32_t sum = 0;
        for (int l = 0; l < 32; ++l) sum += ((qs[l] >> shift) & 0xF) * x[l];
        acc += d * static_cast<float>(sc) * acts[a].d[ab] * static_cast<float>(sum);
        off += dmin * static_cast<float>(m) * acts[a].s[ab];
      }
    }
    out[a] = acc - off;
  }
}

void dot_q6_K(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  const auto* blocks = reinterpret_cast<const BlockQ6_K*>(w.data + r * w.row_bytes);
  const int64_t nsb = w.cols / kQK_K;
  for (int a = 0; a < na; ++a) {
    float acc = 0;
    for (int64_t i = 0; i < nsb; ++i) {
      const BlockQ6_K& b = blocks[i];
      const float d = fp16_to_fp32(b.d);
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = b.ql + 64 * h;
        const uint8_t* qh = b.qh + 32 * h;
        const int8_t* sc = b.scales + 8 * h;
        for (int k = 0; k < 4; ++k) {  // 32-element chunk 128h + 32k
          const int64_t ab = 8 * i + 4 * h + k;
          const int8_t* x = acts[a].q + 32 * ab;
          int32_t half_sum[2] = {0, 0};
          for (int l = 0; l < 32; ++l) {
            const int lo = (k & 1) ? ql[l + 32] : ql[l];
            const int low4 = (k & 2) ? (lo >> 4) : (lo & 0xF);
            const int q = (low4 | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
            half_sum[l / 16] += q * x[l];
          }
          const int32_t isum = sc[2 * k] * half_sum[0] + sc[2 * k + 1] * half_sum[1];
          acc += d * acts[a].d[ab] * static_cast<float>(isum);
        }
      }
    }
    out[a] = acc;
  }
}

void dot_planar(const WeightView& w, int64_t r, const ActRef* acts, int na, float* out) {
  const uint8_t* codes = w.data + r * w.row_bytes;
  const int64_t chunks = w.group / 32;
  for (int a = 0; a < na; ++a) {
    float acc = 0, off = 0;
    for (int64_t g = 0; g < w.groups; ++g) {
      const int64_t gi = r * w.groups + g;
      const float s = fp16_to_fp32(load_u16(w.scales + 2 * gi));
      float z = 8;
      if (w.kind == KernelKind::kPlanarIntZero) z = static_cast<float>(zero_nibble(w.zeros, gi));
      else if (w.kind == KernelKind::kPlanarFp16Zero) z = fp16_to_fp32(load_u16(w.zeros + 2 * gi));
      float ssum = 0;
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t ab = g * chunks + c;
        acc += s * acts[a].d[ab] * static_cast<float>(dot_nibbles_32(codes + 16 * ab, acts[a].q + 32 * ab));
        ssum += acts[a].s[ab];
      }
      off += s * z * ssum;
    }
    out[a] = acc - off;
  }
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Eight partial sums, combined pairwise (the AVX2 kernel's lanes, up to its unrolling).
float dot_bf16(const uint16_t* w, const float* x, int64_t cols) {
  float s[8] = {};
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8)
    for (int k = 0; k < 8; ++k) s[k] += bf16_to_float(w[c + k]) * x[c + k];
  for (; c < cols; ++c) s[0] += bf16_to_float(w[c]) * x[c];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

KernelTable make_table() {
  KernelTable t;
  t.dot[static_cast<int>(KernelKind::kQ4_0)] = dot_q4_0;
  t.dot[static_cast<int>(KernelKind::kQ4_1)] = dot_q4_1;
  t.dot[static_cast<int>(KernelKind::kQ8_0)] = dot_q8_0;
  t.dot[static_cast<int>(KernelKind::kQ4_K)] = dot_q4_K;
  t.dot[static_cast<int>(KernelKind::kQ6_K)] = dot_q6_K;
  t.dot[static_cast<int>(KernelKind::kPlanarSym8)] = dot_planar;
  t.dot[static_cast<int>(KernelKind::kPlanarIntZero)] = dot_planar;
  t.dot[static_cast<int>(KernelKind::kPlanarFp16Zero)] = dot_planar;
  t.quantize_act_row = quantize_act_row_scalar;
  t.bf16_dot = dot_bf16;
  return t;
}

}  // namespace

const KernelTable& scalar_kernel_table() {
  static const KernelTable table = make_table();
  return table;
}

}  // namespace g4u::quant::detail
