// BMP and GIF through stb_image, with checks that the file holds the data its headers declare.
#include "model/media/image_codecs.h"

#include "base/error.h"
#include "model/media/byte_order.h"

#include <fmt/format.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace g4u::media::detail {
namespace {

int stb_read(void* user, char* data, int size) {
  return static_cast<int>(static_cast<MediaSource*>(user)->read(data, static_cast<size_t>(size)));
}
void stb_skip(void* user, int n) {
  auto* src = static_cast<MediaSource*>(user);
  src->seek(std::clamp<int64_t>(src->tell() + n, 0, src->size()));
}
int stb_eof(void* user) {
  auto* src = static_cast<MediaSource*>(user);
  return src->tell() >= src->size();
}
const stbi_io_callbacks kCallbacks{stb_read, stb_skip, stb_eof};

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown reason";
}

// Hand-written: stb_image reads past the end of a truncated BMP or GIF as zeros without an error.
// BMP: the pixel array must fit in the file (uncompressed and bit-field BMPs; stb refuses RLE).
void check_bmp_complete(MediaSource& src) {
  unsigned char h[34];
  if (!src.read_at(0, h, 26)) header_error(src, "bmp", kTruncated);
  const bool os2 = le32(h + 14) == 12;  // BITMAPCOREHEADER: 16-bit fields, no compression
  if (!os2 && !src.read_at(26, h + 26, 8)) header_error(src, "bmp", kTruncated);
  const int64_t width = os2 ? le16(h + 18) : static_cast<int32_t>(le32(h + 18));
  const int64_t height = os2 ? le16(h + 20) : static_cast<int32_t>(le32(h + 22));
  const int64_t bpp = os2 ? le16(h + 24) : le16(h + 28);
  const int64_t compression = os2 ? 0 : le32(h + 30);
  if (compression == 1 || compression == 2) return;  // RLE: stb refuses it itself
  if (width <= 0 || height == 0 || bpp <= 0) return;  // stb reports these
  const int64_t stride = ((width * bpp + 31) / 32) * 4;
  const int64_t need = int64_t(le32(h + 10)) + stride * std::abs(height);
  if (src.size() < need)
    pixel_error(src, "bmp", fmt::format("{}: {} bytes, the pixel data needs {}", kTruncated, src.size(), need));
}

// GIF: the blocks up to the end of the first image's data sub-blocks must be in the file.
void check_gif_complete(MediaSource& src) {
  unsigned char h[13];
  if (!src.read_at(0, h, sizeof(h))) header_error(src, "gif", kTruncated);
  int64_t pos = 13;
  if (h[10] & 0x80) pos += 3 * (int64_t(1) << ((h[10] & 7) + 1));
  auto skip_sub_blocks = [&]() {
    while (true) {
      unsigned char n;
      if (!src.read_at(pos, &n, 1)) return false;
      pos += 1 + n;
      if (n == 0) return pos <= src.size();
    }
  };
  while (true) {
    unsigned char tag;
    if (!src.read_at(pos, &tag, 1)) break;
    pos += 1;
    if (tag == 0x21) {  // extension: label, then sub-blocks
      pos += 1;
      if (!skip_sub_blocks()) break;
    } else if (tag == 0x2C) {  // image descriptor
      unsigned char d[9];
      if (!src.read_at(pos, d, 9)) break;
      pos += 9;
      if (d[8] & 0x80) pos += 3 * (int64_t(1) << ((d[8] & 7) + 1));
      pos += 1;  // LZW minimum code size
      if (!skip_sub_blocks()) break;
      return;
    } else if (tag == 0x3B) {
      pixel_error(src, "gif", "the file holds no image");
    } else {
      pixel_error(src, "gif", fmt::format("unknown block 0x{:02x} at byte {}", tag, pos - 1));
    }
  }
  pixel_error(src, "gif", fmt::format("{} inside the first image", kTruncated));
}

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

}  // namespace

RgbImage read_stb(MediaSource& src, ImageInfo& info, Read what) {
  const std::string& format = info.format;
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_callbacks(&kCallbacks, &src, &w, &h, &comp)) header_error(src, format, stb_reason());
  info.width = w;
  // A top-down BMP stores its height negative; stb's header read passes it on as is (its decoder
  // flips the rows and returns the positive height).
  info.height = format == "bmp" ? std::abs(h) : h;
  info.channels = comp;
  check_image_size(src, info);
  if (what == Read::kHeader) return {};
  if (format == "bmp") check_bmp_complete(src);
  if (format == "gif") check_gif_complete(src);
  src.seek(0);
  std::unique_ptr<unsigned char, StbFree> pixels(stbi_load_from_callbacks(&kCallbacks, &src, &w, &h, &comp, 3));
  if (!pixels) pixel_error(src, format, stb_reason());
  G4U_CHECK(w == info.width && h == info.height, "{}: header {}x{}, decoded {}x{}", src.name(), info.width,
            info.height, w, h);
  RgbImage img;
  img.height = h;
  img.width = w;
  img.pixels.assign(pixels.get(), pixels.get() + img.height * img.width * 3);
  return img;
}

}  // namespace g4u::media::detail
