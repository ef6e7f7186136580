#include "model/media/image.h"

#include "base/error.h"
#include "model/media/byte_order.h"
#include "model/media/format.h"
#include "model/media/image_codecs.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace g4u::media {
namespace detail {

void header_error(const MediaSource& src, std::string_view format, std::string_view reason) {
  throw_input("{}: cannot read the {} header ({})", src.name(), format, reason);
}

void pixel_error(const MediaSource& src, std::string_view format, std::string_view reason) {
  throw_input("{}: cannot decode the {} image ({})", src.name(), format, reason);
}

void check_image_size(const MediaSource& src, const ImageInfo& info) {
  if (info.width <= 0 || info.height <= 0)
    throw_input("{}: zero-size image ({}x{} in the {} header)", src.name(), info.width, info.height, info.format);
  if (info.width > kMaxImageSide || info.height > kMaxImageSide || info.width * info.height > kMaxImagePixels)
    throw_input("{}: image too large ({}x{} pixels; at most {} per side and {} pixels)", src.name(), info.width,
                info.height, kMaxImageSide, kMaxImagePixels);
  // Grey is decoded as RGB, so at least 3 channels are held; a header read alone may not know them.
  const int64_t bytes = info.width * info.height * std::max(3, info.channels) * info.sample_bytes;
  if (bytes > kMaxImageBytes)
    throw_input("{}: image too large ({}x{} pixels of {} channels of {} bytes: {} bytes decoded; at most {})", src.name(),
                info.width, info.height, std::max(3, info.channels), info.sample_bytes, bytes, kMaxImageBytes);
}

RgbImage blank_image(const ImageInfo& info) {
  RgbImage img;
  img.height = info.height;
  img.width = info.width;
  img.pixels.resize(static_cast<size_t>(info.height * info.width) * 3);
  return img;
}

}  // namespace detail

namespace {

std::string detect_format(MediaSource& src) {
  if (src.size() == 0) throw_input("{}: empty file, not a supported image", src.name());
  char head[16];
  const size_t n = src.seek(0) ? src.read(head, sizeof(head)) : 0;
  const std::string ext = sniff_extension(std::string_view(head, n));
  if (ext == "png" || ext == "gif" || ext == "bmp") return ext;
  if (ext == "jpg") return "jpeg";
  if (!ext.empty())
    throw_input("{}: not a supported image: {} data (supported: PNG, JPEG, GIF, BMP)", src.name(), ext);
  throw_input("{}: not a supported image (no PNG, JPEG, GIF or BMP signature)", src.name());
}

// The size the PNG, GIF or BMP header states, checked before any decoder reads further: zero and
// absurd sizes are refused before a decoder allocates for them or stops at another error.
void check_declared_size(MediaSource& src, const std::string& format) {
  unsigned char b[26];
  ImageInfo declared{format, -1, -1, 0};
  if (format == "png" && src.read_at(12, b, 14) && std::memcmp(b, "IHDR", 4) == 0) {
    declared.width = be32(b + 4);
    declared.height = be32(b + 8);
    const int color_type = b[13];  // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
    declared.channels = color_type == 6 ? 4 : color_type == 4 ? 2 : color_type == 0 ? 1 : 3;
    declared.sample_bytes = b[12] == 16 ? 2 : 1;
  } else if (format == "gif" && src.read_at(6, b, 4)) {
    declared.width = le16(b);
    declared.height = le16(b + 2);
  } else if (format == "bmp" && src.read_at(0, b, 26)) {
    const bool os2 = le32(b + 14) == 12;  // BITMAPCOREHEADER: 16-bit sizes
    declared.width = os2 ? le16(b + 18) : static_cast<int32_t>(le32(b + 18));
    declared.height = os2 ? le16(b + 20) : std::abs(static_cast<int64_t>(static_cast<int32_t>(le32(b + 22))));
  }
  if (declared.width >= 0 && declared.height >= 0) detail::check_image_size(src, declared);
}

RgbImage read_image(MediaSource& src, ImageInfo& info, detail::Read what) {
  info.format = detect_format(src);
  check_declared_size(src, info.format);
  src.seek(0);
  if (info.format == "jpeg") return detail::read_jpeg(src, info, what);
  if (info.format == "png") return detail::read_png(src, info, what);
  return detail::read_stb(src, info, what);
}

}  // namespace

ImageInfo read_image_info(MediaSource& src) {
  ImageInfo info;
  read_image(src, info, detail::Read::kHeader);
  return info;
}

RgbImage decode_image(MediaSource& src, ImageInfo* info) {
  ImageInfo local;
  return read_image(src, info ? *info : local, detail::Read::kPixels);
}

ImageInfo read_image_info(const std::string& path) {
  MediaSource src = MediaSource::open_file(path, "image");
  return read_image_info(src);
}

RgbImage decode_image_file(const std::string& path) {
  MediaSource src = MediaSource::open_file(path, "image");
  return decode_image(src);
}

}  // namespace g4u::media
