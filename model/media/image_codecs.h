// Internal to the media library: one decoder per image format, and the errors they share.
#pragma once

#include "model/media/image.h"

#include <string_view>

namespace g4u::media::detail {

enum class Read { kHeader, kPixels };
// Each reader fills `info` from the header and checks its size; with Read::kPixels it also decodes
// every pixel (an empty image otherwise). The source is at its start.
RgbImage read_jpeg(MediaSource& src, ImageInfo& info, Read what);
RgbImage read_png(MediaSource& src, ImageInfo& info, Read what);
// BMP and GIF through stb_image; `info.format` is "bmp" or "gif".
RgbImage read_stb(MediaSource& src, ImageInfo& info, Read what);

// "<name>: cannot read the <format> header (<reason>)".
[[noreturn]] void header_error(const MediaSource& src, std::string_view format, std::string_view reason);
// "<name>: cannot decode the <format> image (<reason>)".
[[noreturn]] void pixel_error(const MediaSource& src, std::string_view format, std::string_view reason);
inline constexpr const char* kTruncated = "the file is truncated";
// InputError for a zero-size or too large image (info.format names the header).
void check_image_size(const MediaSource& src, const ImageInfo& info);
// An image of info's size, all pixels 0.
RgbImage blank_image(const ImageInfo& info);

}  // namespace g4u::media::detail
