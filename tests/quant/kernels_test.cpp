// Packed kernels vs the fp32 product with the dequantized weights, within the tolerance documented
// in quant/kernels/kernels.h; AVX2 vs scalar agreement; thread-count invariance; ragged shapes; both row
// orders of q4_0 / q4_k (storage and interleaved).
#include "quant/formats/interleave.h"
#include "quant/kernels/kernels.h"
#include "quant/formats/quantized_tensor.h"
#include "quant_test_util.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

using namespace g4u::quant;
using g4u::test::gaussian;

namespace {

struct Reference {
  std::vector<double> y, bound, abs_wx;
};

// y = X What^T in double, and the documented error bound of each output.
Reference reference(const QuantizedTensor& q, const std::vector<float>& x, int64_t n, bool fast) {
  const std::vector<float> wh = q.dequantize();
  Reference ref;
  ref.y.assign(static_cast<size_t>(n * q.rows), 0);
  ref.bound.assign(static_cast<size_t>(n * q.rows), 0);
  ref.abs_wx.assign(static_cast<size_t>(n * q.rows), 0);
  for (int64_t a = 0; a < n; ++a) {
    const float* xa = x.data() + a * q.cols;
    std::vector<double> half_step(static_cast<size_t>(q.cols));
    for (int64_t b = 0; b < q.cols / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xa[32 * b + j]));
      for (int j = 0; j < 32; ++j) half_step[32 * b + j] = fast ? amax / 127.0 / 2 : 0.0;
    }
    for (int64_t r = 0; r < q.rows; ++r) {
      double y = 0, abs_wx = 0, act = 0;
      for (int64_t c = 0; c < q.cols; ++c) {
        const double wv = wh[r * q.cols + c], xv = xa[c];
        y += wv * xv;
        abs_wx += std::fabs(wv * xv);
        act += std::fabs(wv) * (half_step[c] + 1e-6 * std::fabs(xv));
      }
      ref.y[a * q.rows + r] = y;
      ref.bound[a * q.rows + r] = act + 1e-5 * abs_wx + 1e-30;
      ref.abs_wx[a * q.rows + r] = abs_wx;
    }
  }
  return ref;
}

std::vector<int64_t> cols_for(const SchemeTraits& s) {
  std::vector<int64_t> out;
  for (int64_t c : {96, 192, 256, 320, 512, 768})
    if (c % s.cols_multiple == 0) out.push_back(c);
  return out;
}

}  // namespace

TEST_CASE("matvec / matmul equal the dequantized fp32 product within the documented tolerance", "[unit][kernels]") {
  uint32_t seed = 100;
  for (const auto* s : all_schemes()) {
    for (int64_t cols : cols_for(*s)) {
      for (int64_t rows : {1, 7, 33}) {
        DYNAMIC_SECTION(s->name << " [" << rows << ", " << cols << "]") {
          auto w = gaussian(rows * cols, ++seed, 0.05f);
          const bool interleave = has_interleaved_order(*s) && rows == 7;  // QuantLinear's order
          QuantizedTensor q = quantize(*s, w.data(), rows, cols);
          if (interleave) q = to_interleaved(std::move(q));
          INFO("interleaved " << q.interleaved);
          const int64_t n = 6;
          auto x = gaussian(n * cols, ++seed);
          for (int64_t c = 0; c < 32; ++c) x[c] = 0.f;  // an all-zero activation block (d = 0)
          const Reference ref = reference(q, x, n, !s->reference_only());
          for (int threads : {1, 2, 3}) {
            KernelOptions opt;
            opt.threads = threads;
            std::vector<float> y(static_cast<size_t>(rows));
            matvec(q, x.data(), y.data(), opt);
            for (int64_t r = 0; r < rows; ++r) {
              INFO("matvec threads " << threads << " row " << r);
              CHECK(std::fabs(y[r] - ref.y[r]) <= ref.bound[r]);
            }
            std::vector<float> Y(static_cast<size_t>(n * rows));
            matmul(q, x.data(), n, Y.data(), opt);
            for (int64_t i = 0; i < n * rows; ++i) {
              INFO("matmul threads " << threads << " out " << i);
              CHECK(std::fabs(Y[i] - ref.y[i]) <= ref.bound[i]);
            }
            // The first activation row of the GEMM is the GEMV.
            for (int64_t r = 0; r < rows; ++r) CHECK(Y[r] == y[r]);
          }
        }
      }
    }
  }
}

TEST_CASE("results do not depend on the thread count", "[unit][kernels]") {
  auto w = gaussian(257 * 512, 7, 0.02f);
  auto x = gaussian(5 * 512, 8);
  for (const char* name : {"q4_0", "q4_k", "rtn4_asym_g128", "nf4"}) {
    QuantizedTensor q = quantize(name, w.data(), 257, 512);
    std::vector<float> y1(5 * 257), y4(5 * 257);
    KernelOptions one, four;
    one.threads = 1;
    four.threads = 4;
    matmul(q, x.data(), 5, y1.data(), one);
    matmul(q, x.data(), 5, y4.data(), four);
    CHECK(y1 == y4);
  }
}

TEST_CASE("AVX2, AVX-512 and scalar kernels agree", "[unit][kernels]") {
  if (!cpu_has_avx2()) {
    WARN("CPU without AVX2/FMA/F16C: only the scalar kernels are tested");
    return;
  }
  std::vector<std::pair<KernelIsa, std::string>> isas = {{KernelIsa::kAvx2, "avx2"}};
  if (cpu_has_avx512())
    isas.emplace_back(KernelIsa::kAvx512, "avx512");
  else
    WARN("CPU without AVX-512 F/BW/VL/VNNI: the AVX-512 kernels are not tested");
  uint32_t seed = 500;
  for (const auto* s : all_schemes()) {
    if (s->reference_only()) continue;
    for (int64_t cols : cols_for(*s)) {
      INFO(s->name << " cols " << cols);
      const int64_t rows = 19, n = 5;
      auto w = gaussian(rows * cols, ++seed, 0.05f);
      auto x = gaussian(n * cols, ++seed);
      for (bool interleave : {false, true}) {
        if (interleave && !has_interleaved_order(*s)) continue;
        INFO("interleaved " << interleave);
        QuantizedTensor q = quantize(*s, w.data(), rows, cols);
        if (interleave) q = to_interleaved(std::move(q));
        KernelOptions scalar;
        scalar.isa = KernelIsa::kScalar;
        CHECK(kernel_path(q, scalar) == "scalar");
        std::vector<float> ys(n * rows);
        matmul(q, x.data(), n, ys.data(), scalar);
        const Reference ref = reference(q, x, n, true);
        for (const auto& [isa, name] : isas) {
          INFO(name);
          KernelOptions opt;
          opt.isa = isa;
          // AVX-512 has row dots for interleaved q4_0 (whole groups of 8 blocks) and q4_k, for q6_k,
          // and for planar rows (rtn4_*, hqq) of whole 256-weight units.
          const bool planar = s->layout == Layout::kPlanar;
          const bool own_avx512 = (planar && cols % 256 == 0) || s->name == std::string("q6_k") ||
                                  (interleave && (s->name == std::string("q4_k") || cols % 256 == 0));
          CHECK(kernel_path(q, opt) == (name == "avx512" && !own_avx512 ? "avx2" : name));
          std::vector<float> y(n * rows), y1(rows);
          matmul(q, x.data(), n, y.data(), opt);
          matvec(q, x.data(), y1.data(), opt);
          // Same integer dot products; only the fp32 summation order differs.
          for (int64_t i = 0; i < n * rows; ++i) CHECK(std::fabs(y[i] - ys[i]) <= 1e-5 * ref.abs_wx[i] + 1e-12);
          for (int64_t i = 0; i < rows; ++i) CHECK(y1[i] == y[i]);  // the GEMM's first row is the GEMV
        }
      }
    }
  }
}

TEST_CASE("GEMM tiles equal the scalar kernels up to fp32 summation order", "[unit][kernels]") {
  // n not a multiple of the 8-row activation tile, rows not a multiple of the 16-row panel (nor of
  // the AVX2 GEMM's 8-row one). Both GEMMs: the AVX-512 one (auto, on AVX-512 CPUs) and the AVX2 one.
  std::vector<KernelIsa> isas;
  if (cpu_has_avx512()) isas.push_back(KernelIsa::kAvx512);
  if (cpu_has_avx2()) isas.push_back(KernelIsa::kAvx2);
  uint32_t seed = 900;
  for (KernelIsa isa : isas)
  for (const char* name : {"q4_0", "q4_k", "q6_k"}) {
    for (int64_t cols : {256, 512, 1280}) {
      for (int64_t rows : {1, 15, 16, 33, 50}) {
        auto w = gaussian(rows * cols, ++seed, 0.05f);
        const QuantizedTensor q = to_interleaved(quantize(name, w.data(), rows, cols));  // QuantLinear's order
        for (int64_t n : {8, 13, 16, 29}) {
          DYNAMIC_SECTION((isa == KernelIsa::kAvx2 ? "avx2 " : "avx512 ") << name << " [" << rows << ", " << cols
                                                                         << "] n " << n) {
            auto x = gaussian(n * cols, ++seed);
            for (int64_t c = 0; c < 32; ++c) x[cols + c] = 0.f;           // an all-zero block (d = 0)
            for (int64_t c = 0; c < cols; ++c) x[2 * cols + c] *= 300.f;  // a large row
            KernelOptions tiles;
            tiles.isa = isa;
            CHECK(uses_gemm_tiles(q, n, tiles));
            KernelOptions scalar;
            scalar.isa = KernelIsa::kScalar;
            std::vector<float> ys(static_cast<size_t>(n * rows));
            matmul(q, x.data(), n, ys.data(), scalar);
            const Reference ref = reference(q, x, n, true);
            std::vector<float> y1;
            for (int threads : {1, 2}) {
              INFO("threads " << threads);
              KernelOptions opt = tiles;
              opt.threads = threads;
              std::vector<float> y(static_cast<size_t>(n * rows)), rowdots(y.size());
              matmul(q, x.data(), n, y.data(), opt);
              opt.gemm_tiles = false;
              CHECK_FALSE(uses_gemm_tiles(q, n, opt));
              matmul(q, x.data(), n, rowdots.data(), opt);
              for (int64_t i = 0; i < n * rows; ++i) {
                INFO("out " << i);
                CHECK(std::fabs(y[i] - ys[i]) <= 1e-5 * ref.abs_wx[i] + 1e-12);
                CHECK(std::fabs(y[i] - rowdots[i]) <= 1e-5 * ref.abs_wx[i] + 1e-12);
                CHECK(std::fabs(y[i] - ref.y[i]) <= ref.bound[i]);
              }
              if (threads == 1) y1 = y;
              else CHECK(y == y1);  // every output is summed by one thread in a fixed order
            }
          }
        }
      }
    }
  }
}

TEST_CASE("GEMM tiles and row dots at the int16 limits", "[unit][kernels]") {
  // Rows whose codes sit at the top of their range: in every 16 weights one -1 (the block maximum,
  // code 0) and fifteen 31/32 (code 15 in q4_0, 63 in q6_k), against activations at +-127
  // everywhere, so the int16 sums of VPMADDUBSW products come close to their documented maxima
  // (q4: 8 * 2 * 15 * 127 = 30480; q6_k: 2 * 2 * 63 * 127 = 32004): one sum more would wrap.
  const int64_t rows = 16, cols = 512, n = 8;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      w[r * cols + c] = (r % 2 == 0 ? 1.f : -1.f) * (0.25f + 0.01f * r) * (c % 16 == 0 ? -1.f : 31.f / 32.f);
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (int64_t a = 0; a < n; ++a)
    for (int64_t c = 0; c < cols; ++c) x[a * cols + c] = a % 2 == 0 ? 1.f : -1.f;
  for (const char* name : {"q4_0", "q4_k", "q6_k"}) {
    const QuantizedTensor q = to_interleaved(quantize(name, w.data(), rows, cols));
    const Reference ref = reference(q, x, n, true);
    for (KernelIsa isa : {KernelIsa::kAuto, KernelIsa::kAvx2, KernelIsa::kScalar}) {
      if (isa == KernelIsa::kAvx2 && !cpu_has_avx2()) continue;
      for (bool tiles : {true, false}) {
        INFO(name << " isa " << static_cast<int>(isa) << " tiles " << tiles);
        KernelOptions opt;
        opt.isa = isa;
        opt.gemm_tiles = tiles;
        std::vector<float> y(static_cast<size_t>(n * rows));
        matmul(q, x.data(), n, y.data(), opt);
        for (int64_t i = 0; i < n * rows; ++i) {
          INFO("out " << i);
          CHECK(std::fabs(y[i] - ref.y[i]) <= ref.bound[i]);
        }
      }
    }
  }
}

TEST_CASE("GEMM tiles: which products take them", "[unit][kernels]") {
  auto w = gaussian(20 * 512, 31, 0.05f);
  const QuantizedTensor q4_0 = quantize("q4_0", w.data(), 20, 512);
  const bool simd = cpu_has_avx2();  // AVX-512 CPUs have AVX2
  CHECK(uses_gemm_tiles(to_interleaved(q4_0), 8) == simd);
  CHECK_FALSE(uses_gemm_tiles(to_interleaved(q4_0), 7));  // below kGemmMinActs: the row dots
  CHECK_FALSE(uses_gemm_tiles(q4_0, 64));                  // ggml's row order
  CHECK(uses_gemm_tiles(quantize("q6_k", w.data(), 20, 512), 64) == simd);
  CHECK_FALSE(uses_gemm_tiles(quantize("q8_0", w.data(), 20, 512), 64));
  // q4_0 rows that are not whole 256-weight units
  auto w320 = gaussian(20 * 320, 32, 0.05f);
  CHECK_FALSE(uses_gemm_tiles(to_interleaved(quantize("q4_0", w320.data(), 20, 320)), 64));
  KernelOptions avx2, scalar;
  avx2.isa = KernelIsa::kAvx2;
  scalar.isa = KernelIsa::kScalar;
  if (cpu_has_avx2()) CHECK(uses_gemm_tiles(to_interleaved(q4_0), 64, avx2));
  CHECK_FALSE(uses_gemm_tiles(to_interleaved(q4_0), 64, scalar));
}

TEST_CASE("kernel paths are labelled", "[unit][kernels]") {
  auto w = gaussian(4 * 256, 9);
  CHECK(kernel_path(quantize("nf4", w.data(), 4, 256)) == "reference");
  CHECK(kernel_path(quantize("iq4_nl", w.data(), 4, 256)) == "reference");
  CHECK(kernel_path(quantize("q4_k", w.data(), 4, 256)) == (cpu_has_avx2() ? "avx2" : "scalar"));
  const std::string widest = cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "scalar";
  CHECK(kernel_isa() == widest);
  CHECK(kernel_path(to_interleaved(quantize("q4_k", w.data(), 4, 256))) == widest);
  CHECK(kernel_path(to_interleaved(quantize("q4_0", w.data(), 4, 256))) == widest);
  if (!cpu_has_avx512()) {
    KernelOptions avx512;
    avx512.isa = KernelIsa::kAvx512;
    std::vector<float> y(4);
    CHECK_THROWS(matvec(quantize("q4_0", w.data(), 4, 256), w.data(), y.data(), avx512));
  }
  KernelOptions scalar;
  scalar.isa = KernelIsa::kScalar;
  CHECK(kernel_path(quantize("q4_0", w.data(), 4, 256), scalar) == "scalar");
}

namespace {

// Round-to-nearest-even fp32 -> bf16 bits (the values here are finite).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

double from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<std::pair<KernelIsa, std::string>> available_isas() {
  std::vector<std::pair<KernelIsa, std::string>> isas = {{KernelIsa::kScalar, "scalar"}};
  if (cpu_has_avx2()) isas.emplace_back(KernelIsa::kAvx2, "avx2");
  if (cpu_has_avx512()) isas.emplace_back(KernelIsa::kAvx512, "avx512");
  return isas;
}

}  // namespace

TEST_CASE("bf16 matvec: exact on small integers, fp32-accurate on random rows, every ISA", "[unit][kernels]") {
  for (const auto& [isa, name] : available_isas()) {
    KernelOptions opt;
    opt.isa = isa;
    opt.threads = 2;
    CHECK(bf16_kernel_path(opt) == name);
    for (int64_t cols : {1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 96, 130, 2051}) {
      CAPTURE(name, cols);
      const int64_t rows = 37;
      // Small integers: every product and partial sum is exact in fp32, so the result is too.
      std::vector<uint16_t> wi(static_cast<size_t>(rows * cols));
      std::vector<float> xi(static_cast<size_t>(cols));
      for (int64_t c = 0; c < cols; ++c) xi[c] = static_cast<float>((c * 7) % 11) - 5.f;
      for (int64_t i = 0; i < rows * cols; ++i) wi[i] = to_bf16(static_cast<float>((i * 13) % 9) - 4.f);
      std::vector<float> yi(static_cast<size_t>(rows));
      bf16_matvec(wi.data(), rows, cols, xi.data(), yi.data(), opt);
      for (int64_t r = 0; r < rows; ++r) {
        int64_t want = 0;
        for (int64_t c = 0; c < cols; ++c) want += ((r * cols + c) * 13 % 9 - 4) * ((c * 7) % 11 - 5);
        CHECK(yi[r] == static_cast<float>(want));
      }
      // Gaussian bf16 weights: within the recursive-summation bound of the fp64 product (at most
      // cols/8 + 10 additions into any partial sum, each adding <= 2^-24 of sum |w x|).
      const auto wf = gaussian(rows * cols, 21);
      const auto x = gaussian(cols, 22);
      std::vector<uint16_t> w(wf.size());
      for (size_t i = 0; i < wf.size(); ++i) w[i] = to_bf16(wf[i]);
      std::vector<float> y(static_cast<size_t>(rows));
      bf16_matvec(w.data(), rows, cols, x.data(), y.data(), opt);
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0, abs_sum = 0;
        for (int64_t c = 0; c < cols; ++c) {
          want += from_bf16(w[r * cols + c]) * x[c];
          abs_sum += std::fabs(from_bf16(w[r * cols + c]) * x[c]);
        }
        CHECK(std::fabs(y[r] - want) <= (cols / 8 + 10) * std::ldexp(1.0, -24) * abs_sum);
      }
    }
  }
}
