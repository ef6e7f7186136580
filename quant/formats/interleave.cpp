#include "quant/formats/interleave.h"

#include "base/error.h"
#include "quant/formats/ggml_formats.h"

#include <cstddef>
#include <cstring>

namespace g4u::quant {
namespace {

constexpr int kGroupBlocks = 8;  // 32-blocks per interleaved group (one Q4_K super-block)

// Q4_0: one group of 8 blocks (144 bytes) between the orders.
void q4_0_group(const uint8_t* in, uint8_t* out, bool to_interleaved) {
  // copies n bytes between offset `st` of the storage order and `il` of the interleaved order
  auto move = [&](int64_t st, int64_t il, size_t n) {
    if (to_interleaved) std::memcpy(out + il, in + st, n);
    else std::memcpy(out + st, in + il, n);
  };
  for (int b = 0; b < kGroupBlocks; ++b) {
    const int64_t blk = b * static_cast<int64_t>(sizeof(BlockQ4_0));
    move(blk, 2 * b, 2);
    for (int j = 0; j < 4; ++j) move(blk + 2 + 4 * j, 16 + 32 * j + 4 * b, 4);
  }
}

// Q4_K: the 128 code bytes of one super-block between the orders.
void q4_K_codes(const uint8_t* in, uint8_t* out, bool to_interleaved) {
  for (int b = 0; b < kGroupBlocks; ++b) {
    const int c = b / 2, shift = 4 * (b % 2);  // storage: chunk c, low nibble for even sub-blocks
    for (int e = 0; e < 16; ++e) {
      const int j = e / 4, t = e % 4;
      const int il = 32 * j + 4 * b + t;  // interleaved byte holding elements e (low) and e+16 (high)
      if (to_interleaved) {
        const uint8_t lo = (in[32 * c + e] >> shift) & 0xF, hi = (in[32 * c + e + 16] >> shift) & 0xF;
        out[il] = static_cast<uint8_t>(lo | (hi << 4));
      } else {
        const uint8_t keep = static_cast<uint8_t>(0xF0 >> shift);  // the other sub-block's nibble
        out[32 * c + e] = static_cast<uint8_t>((out[32 * c + e] & keep) | ((in[il] & 0xF) << shift));
        out[32 * c + e + 16] = static_cast<uint8_t>((out[32 * c + e + 16] & keep) | ((in[il] >> 4) << shift));
      }
    }
  }
}

void convert_row(const SchemeTraits& s, int64_t cols, const uint8_t* in, uint8_t* out, bool to_interleaved) {
  if (s.kernel == KernelKind::kQ4_0) {
    const int64_t nb = cols / 32, groups = nb / kGroupBlocks;
    const int64_t group_bytes = kGroupBlocks * static_cast<int64_t>(sizeof(BlockQ4_0));
    for (int64_t g = 0; g < groups; ++g) q4_0_group(in + g * group_bytes, out + g * group_bytes, to_interleaved);
    const int64_t done = groups * group_bytes;
    std::memcpy(out + done, in + done, static_cast<size_t>(nb * sizeof(BlockQ4_0) - done));
  } else if (s.kernel == KernelKind::kQ4_K) {
    const int64_t nsb = cols / kQK_K;
    for (int64_t i = 0; i < nsb; ++i) {
      const uint8_t* bi = in + i * sizeof(BlockQ4_K);
      uint8_t* bo = out + i * sizeof(BlockQ4_K);
      const size_t head = offsetof(BlockQ4_K, qs);
      std::memcpy(bo, bi, head);
      if (!to_interleaved) std::memset(bo + head, 0, 128);
      q4_K_codes(bi + head, bo + head, to_interleaved);
    }
  } else {
    G4U_CHECK(false, "scheme {} has no interleaved order", s.name);
  }
}

QuantizedTensor convert(QuantizedTensor q, bool to_interleaved) {
  G4U_CHECK(q.scheme != nullptr, "QuantizedTensor without a scheme");
  if (!has_interleaved_order(*q.scheme) || q.interleaved == to_interleaved) return q;
  // Row by row in place through one row of scratch: loading a checkpoint then touches the weights'
  // memory once more in cache-sized pieces instead of allocating (and zeroing) a second copy.
  const int64_t row_bytes = q.data_row_bytes();
  std::vector<uint8_t> row(static_cast<size_t>(row_bytes));
  uint8_t* data = q.data.mutable_data();  // borrowed bytes are copied here, once
  for (int64_t r = 0; r < q.rows; ++r) {
    uint8_t* p = data + r * row_bytes;
    std::memcpy(row.data(), p, row.size());
    convert_row(*q.scheme, q.cols, row.data(), p, to_interleaved);
  }
  q.interleaved = to_interleaved;
  return q;
}

}  // namespace

bool has_interleaved_order(const SchemeTraits& scheme) { return scheme.interleaved; }

QuantizedTensor to_interleaved(QuantizedTensor q) { return convert(std::move(q), true); }
QuantizedTensor to_storage_order(QuantizedTensor q) { return convert(std::move(q), false); }

namespace detail {

void interleave_row(const SchemeTraits& scheme, int64_t cols, const uint8_t* storage, uint8_t* interleaved) {
  convert_row(scheme, cols, storage, interleaved, true);
}

void deinterleave_row(const SchemeTraits& scheme, int64_t cols, const uint8_t* interleaved, uint8_t* storage) {
  convert_row(scheme, cols, interleaved, storage, false);
}

void interleave_act_groups(int8_t* q, int64_t cols) {
  int8_t tmp[256];
  for (int64_t g = 0; g + 256 <= cols; g += 256) {
    int8_t* x = q + g;
    for (int v = 0; v < 8; ++v) {
      const int j = v / 2, h = v % 2;
      for (int b = 0; b < kGroupBlocks; ++b) std::memcpy(tmp + 32 * v + 4 * b, x + 32 * b + 16 * h + 4 * j, 4);
    }
    std::memcpy(x, tmp, sizeof(tmp));
  }
}

}  // namespace detail
}  // namespace g4u::quant
