#include "model/multimodal/image.h"

#include "base/error.h"

namespace g4u::model {

ImageOptions image_options(const VisionConfig& v, int64_t budget) {
  ImageOptions o;
  o.patch_size = v.patch_size;
  o.pooling_kernel_size = v.pooling_kernel_size;
  o.budget = budget > 0 ? budget : v.num_soft_tokens;
  o.max_position = v.mm_posemb_size;
  return o;
}

void check_image_options(const ImageOptions& o, const std::string& where) {
  if (o.patch_size <= 0 || o.pooling_kernel_size <= 0)
    throw_input("{}: patch size {} and pooling kernel {} must be positive", where, o.patch_size,
                o.pooling_kernel_size);
  if (o.budget <= 0) throw_input("{}: soft-token budget must be positive, got {}", where, o.budget);
  // A grid side can reach the budget (a one-patch-high strip), and positions index a table of
  // max_position rows.
  if (o.budget > o.max_position)
    throw_input("{}: soft-token budget {} exceeds the position table size {}", where, o.budget, o.max_position);
}

ImagePatches preprocess_image(const uint8_t* rgb, int64_t height, int64_t width, const ImageOptions& o,
                              const std::string& where) {
  check_image_options(o, where);
  const ImageSize t = image_target_size(height, width, o.budget, o.patch_size, o.pooling_kernel_size, where);
  const int64_t P = o.model_patch();
  const int64_t grid_h = t.height / P, grid_w = t.width / P;
  const int64_t n = grid_h * grid_w;
  G4U_CHECK(n <= o.budget && grid_h <= o.max_position && grid_w <= o.max_position, "grid {}x{} budget {}",
            grid_h, grid_w, o.budget);

  ImagePatches out;
  out.budget = o.budget;
  out.height = t.height;
  out.width = t.width;
  out.grid_h = grid_h;
  out.grid_w = grid_w;
  out.num_soft_tokens = n;
  out.source_height = height;
  out.source_width = width;
  out.pixels = torch::zeros({o.budget, o.patch_dim()}, torch::kFloat32);
  out.positions = torch::full({o.budget, 2}, -1, torch::kInt64);

  // HF rescale: uint8 tensor * 1/255 (a Python float, cast to float32 by type promotion).
  const float scale = static_cast<float>(1.0 / 255.0);
  float* px = out.pixels.data_ptr<float>();
  const int64_t dim = o.patch_dim();
  const int64_t seg = P * 3;  // one patch row of one patch
  resize_bicubic_aa_rows(rgb, height, width, t.height, t.width, o.kernel, [&](int64_t y, const uint8_t* row) {
    const int64_t pr = y / P, r = y % P;
    for (int64_t pc = 0; pc < grid_w; ++pc) {
      float* dst = px + (pr * grid_w + pc) * dim + r * seg;
      const uint8_t* s = row + pc * seg;
      for (int64_t k = 0; k < seg; ++k) dst[k] = static_cast<float>(s[k]) * scale;
    }
  });
  int64_t* pos = out.positions.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    pos[2 * i + 0] = i % grid_w;  // x = column
    pos[2 * i + 1] = i / grid_w;  // y = row
  }
  return out;
}

ImagePatches preprocess_image_file(const std::string& path, const ImageOptions& o) {
  check_image_options(o, path);
  return preprocess_image(decode_image_file(path), o, path);
}

ImagePlan plan_image_file(const std::string& path, const ImageOptions& o) {
  check_image_options(o, path);
  ImagePlan p;
  p.info = read_image_info(path);
  p.target = image_target_size(p.info.height, p.info.width, o.budget, o.patch_size, o.pooling_kernel_size, path);
  p.grid_h = p.target.height / o.model_patch();
  p.grid_w = p.target.width / o.model_patch();
  p.num_soft_tokens = p.grid_h * p.grid_w;
  return p;
}

}  // namespace g4u::model
