// Image pre-processing of the encoder-free vision path (architecture doc §3.2), as HF's
// `Gemma4UnifiedImageProcessor` (torchvision backend) does it:
//   decode -> RGB uint8 -> aspect-preserving resize to the soft-token budget (model/multimodal/image_resize.h)
//   -> x (1/255) in fp32, no mean/std -> model patches of P = patch_size * pooling_kernel_size px in
//   row-major order over the patch grid, HWC inside a patch (flat = ((r * P) + c) * 3 + ch)
//   -> positions (x = column, y = row) -> padded to `budget` rows (zero pixels, position (-1, -1)).
//
// Decoding is the media library's (model/media/image.h): PNG, JPEG, BMP, GIF to RGB as PIL's
// Image.open(path).convert("RGB") gives it, truncated or corrupt files refused.
#pragma once

#include "model/io/config.h"
#include "model/media/image.h"
#include "model/multimodal/image_resize.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace g4u::model {

using media::kMaxImagePixels;
using media::kMaxImageSide;
using media::RgbImage;  // HWC uint8
using ImageFileInfo = media::ImageInfo;
// read_image_info(path): the header only; decode_image_file(path): RGB uint8 (first frame of a
// GIF). InputError naming the file for missing, unreadable, unsupported, corrupt, truncated,
// zero-size or too large images.
using media::decode_image_file;
using media::read_image_info;

struct ImageOptions {
  int64_t budget = 280;             // soft tokens (padded rows); 1..mm_posemb_size
  int64_t patch_size = 16;          // teacher patch
  int64_t pooling_kernel_size = 3;  // model patch = patch_size * pooling_kernel_size
  int64_t max_position = 1120;      // mm_posemb_size: positions must stay below it
  ResizeKernel kernel = ResizeKernel::kUint8;

  int64_t model_patch() const { return patch_size * pooling_kernel_size; }
  int64_t patch_dim() const { return model_patch() * model_patch() * 3; }
};
// Options of a model's vision config; budget 0 means the config's default (num_soft_tokens).
ImageOptions image_options(const VisionConfig& v, int64_t budget = 0);

struct ImagePatches {
  torch::Tensor pixels;     // [budget, P*P*3] float32, values in [0, 1]
  torch::Tensor positions;  // [budget, 2] int64 (x = column, y = row); padding rows (-1, -1)
  int64_t num_soft_tokens = 0;  // valid rows = grid_h * grid_w
  int64_t height = 0;           // resized size (multiples of P)
  int64_t width = 0;
  int64_t grid_h = 0;
  int64_t grid_w = 0;
  int64_t source_height = 0;
  int64_t source_width = 0;
  int64_t budget = 0;
};

// Checks the options (budget range, patch geometry); InputError naming `where`.
void check_image_options(const ImageOptions& o, const std::string& where);

// Decode + preprocess one file.
ImagePatches preprocess_image_file(const std::string& path, const ImageOptions& o);
// Preprocess an already decoded RGB uint8 image (HWC, height * width * 3 values).
ImagePatches preprocess_image(const uint8_t* rgb, int64_t height, int64_t width, const ImageOptions& o,
                              const std::string& where = "image");
inline ImagePatches preprocess_image(const RgbImage& img, const ImageOptions& o,
                                     const std::string& where = "image") {
  return preprocess_image(img.pixels.data(), img.height, img.width, o, where);
}

// The sizes preprocessing would produce, without decoding pixels (reads the header only).
struct ImagePlan {
  ImageFileInfo info;
  ImageSize target;
  int64_t grid_h = 0;
  int64_t grid_w = 0;
  int64_t num_soft_tokens = 0;
};
ImagePlan plan_image_file(const std::string& path, const ImageOptions& o);

}  // namespace g4u::model
