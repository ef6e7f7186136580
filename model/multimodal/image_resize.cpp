#include "model/multimodal/image_resize.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <utility>

// The float arithmetic below must round exactly like ATen's scalar code: no fused multiply-add.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace g4u::model {

bool is_supported_image_budget(int64_t budget) {
  return std::find(std::begin(kImageBudgets), std::end(kImageBudgets), budget) != std::end(kImageBudgets);
}

ImageSize image_target_size(int64_t height, int64_t width, int64_t budget, int64_t patch_size,
                            int64_t pooling_kernel_size, const std::string& where) {
  if (height <= 0 || width <= 0) throw_input("{}: image is empty ({}x{} pixels)", where, height, width);
  if (budget <= 0) throw_input("{}: soft-token budget must be positive, got {}", where, budget);
  G4U_CHECK(patch_size > 0 && pooling_kernel_size > 0, "patch {} kernel {}", patch_size, pooling_kernel_size);
  // Same operations and types as the Python reference (float64 throughout).
  const int64_t max_patches = budget * pooling_kernel_size * pooling_kernel_size;
  const int64_t total_px = height * width;
  const int64_t target_px = max_patches * patch_size * patch_size;
  const double factor = std::sqrt(static_cast<double>(target_px) / static_cast<double>(total_px));
  const double ideal_h = factor * static_cast<double>(height);
  const double ideal_w = factor * static_cast<double>(width);
  const int64_t side = pooling_kernel_size * patch_size;
  int64_t th = static_cast<int64_t>(std::floor(ideal_h / static_cast<double>(side))) * side;
  int64_t tw = static_cast<int64_t>(std::floor(ideal_w / static_cast<double>(side))) * side;
  if (th == 0 && tw == 0)
    throw_input("{}: a {}x{} image resizes to 0x0 at a budget of {} tokens", where, height, width, budget);
  const int64_t max_side = (max_patches / (pooling_kernel_size * pooling_kernel_size)) * side;
  if (th == 0) {
    th = side;
    tw = std::min(static_cast<int64_t>(std::floor(static_cast<double>(width) / static_cast<double>(height))) * side,
                  max_side);
  } else if (tw == 0) {
    tw = side;
    th = std::min(static_cast<int64_t>(std::floor(static_cast<double>(height) / static_cast<double>(width))) * side,
                  max_side);
  }
  G4U_CHECK(th * tw <= target_px, "{}x{} -> {}x{} exceeds {} patches", height, width, th, tw, max_patches);
  return {th, tw};
}

namespace {

struct KernelName {
  ResizeKernel kernel;
  const char* name;
};
constexpr KernelName kKernelNames[] = {{ResizeKernel::kUint8, "uint8"}, {ResizeKernel::kFloat, "float"}};

// Keys cubic convolution with a = -0.5 (ATen HelperInterpCubic::aa_filter<T, true>), evaluated
// with the same operations and types.
template <typename T>
T keys_cubic(T x) {
  constexpr T a = static_cast<T>(-0.5);
  x = std::abs(x);
  if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

// ATen HelperInterpBase::_compute_index_ranges_weights + _compute_indices_min_size_weights_aa for
// bicubic with antialias, align_corners=false and no explicit scale. T is float for the float path
// and double for the uint8 path; every mixed-type expression keeps ATen's promotions.
template <typename T>
T compute_weights(int64_t in_size, int64_t out_size, AxisFilter& f, std::vector<T>& weights) {
  const T scale = static_cast<T>(in_size) / out_size;
  const int interp_size = 4;
  const T support = (scale >= 1.0) ? (interp_size * 0.5) * scale : interp_size * 0.5;
  const int64_t taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  f.taps = taps;
  f.start.assign(out_size, 0);
  f.count.assign(out_size, 0);
  weights.assign(out_size * taps, T(0));
  T wt_max = 0.0;
  for (int64_t i = 0; i < out_size; ++i) {
    T* w = weights.data() + i * taps;
    const T center = scale * (i + 0.5);
    const T invscale = (scale >= 1.0) ? 1.0 / scale : 1.0;
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), static_cast<int64_t>(0));
    int64_t xsize = std::min(static_cast<int64_t>(center + support + 0.5), in_size) - xmin;
    xsize = std::clamp(xsize, static_cast<int64_t>(0), taps);
    T total_w = 0.0;
    for (int64_t j = 0; j < xsize; ++j) {
      const T v = keys_cubic<T>((j + xmin - center + 0.5) * invscale);
      w[j] = v;
      total_w += v;
    }
    if (total_w != 0.0) {
      for (int64_t j = 0; j < xsize; ++j) {
        w[j] /= total_w;
        wt_max = std::max(wt_max, w[j]);
      }
    }
    f.start[i] = xmin;
    f.count[i] = xsize;
  }
  return wt_max;
}

// Ring of horizontally resampled rows: output row y needs input rows [start, start + count) with
// count <= taps and start non-decreasing in y, so slot (row % taps) is never needed again once
// overwritten. `fill(yin, dst)` resamples input row yin into dst.
template <typename T, typename Fill>
class RowRing {
 public:
  RowRing(int64_t taps, int64_t row_len, Fill fill)
      : taps_(taps), row_len_(row_len), rows_(taps * row_len), slot_row_(taps, -1), fill_(std::move(fill)) {}

  const T* row(int64_t yin) {
    const int64_t slot = yin % taps_;
    T* dst = rows_.data() + slot * row_len_;
    if (slot_row_[slot] != yin) {
      fill_(yin, dst);
      slot_row_[slot] = yin;
    }
    return dst;
  }

 private:
  int64_t taps_, row_len_;
  std::vector<T> rows_;
  std::vector<int64_t> slot_row_;
  Fill fill_;
};

template <typename T, typename Fill>
RowRing<T, Fill> row_ring(int64_t taps, int64_t row_len, Fill fill) {
  return RowRing<T, Fill>(taps, row_len, std::move(fill));
}

// The filters of the horizontal and the vertical pass; a pass that keeps its size is skipped (no filter).
struct PassFilters {
  bool need_h = false, need_v = false;
  AxisFilter fx, fy;
};

PassFilters pass_filters(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, ResizeKernel kernel) {
  PassFilters f;
  f.need_h = out_w != in_w;
  f.need_v = out_h != in_h;
  if (f.need_h) f.fx = axis_filter(in_w, out_w, kernel);
  if (f.need_v) f.fy = axis_filter(in_h, out_h, kernel);
  return f;
}

// No vertical pass: output row y is input row y horizontally resampled.
template <typename T, typename Horizontal, typename Sink>
void horizontal_rows(int64_t out_h, int64_t row_len, const Horizontal& horizontal, const Sink& sink) {
  std::vector<T> row(row_len);
  for (int64_t y = 0; y < out_h; ++y) {
    horizontal(y, row.data());
    sink(y, row.data());
  }
}

// ---- kUint8: int16 weights, int32 accumulation, uint8 intermediate ------------------------------

inline uint8_t clamp_shift(int32_t acc, unsigned precision) {
  return static_cast<uint8_t>(std::clamp(acc >> precision, 0, 255));
}

void resize_u8_rows(const uint8_t* src, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                    const RowSink& sink) {
  constexpr int64_t C = 3;
  const PassFilters f = pass_filters(in_h, in_w, out_h, out_w, ResizeKernel::kUint8);
  const bool need_h = f.need_h, need_v = f.need_v;
  const AxisFilter &fx = f.fx, &fy = f.fy;
  if (!need_h && !need_v) {
    for (int64_t y = 0; y < out_h; ++y) sink(y, src + y * in_w * C);
    return;
  }
  const int64_t row_len = out_w * C;

  auto horizontal = [&](int64_t yin, uint8_t* dst) {
    const uint8_t* s = src + yin * in_w * C;
    const int32_t init = 1 << (fx.precision - 1);
    for (int64_t x = 0; x < out_w; ++x) {
      const int16_t* w = fx.wi.data() + x * fx.taps;
      const uint8_t* p = s + fx.start[x] * C;
      const int64_t n = fx.count[x];
      int32_t acc[C] = {init, init, init};
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < C; ++c) acc[c] += static_cast<int32_t>(p[j * C + c]) * w[j];
      for (int64_t c = 0; c < C; ++c) dst[x * C + c] = clamp_shift(acc[c], fx.precision);
    }
  };

  if (!need_v) return horizontal_rows<uint8_t>(out_h, row_len, horizontal, sink);

  // Without a horizontal pass the input rows serve as they are.
  auto ring = row_ring<uint8_t>(need_h ? fy.taps : 1, need_h ? row_len : 0, horizontal);
  auto mid_row = [&](int64_t yin) { return need_h ? ring.row(yin) : src + yin * in_w * C; };
  std::vector<int32_t> acc(row_len);
  std::vector<uint8_t> out(row_len);
  const int32_t init = 1 << (fy.precision - 1);
  for (int64_t y = 0; y < out_h; ++y) {
    const int16_t* w = fy.wi.data() + y * fy.taps;
    std::fill(acc.begin(), acc.end(), init);
    for (int64_t j = 0; j < fy.count[y]; ++j) {
      const uint8_t* r = mid_row(fy.start[y] + j);
      const int32_t wj = w[j];
      for (int64_t k = 0; k < row_len; ++k) acc[k] += static_cast<int32_t>(r[k]) * wj;
    }
    for (int64_t k = 0; k < row_len; ++k) out[k] = clamp_shift(acc[k], fy.precision);
    sink(y, out.data());
  }
}

// ---- kFloat: float32 weights and accumulation, float intermediate ------------------------------

using FloatRowSink = std::function<void(int64_t y, const float* row)>;

template <typename TSrc>
void resize_f32_rows(const TSrc* src, int64_t C, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                     const FloatRowSink& sink) {
  const PassFilters f = pass_filters(in_h, in_w, out_h, out_w, ResizeKernel::kFloat);
  const bool need_h = f.need_h, need_v = f.need_v;
  const AxisFilter &fx = f.fx, &fy = f.fy;
  const int64_t row_len = out_w * C;

  // One input row, horizontally resampled (or just converted) into `dst`.
  auto horizontal = [&](int64_t yin, float* dst) {
    const TSrc* s = src + yin * in_w * C;
    if (!need_h) {
      for (int64_t k = 0; k < row_len; ++k) dst[k] = static_cast<float>(s[k]);
      return;
    }
    for (int64_t x = 0; x < out_w; ++x) {
      const float* w = fx.wf.data() + x * fx.taps;
      const TSrc* p = s + fx.start[x] * C;
      const int64_t n = fx.count[x];
      for (int64_t c = 0; c < C; ++c) {
        float acc = static_cast<float>(p[c]) * w[0];
        for (int64_t j = 1; j < n; ++j) acc += static_cast<float>(p[j * C + c]) * w[j];
        dst[x * C + c] = acc;
      }
    }
  };

  if (!need_v) return horizontal_rows<float>(out_h, row_len, horizontal, sink);
  auto ring = row_ring<float>(fy.taps, row_len, horizontal);
  std::vector<float> out(row_len);
  for (int64_t y = 0; y < out_h; ++y) {
    const float* w = fy.wf.data() + y * fy.taps;
    const int64_t n = fy.count[y];
    // n >= 1 always: the support covers at least one input row.
    const float* r0 = ring.row(fy.start[y]);
    for (int64_t k = 0; k < row_len; ++k) out[k] = r0[k] * w[0];
    for (int64_t j = 1; j < n; ++j) {
      const float* r = ring.row(fy.start[y] + j);
      const float wj = w[j];
      for (int64_t k = 0; k < row_len; ++k) out[k] += r[k] * wj;
    }
    sink(y, out.data());
  }
}

// torchvision after a float interpolate of a uint8 image: clamp_(0, 255), round_() (half to even),
// to(uint8).
inline uint8_t float_to_u8(float v) {
  v = std::min(std::max(v, 0.0f), 255.0f);
  return static_cast<uint8_t>(std::nearbyint(v));
}

}  // namespace

const char* resize_kernel_name(ResizeKernel k) {
  for (const auto& e : kKernelNames)
    if (e.kernel == k) return e.name;
  throw InternalError(fmt::format("unknown ResizeKernel {}", static_cast<int>(k)));
}

std::vector<std::string> resize_kernel_names() {
  std::vector<std::string> out;
  for (const auto& e : kKernelNames) out.emplace_back(e.name);
  return out;
}

ResizeKernel resize_kernel_from_name(const std::string& name, const std::string& where) {
  for (const auto& e : kKernelNames)
    if (name == e.name) return e.kernel;
  throw_input("{}: unknown resize kernel '{}' (known: {})", where, name, fmt::join(resize_kernel_names(), ", "));
}

AxisFilter axis_filter(int64_t in_size, int64_t out_size, ResizeKernel kernel) {
  G4U_CHECK(in_size > 0 && out_size > 0, "sizes {} -> {}", in_size, out_size);
  AxisFilter f;
  if (kernel == ResizeKernel::kFloat) {
    compute_weights<float>(in_size, out_size, f, f.wf);
    return f;
  }
  std::vector<double> w;
  const double wt_max = compute_weights<double>(in_size, out_size, f, w);
  // ATen _compute_index_ranges_int16_weights: the largest precision (< 22 bits) for which the
  // largest weight, doubled, still rounds below 2^15.
  unsigned precision = 0;
  for (precision = 0; precision < 22; ++precision) {
    const int next_value = static_cast<int>(0.5 + wt_max * (1 << (precision + 1)));
    if (next_value >= (1 << 15)) break;
  }
  G4U_CHECK(precision > 0, "weight precision 0 for {} -> {}", in_size, out_size);
  f.precision = precision;
  f.wi.resize(w.size());
  for (size_t k = 0; k < w.size(); ++k) {
    const double v = w[k] * (1 << precision);
    f.wi[k] = static_cast<int16_t>((v < 0) ? static_cast<int>(-0.5 + v) : static_cast<int>(0.5 + v));
  }
  return f;
}

void resize_bicubic_aa_rows(const uint8_t* src, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                            ResizeKernel kernel, const RowSink& sink) {
  G4U_CHECK(in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0, "{}x{} -> {}x{}", in_h, in_w, out_h, out_w);
  if (kernel == ResizeKernel::kUint8) {
    resize_u8_rows(src, in_h, in_w, out_h, out_w, sink);
    return;
  }
  if (out_h == in_h && out_w == in_w) {  // torchvision returns the image untouched
    for (int64_t y = 0; y < out_h; ++y) sink(y, src + y * in_w * 3);
    return;
  }
  std::vector<uint8_t> row(out_w * 3);
  resize_f32_rows<uint8_t>(src, 3, in_h, in_w, out_h, out_w, [&](int64_t y, const float* r) {
    for (int64_t k = 0; k < out_w * 3; ++k) row[k] = float_to_u8(r[k]);
    sink(y, row.data());
  });
}

std::vector<uint8_t> resize_bicubic_aa(const uint8_t* src, int64_t in_h, int64_t in_w, int64_t out_h,
                                       int64_t out_w, ResizeKernel kernel) {
  std::vector<uint8_t> out(out_h * out_w * 3);
  resize_bicubic_aa_rows(src, in_h, in_w, out_h, out_w, kernel, [&](int64_t y, const uint8_t* r) {
    std::copy(r, r + out_w * 3, out.begin() + y * out_w * 3);
  });
  return out;
}

std::vector<float> resize_bicubic_aa_f32_planar(const float* src, int64_t channels, int64_t in_h,
                                                int64_t in_w, int64_t out_h, int64_t out_w) {
  G4U_CHECK(channels > 0 && in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0, "bad sizes");
  std::vector<float> out(channels * out_h * out_w);
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = out.data() + c * out_h * out_w;
    resize_f32_rows<float>(src + c * in_h * in_w, 1, in_h, in_w, out_h, out_w,
                           [&](int64_t y, const float* r) { std::copy(r, r + out_w, plane + y * out_w); });
  }
  return out;
}

}  // namespace g4u::model
