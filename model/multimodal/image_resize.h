// Image sizing and resampling of the Gemma 4 unified image processor (architecture doc §3.2).
//
// * `image_target_size`: the aspect-preserving size for a soft-token budget, written generically in
//   the teacher patch size and the pooling kernel (HF `get_aspect_ratio_preserving_size`).
// * `resize_bicubic_aa`: torchvision `resize(..., BICUBIC, antialias=True)` of an RGB uint8 image.
//   torchvision runs one of two kernels, so both are here (ResizeKernel):
//     - kUint8 (default): what the HF processor runs on CPU with torch >= 2.1 / torchvision >= 0.16
//       (`_do_native_uint8_resize_on_cpu` is true for BICUBIC): ATen's uint8 antialiased kernel,
//       a port of Pillow-SIMD. Separable, horizontal pass first into a uint8 intermediate, then
//       vertical. Filter weights (Keys cubic a = -0.5, support 2 * max(1, in/out)) are computed in
//       double, normalised, quantised to int16 with the largest precision (<= 22 bits) that keeps
//       the largest weight below 2^15; each pass accumulates in int32 from 1 << (prec - 1) and
//       stores clamp(acc >> prec, 0, 255). Integer arithmetic, so independent of the build. Written
//       from ATen's source (UpSampleKernel.cpp, UpSampleKernelAVXAntialias.h); it could not be run
//       against torch >= 2.1 here (LibTorch 1.13 has no uint8 antialiased kernel), so it is tested
//       on hand-computed cases and against kFloat.
//     - kFloat: the path torchvision takes for uint8 on GPU (and on CPU before torch 2.1): the image
//       is cast to float32, ATen's separable antialiased bicubic runs in float32 (weights computed in
//       float32, horizontal pass first into a float32 intermediate, taps summed in order), then
//       clamp(0, 255), round half to even, cast to uint8. The arithmetic follows the current ATen
//       CPU source (filter ((a*x - 5a)*x + 8a)*x - 4a, no fused multiply-adds). Builds differ in
//       the last bits of the float sum: LibTorch 1.13 (Debian) evaluates the filter with the older
//       expression (((x - 5)*x + 8)*x - 4)*a and its AVX2 kernel fuses multiply-adds; CUDA's kernel
//       uses the older expression with FMA as well. Against LibTorch 1.13 on CPU the float results
//       agree to < 1e-6 relative and the uint8 results on all but ~0.01% of values, which differ
//       by 1 (values at .5 after the float sum) -- tested.
//   On content that stays inside [0, 255] through the passes the two kernels differ by at most one
//   level (rounding of the uint8 intermediate and of the int16 weights); on high-contrast content
//   kUint8 also clips the overshoot of the horizontal pass before the vertical one, as torchvision's
//   uint8 kernel does, and differences of ~20 levels occur on random noise.
//   Skipped dimensions follow ATen: a dimension whose size does not change is not resampled, and
//   if neither changes the image is returned unchanged (the HF processor also skips the call).
//
// The resize streams: it keeps only the rows of the horizontally resampled image that the current
// output row needs (a ring of at most `taps` rows), never a full-size float copy of the input.
// Torch-free on purpose.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace g4u::model {

// Soft-token budgets the released model supports (HF `_SUPPORTED_SOFT_TOKENS`).
inline constexpr int64_t kImageBudgets[] = {70, 140, 280, 560, 1120};
bool is_supported_image_budget(int64_t budget);

struct ImageSize {
  int64_t height = 0;
  int64_t width = 0;
  bool operator==(const ImageSize& o) const { return height == o.height && width == o.width; }
};

// The aspect-preserving target size for `budget` soft tokens (HF get_aspect_ratio_preserving_size
// with max_patches = budget * pooling_kernel_size^2): with side = patch_size * pooling_kernel_size
// and A = budget * pooling_kernel_size^2 * patch_size^2,
//   f = sqrt(A / (h*w)), H' = floor(f*h / side) * side, W' = floor(f*w / side) * side;
// if only H' is 0: H' = side, W' = min(floor(w/h) * side, budget * side); symmetric for W'.
// InputError (naming `where`) for empty images or if both sides round to 0.
ImageSize image_target_size(int64_t height, int64_t width, int64_t budget, int64_t patch_size,
                            int64_t pooling_kernel_size, const std::string& where = "image");

enum class ResizeKernel { kUint8, kFloat };
const char* resize_kernel_name(ResizeKernel k);   // "uint8" / "float"
std::vector<std::string> resize_kernel_names();
// InputError "<where>: unknown resize kernel 'x' (known: uint8, float)".
ResizeKernel resize_kernel_from_name(const std::string& name, const std::string& where);

// Receives output row `y` (width * 3 uint8 values, RGB interleaved), rows in increasing order.
using RowSink = std::function<void(int64_t y, const uint8_t* row)>;

// Resizes an RGB uint8 image (HWC, `in_h` x `in_w`) to `out_h` x `out_w` and hands every output
// row to `sink`. Memory besides the input: O(taps * out_w) for the intermediate rows.
void resize_bicubic_aa_rows(const uint8_t* src, int64_t in_h, int64_t in_w, int64_t out_h,
                            int64_t out_w, ResizeKernel kernel, const RowSink& sink);

// Same, into a buffer of out_h * out_w * 3 values.
std::vector<uint8_t> resize_bicubic_aa(const uint8_t* src, int64_t in_h, int64_t in_w, int64_t out_h,
                                       int64_t out_w, ResizeKernel kernel);

// The float32 core of kFloat on a planar float image ([channels, in_h, in_w], contiguous), before
// the clamp/round: `at::_upsample_bicubic2d_aa(x, {out_h, out_w}, false)` up to the build differences
// described above. Exposed so tests can compare it with ATen.
std::vector<float> resize_bicubic_aa_f32_planar(const float* src, int64_t channels, int64_t in_h,
                                                int64_t in_w, int64_t out_h, int64_t out_w);

// The per-axis filter of one pass, as ATen computes it (exposed for tests).
struct AxisFilter {
  int64_t taps = 0;             // max_interp_size: ceil(support) * 2 + 1
  std::vector<int64_t> start;   // first input index per output index
  std::vector<int64_t> count;   // number of input indices used (<= taps)
  std::vector<float> wf;        // kFloat weights, [out * taps]
  std::vector<int16_t> wi;      // kUint8 weights, [out * taps]
  unsigned precision = 0;       // kUint8 fixed-point bits
};
AxisFilter axis_filter(int64_t in_size, int64_t out_size, ResizeKernel kernel);

}  // namespace g4u::model
