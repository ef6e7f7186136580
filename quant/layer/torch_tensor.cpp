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

torch::Tensor dequantize_tensor(const QuantizedTensor& q) {
  torch::Tensor out = torch::empty({q.rows, q.cols}, torch::kFloat);
  const std::vector<float> v = q.dequantize();
  std::memcpy(out.data_ptr<float>(), v.data(), v.size() * sizeof(float));
  return out;
}

}  // namespace g4u::quant
