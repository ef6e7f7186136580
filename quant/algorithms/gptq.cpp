#include "quant/algorithms/gptq.h"

#include "base/error.h"
#include "quant/formats/fp16.h"
#include "quant/formats/scheme_impl.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace g4u::quant {

HessianAccumulator::HessianAccumulator(int64_t cols) : h_(torch::zeros({cols, cols}, torch::kFloat32)) {}

void HessianAccumulator::add(const torch::Tensor& x) {
  torch::NoGradGuard ng;
  torch::Tensor xf = x.detach().reshape({-1, h_.size(0)}).to(torch::kFloat32);
  const int64_t t = xf.size(0);
  if (t == 0) return;
  h_.mul_(static_cast<double>(n_) / static_cast<double>(n_ + t));
  n_ += t;
  xf = xf * std::sqrt(2.0 / static_cast<double>(n_));
  h_.addmm_(xf.t(), xf);
}

std::string gptq_storage_scheme(const GptqOptions& o) {
  std::string g = o.group_size < 0 ? "pc" : "g" + std::to_string(o.group_size);
  return std::string("rtn4_") + (o.sym ? "sym_" : "asym_") + g;
}

QuantizedTensor pack_rtn4(const SchemeTraits& s, int64_t rows, int64_t cols, const uint8_t* codes,
                          const uint16_t* scale_bits, const uint8_t* zeros) {
  check_shape(s, rows, cols, "pack_rtn4");
  G4U_CHECK(s.layout == Layout::kPlanar && s.kernel != KernelKind::kPlanarFp16Zero && s.name.substr(0, 4) == "rtn4",
            "pack_rtn4: {} is not an rtn4 scheme", s.name);
  const int64_t g = s.group_size(cols), groups = cols / g;
  const StorageSizes sz = s.storage(s, rows, cols);
  QuantizedTensor q;
  q.scheme = &s;
  q.rows = rows;
  q.cols = cols;
  q.data.assign(static_cast<size_t>(sz.data), 0);
  q.scales.assign(static_cast<size_t>(sz.scales), 0);
  q.zeros.assign(static_cast<size_t>(sz.zeros), 0);
  for (int64_t r = 0; r < rows; ++r) detail::pack_codes_q4_0_order(codes + r * cols, cols, q.data.mutable_data() + r * (cols / 2));
  for (int64_t i = 0; i < rows * groups; ++i) {
    detail::store_u16(q.scales.mutable_data() + 2 * i, scale_bits[i]);
    if (s.symmetric) {
      G4U_CHECK(zeros == nullptr || zeros[i] == 8, "sym scheme with zero {}", zeros[i]);
    } else {
      q.zeros.mutable_data()[i / 2] |= static_cast<uint8_t>((zeros[i] & 0xF) << (4 * (i % 2)));
    }
  }
  return q;
}

namespace {

// Per-row quantizer of one group: fp16 scale and integer zero, as rtn4.
struct RowQuantizer {
  torch::Tensor scale;  // [rows] fp32 (fp16-representable)
  torch::Tensor zero;   // [rows] fp32 integer values
};

RowQuantizer find_params(const torch::Tensor& wg /* [rows, g] */, bool sym) {
  torch::Tensor lo = std::get<0>(wg.min(1)).clamp_max(0), hi = std::get<0>(wg.max(1)).clamp_min(0);
  RowQuantizer q;
  torch::Tensor s;
  if (sym) {
    s = 2 * torch::maximum(lo.abs(), hi) / 15;
    q.zero = torch::full_like(s, 8);
  } else {
    s = (hi - lo) / 15;
  }
  s = s.to(torch::kHalf).to(torch::kFloat32);  // the stored fp16 scale
  if (!sym) q.zero = torch::where(s > 0, torch::round(-lo / s).clamp(0, 15), torch::zeros_like(s));
  q.scale = s;
  return q;
}

// Codes of column w [rows] under a quantizer (0..15), as float.
torch::Tensor codes_of(const torch::Tensor& w, const RowQuantizer& q) {
  torch::Tensor c = torch::round(w / q.scale) + q.zero;
  c = torch::where(q.scale > 0, c, q.zero);
  return c.clamp(0, 15);
}

}  // namespace

GptqResult gptq_quantize(const torch::Tensor& w_in, const torch::Tensor& h_in, const GptqOptions& o) {
  torch::NoGradGuard ng;
  G4U_CHECK(w_in.dim() == 2 && h_in.dim() == 2 && h_in.size(0) == w_in.size(1) && h_in.size(1) == w_in.size(1),
            "gptq: W {} and H {}", w_in.sizes(), h_in.sizes());
  const int64_t rows = w_in.size(0), cols = w_in.size(1);
  const SchemeTraits& scheme = find_scheme(gptq_storage_scheme(o));
  check_shape(scheme, rows, cols, "gptq");
  const int64_t g = scheme.group_size(cols), groups = cols / g;
  torch::Tensor W = w_in.detach().to(torch::kFloat32).clone();
  torch::Tensor H = h_in.detach().to(torch::kFloat32).clone();
  if (!W.isfinite().all().item<bool>()) throw_input("gptq: weights contain NaN or Inf");

  torch::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1);
  W.index_put_({torch::indexing::Slice(), dead}, 0);

  const bool grouped = g < cols;
  GptqResult res;
  res.static_groups = o.static_groups || (o.act_order && grouped);
  // Static group quantizers from the original (dead-zeroed) W in the original column order.
  std::vector<RowQuantizer> static_q;
  if (res.static_groups)
    for (int64_t gi = 0; gi < groups; ++gi) static_q.push_back(find_params(W.narrow(1, gi * g, g), o.sym));

  torch::Tensor perm, invperm;
  if (o.act_order) {
    perm = torch::argsort(H.diagonal(), 0, /*descending=*/true);
    W = W.index_select(1, perm);
    H = H.index_select(0, perm).index_select(1, perm);
    invperm = torch::argsort(perm);
  }
  const double damp = o.percdamp * H.diagonal().mean().item<double>();
  H.diagonal().add_(damp);
  torch::Tensor L = torch::linalg_cholesky(H);
  torch::Tensor Hinv = torch::cholesky_inverse(L);
  torch::Tensor U = torch::linalg_cholesky(Hinv).t().contiguous();  // upper factor of H^-1

  torch::Tensor Q = torch::zeros_like(W);      // dequantized
  torch::Tensor C = torch::zeros_like(W);      // codes (permuted order)
  torch::Tensor S = torch::zeros({rows, groups}), Z = torch::zeros({rows, groups});
  std::vector<int64_t> perm_v;
  if (o.act_order) perm_v.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + cols);
  RowQuantizer cur;
  double loss = 0;
  for (int64_t i1 = 0; i1 < cols; i1 += o.block) {
    const int64_t i2 = std::min(i1 + o.block, cols), count = i2 - i1;
    torch::Tensor W1 = W.narrow(1, i1, count).clone();
    torch::Tensor Err1 = torch::zeros_like(W1);
    torch::Tensor U1 = U.narrow(0, i1, count).narrow(1, i1, count);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t col = i1 + i;  // position in (possibly permuted) order
      torch::Tensor w = W1.select(1, i);
      const double d = U1[i][i].item<double>();
      int64_t group;
      if (res.static_groups) {
        group = (o.act_order ? perm_v[col] : col) / g;
        cur = static_q[group];
      } else {
        group = col / g;  // no act_order here (or per-channel): original order
        if (col % g == 0) {
          // Group parameters from the error-updated columns: those of this block in W1, later ones in W.
          const int64_t in_block = std::min(g, count - i);
          torch::Tensor cols_now = W1.narrow(1, i, in_block);
          if (in_block < g) cols_now = torch::cat({cols_now, W.narrow(1, i2, g - in_block)}, 1);
          cur = find_params(cols_now, o.sym);
        }
      }
      S.select(1, group).copy_(cur.scale);
      Z.select(1, group).copy_(cur.zero);
      torch::Tensor c = codes_of(w, cur);
      torch::Tensor q = cur.scale * (c - cur.zero);
      C.select(1, col).copy_(c);
      Q.select(1, col).copy_(q);
      torch::Tensor err = (w - q) / d;
      loss += ((w - q).pow(2).sum().item<double>()) / (d * d) / 2;
      if (i + 1 < count)
        W1.narrow(1, i + 1, count - i - 1).sub_(err.unsqueeze(1).matmul(U1[i].narrow(0, i + 1, count - i - 1).unsqueeze(0)));
      Err1.select(1, i).copy_(err);
    }
    if (i2 < cols) W.narrow(1, i2, cols - i2).sub_(Err1.matmul(U.narrow(0, i1, count).narrow(1, i2, cols - i2)));
  }
  if (o.act_order) {
    Q = Q.index_select(1, invperm);
    C = C.index_select(1, invperm);
  }
  res.loss = loss;
  // Pack: codes, fp16 scales, zeros.
  torch::Tensor codes = C.to(torch::kUInt8).contiguous();
  torch::Tensor sbits = S.to(torch::kHalf).contiguous();
  torch::Tensor zb = Z.to(torch::kUInt8).contiguous();
  std::vector<uint16_t> sb(static_cast<size_t>(rows * groups));
  std::memcpy(sb.data(), sbits.data_ptr(), sb.size() * 2);
  res.q = pack_rtn4(scheme, rows, cols, codes.data_ptr<uint8_t>(), sb.data(), o.sym ? nullptr : zb.data_ptr<uint8_t>());
  return res;
}

}  // namespace g4u::quant
