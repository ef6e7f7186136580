// TiedBf16Head: the tied head over a bf16 token table with fp32 activations (quant/layer/tied_head.h).
#include "model/text/layers.h"
#include "quant/layer/tied_head.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace g4u;
using namespace g4u::quant;

namespace {

// [V, H] table of bf16 values, with V spanning more than one multi-row slice.
std::shared_ptr<model::Embedding> bf16_table(int64_t V, int64_t H) {
  auto e = std::make_shared<model::Embedding>(V, H);
  torch::manual_seed(7);
  e->weight.set_data(torch::randn({V, H}).to(torch::kBFloat16));
  return e;
}

// x E^T in fp64 with the bf16 values widened, and the summation bound of quant/kernels/kernels.h.
void expect_head_product(const torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& E) {
  const torch::Tensor Ed = E.to(torch::kFloat64), xd = x.to(torch::kFloat64).reshape({-1, E.size(1)});
  const torch::Tensor want = xd.matmul(Ed.t()).view(y.sizes());
  const torch::Tensor bound = (xd.abs().matmul(Ed.abs().t()) * ((E.size(1) / 8 + 10) * std::ldexp(1.0, -24))).view(y.sizes());
  CHECK(((y.to(torch::kFloat64) - want).abs() <= bound).all().item<bool>());
}

}  // namespace

TEST_CASE("TiedBf16Head: one row and several rows equal the widened table's product", "[unit]") {
  const int64_t V = TiedBf16Head::kSliceRows + 37, H = 96;
  auto table = bf16_table(V, H);
  TiedBf16Head head(table);
  CHECK(head.in_features() == H);
  CHECK(head.out_features() == V);
  CHECK(head.storage_bytes() == V * H * 2);
  CHECK(head.path().rfind("bf16-", 0) == 0);

  torch::manual_seed(8);
  const torch::Tensor one = torch::randn({1, 1, H});
  const torch::Tensor y1 = head.forward(one);
  CHECK(y1.sizes() == torch::IntArrayRef({1, 1, V}));
  CHECK(y1.scalar_type() == torch::kFloat32);
  expect_head_product(y1, one, table->weight);

  const torch::Tensor rows = torch::randn({2, 3, H});
  const torch::Tensor y3 = head.forward(rows);
  CHECK(y3.sizes() == torch::IntArrayRef({2, 3, V}));
  expect_head_product(y3, rows, table->weight);
  // A row of the multi-row product matches the single-row kernel within both bounds' sum.
  const torch::Tensor y_first = head.forward(rows.select(0, 0).select(0, 0).view({1, H}));
  CHECK(torch::allclose(y_first[0], y3[0][0], 1e-4, 1e-5));
}

TEST_CASE("TiedBf16Head: a table in the activations' dtype takes the dense product unchanged", "[unit]") {
  auto table = bf16_table(50, 64);
  TiedBf16Head head(table);
  torch::manual_seed(9);
  // bf16 activations with the bf16 table: exactly what the model does without the head.
  const torch::Tensor xb = torch::randn({1, 64}).to(torch::kBFloat16);
  CHECK(torch::equal(head.forward(xb), model::linear_rows(xb, table->weight)));
  // After Module::to(fp32) the head follows the table (it reads the module at every call).
  table->to(torch::kFloat32);
  CHECK(head.path() == "dense");
  const torch::Tensor x = torch::randn({4, 64});
  CHECK(torch::equal(head.forward(x), model::linear_rows(x, table->weight)));
  CHECK_THROWS(head.forward(torch::randn({1, 63})));
}
