#include "quant/kernels/kernels.h"
#include "quant/layer/torch_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

using namespace g4u::quant;
using g4u::test::expect_input_error;

TEST_CASE("torch bridge: quantize a bf16 tensor, dequantize, relative error, matvec", "[unit][torch]") {
  torch::manual_seed(0);
  const torch::Tensor w = (torch::randn({8, 256}) * 0.05).to(torch::kBFloat16);
  QuantizedTensor q = quantize_tensor(w, "q4_k");
  const torch::Tensor wh = dequantize_tensor(q);
  CHECK(wh.sizes() == torch::IntArrayRef({8, 256}));
  const torch::Tensor wf = w.to(torch::kFloat);
  const double rel = ((wf - wh).norm() / wf.norm()).item<double>();
  CHECK(rel == Approx(relative_error(q, wf.contiguous().data_ptr<float>())).epsilon(1e-5));
  CHECK(rel > 0.02);
  CHECK(rel < 0.12);
  const torch::Tensor x = torch::randn({256});
  torch::Tensor y = torch::empty({8});
  matvec(q, x.data_ptr<float>(), y.data_ptr<float>());
  const torch::Tensor ref = torch::matmul(wh, x);
  CHECK(torch::allclose(y, ref, 1e-2, 2e-2));
  expect_input_error([] { quantize_tensor(torch::randn({4}), "q4_0", torch::Tensor(), "t"); }, "t: expected a 2-D weight");
  expect_input_error([] { quantize_tensor(torch::randn({4, 64}), "q4_k", torch::Tensor(), "t"); }, "not a multiple of 256");
  expect_input_error([] { quantize_tensor(torch::randn({4, 64}), "q4_0", torch::ones({63}), "t"); }, "imatrix must be 1-D");
}
