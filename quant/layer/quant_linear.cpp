#include "quant/layer/quant_linear.h"

#include "base/error.h"
#include "quant/formats/interleave.h"
#include "quant/layer/torch_tensor.h"

namespace g4u::quant {

QuantLinear::QuantLinear(QuantizedTensor weight, torch::ScalarType dtype) : dtype_(dtype) {
  G4U_CHECK(weight.scheme != nullptr && weight.rows > 0 && weight.cols > 0, "QuantLinear needs a quantized weight");
  weight_ = to_interleaved(std::move(weight));
}

KernelOptions QuantLinear::options() const {
  KernelOptions o = kernel_options;
  if (o.threads <= 0) o.threads = torch::get_num_threads();
  return o;
}

torch::Tensor QuantLinear::forward(const torch::Tensor& x) {
  G4U_CHECK(x.size(-1) == weight_.cols, "QuantLinear({}x{}): input has {} features", weight_.rows, weight_.cols,
            x.size(-1));
  G4U_CHECK(x.device().is_cpu(), "QuantLinear runs on the CPU only");
  const int64_t n = x.numel() / weight_.cols;
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = weight_.rows;
  torch::Tensor xf = x.detach().to(torch::kFloat32).contiguous();
  torch::Tensor y = torch::empty({n, weight_.rows}, torch::kFloat32);
  if (n == 1)
    matvec(weight_, xf.data_ptr<float>(), y.data_ptr<float>(), options());
  else if (n > 1)
    matmul(weight_, xf.data_ptr<float>(), n, y.data_ptr<float>(), options());
  return y.view(out_shape).to(x.scalar_type());
}

void QuantLinear::to(torch::Dtype dtype, bool) {
  G4U_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16 || dtype == torch::kFloat16,
            "QuantLinear: unsupported activation dtype");
  dtype_ = dtype;
}

void QuantLinear::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  to(device, non_blocking);
  to(dtype, non_blocking);
}

void QuantLinear::to(torch::Device device, bool) {
  if (!device.is_cpu()) throw_input("quantized layers run on the CPU only (asked for {})", device.str());
}

torch::Tensor QuantLinear::dequantized() const { return dequantize_tensor(weight_); }

torch::Tensor QuantLinear::weight_rows(const torch::Tensor& ids, torch::ScalarType dtype) const {
  const torch::Tensor flat = ids.to(torch::kCPU, torch::kInt64).contiguous().view({-1});
  const int64_t* id = flat.data_ptr<int64_t>();
  torch::Tensor out = torch::empty({flat.numel(), weight_.cols}, torch::kFloat32);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    G4U_CHECK(id[i] >= 0 && id[i] < weight_.rows, "row {} outside [0, {})", id[i], weight_.rows);
    weight_.dequantize_rows(id[i], id[i] + 1, out.data_ptr<float>() + i * weight_.cols);
  }
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(weight_.cols);
  return out.view(shape).to(dtype);
}

}  // namespace g4u::quant
