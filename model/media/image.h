// Image files: format detection, header info, decoding to 8-bit RGB the way the reference
// processor's PIL does (Image.open(path).convert("RGB")):
//   JPEG  libjpeg-turbo (PIL's decoder) with PIL's settings: islow DCT, fancy upsampling; grey is
//         replicated; CMYK/YCCK as PIL converts Adobe-inverted CMYK.
//   PNG   libpng: palettes expanded, low bit depths scaled, alpha dropped (not composited), 16-bit
//         samples read as their high byte except 16-bit grey, which PIL clips at 255; no gamma.
//   BMP, GIF  stb_image (a GIF gives its first frame).
// Not as PIL: EXIF orientation is ignored (transformers' load_image applies it when it opens a
// path or URL); transparent GIF pixels of the first frame decode as black (PIL: the palette colour).
// Every failure is an InputError that starts with the source's name: unsupported format, empty,
// zero-size or too large images, corrupt headers, and truncated or corrupt pixel data (a JPEG that
// ends early, a PNG chunk CRC or zlib error, a BMP or GIF shorter than its pixel data).
#pragma once

#include "model/media/source.h"

#include <cstdint>
#include <string>
#include <vector>

namespace g4u::media {

// Files whose header claims more pixels than this, a side longer than kMaxImageSide, or more than
// kMaxImageBytes of samples as stored (width x height x channels x bytes per sample: a 16-bit RGBA
// PNG has 8 bytes a pixel) are refused before decoding. The pixel limit is the reference's: PIL
// raises DecompressionBombError above 2 x Image.MAX_IMAGE_PIXELS (2 x 89,478,485), so the HF
// processor refuses exactly the images g4u refuses (an RGB image at the limit is 512 MiB in memory).
inline constexpr int64_t kMaxImagePixels = 178956970;
inline constexpr int64_t kMaxImageSide = int64_t(1) << 16;
inline constexpr int64_t kMaxImageBytes = int64_t(1) << 30;

// Decoded RGB image, HWC uint8.
struct RgbImage {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3
};

struct ImageInfo {
  std::string format;  // "png", "jpeg", "bmp", "gif"
  int64_t height = 0;
  int64_t width = 0;
  int channels = 0;  // as stored: 1 grey, 2 grey+alpha, 3 RGB (or palette), 4 RGBA or CMYK
  int sample_bytes = 1;  // as stored: 2 for a 16-bit PNG
};

// Reads only the header.
ImageInfo read_image_info(MediaSource& src);
// Decodes every pixel (first frame of a GIF); `info`, if given, receives the header info.
RgbImage decode_image(MediaSource& src, ImageInfo* info = nullptr);

// The same for a file; messages name the path.
ImageInfo read_image_info(const std::string& path);
RgbImage decode_image_file(const std::string& path);

}  // namespace g4u::media
