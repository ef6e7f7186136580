// The importance-weighted (imatrix) encode paths must lower the imatrix-weighted error
// sum_j imatrix_j (w_ij - w^_ij)^2 relative to the plain path of the same format.
#include "quant/formats/quantized_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace g4u::quant;
using g4u::test::gaussian;

namespace {

double weighted_error(const std::vector<float>& w, const std::vector<float>& wh, const std::vector<float>& imat,
                      int64_t cols) {
  double e = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double d = static_cast<double>(w[i]) - wh[i];
    e += imat[i % static_cast<size_t>(cols)] * d * d;
  }
  return e;
}

}  // namespace

TEST_CASE("imatrix paths lower the importance-weighted error", "[unit][imatrix]") {
  const int64_t rows = 32, cols = 1024;
  auto w = gaussian(rows * cols, 31);
  std::mt19937 rng(32);
  std::normal_distribution<float> nd(0.f, 1.5f);
  std::vector<float> imat(cols);
  for (auto& v : imat) v = std::exp(nd(rng));  // heavy-tailed, like mean squared activations
  for (const char* name : {"q4_0", "q4_1", "q4_k", "q6_k", "iq4_nl"}) {
    DYNAMIC_SECTION(name) {
      const auto plain = quantize(name, w.data(), rows, cols).dequantize();
      const auto weighted = quantize(name, w.data(), rows, cols, imat.data()).dequantize();
      const double e_plain = weighted_error(w, plain, imat, cols);
      const double e_imat = weighted_error(w, weighted, imat, cols);
      const double f_plain = relative_error(w.data(), plain.data(), rows * cols);
      const double f_imat = relative_error(w.data(), weighted.data(), rows * cols);
      INFO("weighted error plain " << e_plain << " imatrix " << e_imat << "; frobenius " << f_plain << " -> "
                                   << f_imat);
      CHECK(e_imat < 0.95 * e_plain);
      CHECK(e_imat > 0.3 * e_plain);
      CHECK(f_imat < 1.5 * f_plain);  // the unweighted error may grow, but not blow up
    }
  }
}

TEST_CASE("an imatrix of zeros on a block gives ggml's all-zero block for q4_0", "[unit][imatrix]") {
  auto w = gaussian(64, 33);
  std::vector<float> imat(64, 1.f);
  for (int j = 0; j < 32; ++j) imat[j] = 0.f;  // first block: no importance at all
  const auto wh = quantize("q4_0", w.data(), 1, 64, imat.data()).dequantize();
  for (int j = 0; j < 32; ++j) CHECK(wh[j] == 0.f);
  double e = 0;
  for (int j = 32; j < 64; ++j) e += std::fabs(w[j] - wh[j]);
  CHECK(e < 0.2 * 32);
}
