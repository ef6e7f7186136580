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
  G4U_CHECK(x.device() == device_, "QuantLinear on {}: input on {}", device_.str(), x.device().str());
  const int64_t n = x.numel() / weight_.cols;
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = weight_.rows;
  if (!device_.is_cpu()) {
    const torch::Tensor x2 = x.reshape({n, weight_.cols});
    torch::Tensor y = int4_ ? int4_packed_matmul(*int4_, x2) : torch::linear(x2.to(dense_.scalar_type()), dense_);
    return y.view(out_shape).to(x.scalar_type());
  }
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
  if (dense_.defined()) dense_ = dense_.to(dtype);
}

void QuantLinear::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  to(device, non_blocking);
  to(dtype, non_blocking);
}

void QuantLinear::to(torch::Device device, bool) {
  if (device == device_) return;
  device_ = device;
  int4_.reset();
  dense_ = torch::Tensor();
  dense_reason_.clear();
  if (device.is_cpu()) return;  // the packed kernels read weight_, which never left the host
  std::optional<Int4Groups> groups = int4_groups(weight_);
  dense_reason_ = groups ? int4_pack_unsupported_reason(*groups, weight_.rows, weight_.cols, device)
                         : fmt::format("{} codes are not 4-bit affine groups", weight_.scheme->name);
  if (dense_reason_.empty()) {
    int4_ = int4_pack(*groups, device);
    return;
  }
  dense_ = dequantize_tensor(weight_, dtype_).to(device);
}

std::string QuantLinear::path() const {
  if (!device_.is_cpu()) return int4_ ? "int4pack" : "dense";
  return kernel_path(weight_, options());
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
