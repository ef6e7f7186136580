#include "quant/layer/torch_tensor.h"

#include "base/error.h"

#include <cstring>

namespace g4u::quant {

QuantizedTensor quantize_tensor(const torch::Tensor& w, std::string_view scheme, const torch::Tensor& imatrix,
                                const std::string& where, int threads) {
  if (w.dim() != 2) throw_input("{}: expected a 2-D weight, got {} dimensions", where, w.dim());
  if (!w.is_floating_point()) throw_input("{}: expected a floating-point weight, got {}", where, std::string(c10::toString(w.scalar_type())));
  const torch::Tensor wf = w.detach().to(torch::kCPU, torch::kFloat).contiguous();
  torch::Tensor im;
  if (imatrix.defined()) {
    if (imatrix.dim() != 1 || imatrix.size(0) != w.size(1))
      throw_input("{}: imatrix must be 1-D with {} values, got {} dimensions / {} values", where, w.size(1),
                  imatrix.dim(), imatrix.numel());
    im = imatrix.detach().to(torch::kCPU, torch::kFloat).contiguous();
  }
  return quantize(scheme, wf.data_ptr<float>(), wf.size(0), wf.size(1), im.defined() ? im.data_ptr<float>() : nullptr,
                  where, threads);
}

torch::Tensor dequantize_tensor(const QuantizedTensor& q, torch::ScalarType dtype) {
  torch::Tensor out = torch::empty({q.rows, q.cols}, dtype);
  const int64_t slice = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, q.cols));
  torch::Tensor part = dtype == torch::kFloat ? torch::Tensor() : torch::empty({std::min(slice, q.rows), q.cols}, torch::kFloat);
  for (int64_t r0 = 0; r0 < q.rows; r0 += slice) {
    const int64_t nr = std::min(slice, q.rows - r0);
    if (dtype == torch::kFloat) {
      q.dequantize_rows(r0, r0 + nr, out.narrow(0, r0, nr).data_ptr<float>());
    } else {
      torch::Tensor p = part.narrow(0, 0, nr);
      q.dequantize_rows(r0, r0 + nr, p.data_ptr<float>());
      out.narrow(0, r0, nr).copy_(p);
    }
  }
  return out;
}

}  // namespace g4u::quant
