// QuantLinear: products equal the dequantized fp32 product within the bound of quant/kernels/kernels.h;
// a decoder with QuantLinear modules equals the same decoder with dense dequantized weights.
#include "model/io/loader.h"
#include "quant/io/checkpoint.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/torch_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

using namespace g4u;
using namespace g4u::quant;

namespace {

// The bound of quant/kernels/kernels.h (fast path) or fp32 rounding only (reference path), per element.
torch::Tensor allowed_error(const torch::Tensor& w_hat, const torch::Tensor& x, bool reference) {
  torch::Tensor prod_abs = torch::matmul(x.abs(), w_hat.abs().t());  // sum_j |W_ij x_j|
  if (reference) return 1e-5 * prod_abs + 1e-6;
  // d_b(j) = max|x| over the 32-block of column j, / 127.
  const int64_t n = x.size(0), cols = x.size(1);
  torch::Tensor d = std::get<0>(x.abs().view({n, cols / 32, 32}).max(-1)) / 127.0;  // [n, nb]
  torch::Tensor d_col = d.repeat_interleave(32, 1);                                  // [n, cols]
  return torch::matmul(d_col / 2 + 1e-6 * x.abs(), w_hat.abs().t()) + 1e-5 * prod_abs + 1e-6;
}

}  // namespace

TEST_CASE("QuantLinear equals the dequantized product within the documented bound", "[unit]") {
  const int64_t rows = 48, cols = 512;
  torch::Tensor w = test::random_weight(rows, cols, 7);
  for (const char* scheme : {"q4_0", "q4_1", "q4_k", "q6_k", "q8_0", "rtn4_sym_g32", "rtn4_asym_g128", "hqq", "nf4",
                             "nf4_dq", "iq4_nl"}) {
    QuantLinear lin(quantize_tensor(w, scheme));
    const bool reference = find_scheme(scheme).reference_only();
    CHECK(lin.in_features() == cols);
    CHECK(lin.out_features() == rows);
    CHECK(lin.scheme() == scheme);
    CHECK((lin.path() == "reference") == reference);
    CHECK(lin.storage_bytes() == static_cast<int64_t>(bits_per_weight(find_scheme(scheme), rows, cols) * rows * cols / 8 + 0.5));
    torch::Tensor w_hat = lin.dequantized();
    for (int64_t n : {1, 5}) {
      INFO(scheme << " n=" << n);
      auto xv = test::gaussian(n * cols, 11 + n);
      torch::Tensor x = torch::from_blob(xv.data(), {n, cols}, torch::kFloat32).clone();
      torch::Tensor y = lin.forward(x.view({1, n, cols}));
      REQUIRE(y.sizes() == torch::IntArrayRef({1, n, rows}));
      torch::Tensor ref = torch::matmul(x.to(torch::kFloat64), w_hat.to(torch::kFloat64).t());
      torch::Tensor err = (y.view({n, rows}).to(torch::kFloat64) - ref).abs();
      torch::Tensor bound = allowed_error(w_hat.to(torch::kFloat64), x.to(torch::kFloat64), reference);
      CHECK((err <= bound).all().item<bool>());
      // The fast path's error is activation rounding, not a wrong product: far below |y|.
      CHECK(err.max().item<double>() < 0.05 * ref.abs().max().item<double>());
    }
  }
}

TEST_CASE("QuantLinear keeps the input dtype and ignores Module::to on its packed weight", "[unit]") {
  torch::Tensor w = test::random_weight(32, 64, 3);
  auto lin = std::make_shared<QuantLinear>(quantize_tensor(w, "q4_0"));
  lin->to(torch::kBFloat16);
  CHECK(lin->input_dtype() == torch::kBFloat16);
  CHECK(lin->parameters().empty());
  torch::Tensor x = torch::randn({2, 3, 64}).to(torch::kBFloat16);
  torch::Tensor y = lin->forward(x);
  CHECK(y.scalar_type() == torch::kBFloat16);
  CHECK(y.sizes() == torch::IntArrayRef({2, 3, 32}));
  torch::Tensor y32 = lin->forward(x.to(torch::kFloat32));
  CHECK(torch::allclose(y.to(torch::kFloat32), y32, 2e-2, 2e-2));
}

TEST_CASE("A decoder with QuantLinear modules equals the decoder with the dequantized dense weights", "[unit]") {
  model::LoadedModel a = model::load_model("tiny");
  model::LoadedModel b = model::load_model("tiny");
  torch::NoGradGuard ng;
  auto lins_a = decoder_linears(*a.model);
  auto lins_b = decoder_linears(*b.model);
  REQUIRE(lins_a.size() == 6 * 6 + 4);  // 4 sliding layers with v_proj, 2 K=V full layers without
  for (auto& [name, lin] : lins_a) {
    auto* dense = dynamic_cast<model::DenseLinear*>(lin.get());
    REQUIRE(dense);
    // nf4 runs the reference path (fp32 products with the dequantized rows).
    QuantizedTensor q = quantize_tensor(dense->weight, "nf4");
    auto* dense_b = dynamic_cast<model::DenseLinear*>(lins_b[name].get());
    dense_b->weight.copy_(dequantize_tensor(q));
    replace_linear(*a.model, name, std::make_shared<QuantLinear>(std::move(q)));
  }
  CHECK(decoder_linears(*a.model).begin()->second->scheme() == "nf4");
  torch::Tensor ids = torch::tensor({2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50}).view({1, -1});
  auto logits = [&](model::Gemma4Model& m) {
    auto r = m.text().forward(m.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr);
    return m.text().logits(r.hidden);
  };
  torch::Tensor la = logits(*a.model), lb = logits(*b.model);
  CHECK(torch::allclose(la, lb, 1e-4, 1e-4));
  test::expect_input_error([&] { replace_linear(*a.model, "model.language_model.layers.2.self_attn.v_proj.weight", nullptr); },
                           "not a decoder projection");
}
