// NF4 encoder/decoder (see nf4.h). Facts from shared/docs/quant-and-mtp.md §2.9, with the
// rounding details checked against bitsandbytes' default (torch) backend: the scaled value is
// w * (1 / absmax) clamped to [-1, 1] and the code is argmin |u - table| (first index on ties).
// Differences, documented: an all-zero block (absmax 0) stores code 7 (= 0) where bitsandbytes
// would divide by zero; the double-quant offset (mean of the absmax values) is accumulated in
// double, torch uses its own float reduction order.
#include "quant/formats/nf4.h"

#include "quant/formats/scheme_impl.h"
#include "quant/kernels/parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace g4u::quant {

const std::array<float, 16> kNf4Values = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

const std::array<float, 256>& nf4_dynamic_map() {
  static const std::array<float, 256> map = [] {
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
      const int n = (1 << i) + 1;  // linspace(0.1, 1, n) in fp32, torch's two-sided formula
      const float start = 0.1f, end = 1.0f;
      const float step = (end - start) / static_cast<float>(n - 1);
      std::vector<float> b(static_cast<size_t>(n));
      for (int k = 0; k < n; ++k)
        b[k] = k < n / 2 ? start + step * static_cast<float>(k) : end - step * static_cast<float>(n - 1 - k);
      const float scale = static_cast<float>(std::pow(10.0, i - 6));
      for (int k = 0; k + 1 < n; ++k) {
        const float mean = (b[k] + b[k + 1]) / 2.0f;
        data.push_back(scale * mean);
        data.push_back(-scale * mean);
      }
    }
    data.push_back(0.f);
    data.push_back(1.f);
    std::sort(data.begin(), data.end());
    std::array<float, 256> out{};
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }();
  return map;
}

int nearest_index_sorted(const float* table, int n, float u) {
  const int k = static_cast<int>(std::lower_bound(table, table + n, u) - table);
  if (k == 0) return 0;
  if (k == n) return n - 1;
  return std::fabs(u - table[k]) < std::fabs(u - table[k - 1]) ? k : k - 1;
}

namespace detail {
namespace {

int64_t nf4_blocks(int64_t rows, int64_t cols) { return rows * cols / kNf4BlockSize; }
int64_t nested_blocks(int64_t nb) { return (nb + kNf4NestedBlockSize - 1) / kNf4NestedBlockSize; }

float absmax_of_block(const QuantizedTensor& t, int64_t b) {
  if (!t.scheme->double_quant) return load_f32(t.scales.data() + 4 * b);
  const int64_t nb2 = nested_blocks(nf4_blocks(t.rows, t.cols));
  const float absmax2 = load_f32(t.meta.data() + 4 * (b / kNf4NestedBlockSize));
  const float offset = load_f32(t.meta.data() + 4 * nb2);
  return nf4_dynamic_map()[t.scales[static_cast<size_t>(b)]] * absmax2 + offset;
}

}  // namespace

StorageSizes storage_nf4(const SchemeTraits& s, int64_t rows, int64_t cols) {
  const int64_t nb = nf4_blocks(rows, cols);
  StorageSizes z;
  z.data = rows * cols / 2;
  z.scales = s.double_quant ? nb : 4 * nb;
  z.meta = s.double_quant ? 4 * nested_blocks(nb) + 4 : 0;
  return z;
}

ByteAccounting accounting_nf4(const SchemeTraits& s, int64_t rows, int64_t cols) {
  const int64_t nb = nf4_blocks(rows, cols);
  ByteAccounting a;
  a.codes = rows * cols / 2;
  a.scales = s.double_quant ? nb + 4 * nested_blocks(nb) : 4 * nb;
  a.other = s.double_quant ? 4 : 0;  // the fp32 offset
  return a;
}

void encode_nf4(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float*, int threads,
                QuantizedTensor& out) {
  const int64_t nb = nf4_blocks(rows, cols);
  const StorageSizes sz = storage_nf4(s, rows, cols);
  out.data.assign(static_cast<size_t>(sz.data), 0);
  std::vector<float> absmax(static_cast<size_t>(nb));
  const int64_t per_task = 256;
  parallel_for((nb + per_task - 1) / per_task, threads, [&](int64_t t) {
    for (int64_t b = t * per_task; b < std::min(nb, (t + 1) * per_task); ++b) {
      const float* v = w + b * kNf4BlockSize;
      float amax = 0.f;
      for (int i = 0; i < kNf4BlockSize; ++i) amax = std::max(amax, std::fabs(v[i]));
      absmax[static_cast<size_t>(b)] = amax;
      const float inv = amax > 0.f ? 1.0f / amax : 0.f;
      uint8_t* dst = out.data.mutable_data() + b * (kNf4BlockSize / 2);
      for (int i = 0; i < kNf4BlockSize; i += 2) {
        const int c0 = amax > 0.f ? nearest_index_sorted(kNf4Values.data(), 16, std::clamp(v[i] * inv, -1.f, 1.f)) : 7;
        const int c1 =
            amax > 0.f ? nearest_index_sorted(kNf4Values.data(), 16, std::clamp(v[i + 1] * inv, -1.f, 1.f)) : 7;
        dst[i / 2] = static_cast<uint8_t>((c0 << 4) | c1);  // element 2i -> high nibble
      }
    }
  });

  if (!s.double_quant) {
    out.scales.assign(static_cast<size_t>(sz.scales), 0);
    for (int64_t b = 0; b < nb; ++b) store_f32(out.scales.mutable_data() + 4 * b, absmax[static_cast<size_t>(b)]);
    return;
  }
  // Double quantization: absmax - mean(absmax), blockwise-8-bit with the dynamic map, 256 per block.
  double sum = 0;
  for (float a : absmax) sum += a;
  const float offset = static_cast<float>(sum / static_cast<double>(nb));
  const auto& map = nf4_dynamic_map();
  const int zero_code = nearest_index_sorted(map.data(), 256, 0.f);
  const int64_t nb2 = nested_blocks(nb);
  out.scales.assign(static_cast<size_t>(sz.scales), 0);
  out.meta.assign(static_cast<size_t>(sz.meta), 0);
  for (int64_t b2 = 0; b2 < nb2; ++b2) {
    const int64_t b0 = b2 * kNf4NestedBlockSize, b1 = std::min(nb, b0 + kNf4NestedBlockSize);
    float amax2 = 0.f;
    for (int64_t b = b0; b < b1; ++b) amax2 = std::max(amax2, std::fabs(absmax[static_cast<size_t>(b)] - offset));
    const float inv2 = amax2 > 0.f ? 1.0f / amax2 : 0.f;
    for (int64_t b = b0; b < b1; ++b) {
      const float centred = absmax[static_cast<size_t>(b)] - offset;
      out.scales.mutable_data()[b] = static_cast<uint8_t>(
          amax2 > 0.f ? nearest_index_sorted(map.data(), 256, std::clamp(centred * inv2, -1.f, 1.f)) : zero_code);
    }
    store_f32(out.meta.mutable_data() + 4 * b2, amax2);
  }
  store_f32(out.meta.mutable_data() + 4 * nb2, offset);
}

void decode_nf4(const QuantizedTensor& t, int64_t r0, int64_t r1, float* out) {
  const int64_t e0 = r0 * t.cols, e1 = r1 * t.cols;
  for (int64_t b = e0 / kNf4BlockSize; b < e1 / kNf4BlockSize; ++b) {
    const float absmax = absmax_of_block(t, b);
    const uint8_t* src = t.data.data() + b * (kNf4BlockSize / 2);
    float* o = out + (b * kNf4BlockSize - e0);
    for (int i = 0; i < kNf4BlockSize / 2; ++i) {
      o[2 * i] = kNf4Values[src[i] >> 4] * absmax;
      o[2 * i + 1] = kNf4Values[src[i] & 0xF] * absmax;
    }
  }
}

}  // namespace detail
}  // namespace g4u::quant
