#include "model/multimodal/image.h"

#include "base/error.h"

#include <stb/stb_image.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace g4u::model {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};
using StbPixels = std::unique_ptr<unsigned char, StbFree>;

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown reason";
}

// The whole file in memory is never needed: headers and structure checks read a few bytes at a
// time with fseek/fread.
class ImageFile {
 public:
  explicit ImageFile(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw_input("{}: image file does not exist", path);
    if (!std::filesystem::is_regular_file(path, ec)) throw_input("{}: not a regular file", path);
    size_ = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    if (ec) throw_input("{}: cannot read the file size ({})", path, ec.message());
    f_.reset(std::fopen(path.c_str(), "rb"));
    if (!f_) throw_input("{}: cannot open image file ({})", path, std::strerror(errno));
    if (size_ == 0) throw_input("{}: empty file, not an image", path);
  }
  std::FILE* get() const { return f_.get(); }
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads n bytes at offset; false if the file ends first.
  bool read_at(int64_t offset, void* dst, size_t n) const {
    if (offset < 0 || offset + static_cast<int64_t>(n) > size_) return false;
    if (std::fseek(f_.get(), static_cast<long>(offset), SEEK_SET) != 0) return false;
    return std::fread(dst, 1, n, f_.get()) == n;
  }
  void rewind() const { std::fseek(f_.get(), 0, SEEK_SET); }

 private:
  std::string path_;
  int64_t size_ = 0;
  FilePtr f_;
};

std::string detect_format(const ImageFile& f) {
  unsigned char m[8] = {0};
  const size_t n = static_cast<size_t>(std::min<int64_t>(8, f.size()));
  if (!f.read_at(0, m, n)) throw_input("{}: cannot read the file header", f.path());
  if (n >= 8 && std::memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
  if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) return "jpeg";
  if (n >= 6 && (std::memcmp(m, "GIF87a", 6) == 0 || std::memcmp(m, "GIF89a", 6) == 0)) return "gif";
  if (n >= 2 && m[0] == 'B' && m[1] == 'M') return "bmp";
  throw_input("{}: unsupported image format (supported: PNG, JPEG, BMP, GIF)", f.path());
}

uint32_t le32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint16_t le16(const unsigned char* p) { return uint16_t(p[0] | p[1] << 8); }

// stb_image reads past the end of a truncated JPEG, BMP or GIF as zeros and returns an image
// without an error. These walks check that the data the first image needs is all there.

uint32_t be32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

uint32_t crc32_update(uint32_t crc, const unsigned char* p, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

// PNG: walk the chunks and check every CRC (stb_image checks neither the chunk CRCs nor zlib's
// Adler-32, so a damaged file could otherwise decode to garbage); the image is complete only if an
// IEND chunk ends inside the file.
void check_png_complete(const ImageFile& f) {
  int64_t pos = 8;
  unsigned char h[8];
  std::vector<unsigned char> buf(1 << 16);
  while (f.read_at(pos, h, 8)) {
    const int64_t len = be32(h);
    if (len > (int64_t(1) << 31)) throw_input("{}: corrupt PNG (chunk length {} at byte {})", f.path(), len, pos);
    if (pos + 12 + len > f.size()) break;
    const std::string type(reinterpret_cast<const char*>(h + 4), 4);
    uint32_t crc = crc32_update(0xFFFFFFFFu, h + 4, 4);
    for (int64_t done = 0; done < len;) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(len - done, static_cast<int64_t>(buf.size())));
      if (!f.read_at(pos + 8 + done, buf.data(), n)) break;
      crc = crc32_update(crc, buf.data(), n);
      done += static_cast<int64_t>(n);
    }
    unsigned char stored[4];
    if (!f.read_at(pos + 8 + len, stored, 4)) break;
    if ((crc ^ 0xFFFFFFFFu) != be32(stored))
      throw_input("{}: corrupt PNG (CRC mismatch in the {} chunk at byte {})", f.path(), type, pos);
    pos += 12 + len;
    if (type == "IEND") return;
  }
  throw_input("{}: truncated PNG (the file ends before the IEND chunk)", f.path());
}

// JPEG: walk the marker segments from SOI; after each SOS skip the entropy-coded data (0xFF is
// followed by 0x00 or a restart marker inside it) and require an EOI marker before the file ends.
void check_jpeg_complete(const ImageFile& f) {
  int64_t pos = 2;
  bool seen_sos = false;
  unsigned char b[4];
  constexpr int64_t kChunk = 1 << 16;
  std::vector<unsigned char> buf;
  while (true) {
    if (!f.read_at(pos, b, 2)) break;
    if (b[0] != 0xFF) throw_input("{}: corrupt JPEG (no marker at byte {})", f.path(), pos);
    const unsigned char m = b[1];
    if (m == 0xFF) {  // fill byte
      pos += 1;
      continue;
    }
    pos += 2;
    if (m == 0xD9) {
      if (!seen_sos) throw_input("{}: corrupt JPEG (end of image before any scan)", f.path());
      return;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // standalone markers
    if (!f.read_at(pos, b, 2)) break;
    const int64_t len = (int64_t(b[0]) << 8) | b[1];
    if (len < 2) throw_input("{}: corrupt JPEG (segment length {} at byte {})", f.path(), len, pos);
    pos += len;
    if (pos > f.size()) break;
    if (m != 0xDA) continue;
    seen_sos = true;
    // Entropy-coded data: find the next 0xFF followed by a byte that is not 0x00 or RSTn.
    bool found = false;
    while (!found) {
      const int64_t n = std::min<int64_t>(kChunk, f.size() - pos);
      if (n < 2) break;
      buf.resize(static_cast<size_t>(n));
      if (!f.read_at(pos, buf.data(), buf.size())) break;
      int64_t i = 0;
      for (; i + 1 < n; ++i) {
        if (buf[i] != 0xFF) continue;
        const unsigned char next = buf[i + 1];
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) continue;
        found = true;
        break;
      }
      pos += i;
    }
    if (!found) break;
  }
  throw_input("{}: truncated JPEG (the file ends before the end-of-image marker)", f.path());
}

// BMP: the pixel array must fit in the file (uncompressed and bit-field BMPs; stb rejects RLE).
void check_bmp_complete(const ImageFile& f) {
  unsigned char h[30];
  if (!f.read_at(0, h, sizeof(h))) throw_input("{}: truncated BMP header", f.path());
  const uint32_t offset = le32(h + 10);
  const uint32_t hsize = le32(h + 14);
  int64_t width = 0, height = 0, bpp = 0, compression = 0;
  if (hsize == 12) {
    width = le16(h + 18);
    height = le16(h + 20);
    bpp = le16(h + 24);
  } else {
    unsigned char x[4];
    if (!f.read_at(30, x, 4)) throw_input("{}: truncated BMP header", f.path());
    width = static_cast<int32_t>(le32(h + 18));
    height = static_cast<int32_t>(le32(h + 22));
    bpp = le16(h + 28);
    compression = le32(x);
  }
  if (compression == 1 || compression == 2) return;  // RLE: stb refuses it itself
  if (width <= 0 || height == 0 || bpp <= 0) return;  // stb reports these
  const int64_t stride = ((width * bpp + 31) / 32) * 4;
  const int64_t need = int64_t(offset) + stride * std::abs(height);
  if (f.size() < need)
    throw_input("{}: truncated BMP ({} bytes, the pixel data needs {})", f.path(), f.size(), need);
}

// GIF: walk blocks up to the end of the first image's data sub-blocks.
void check_gif_complete(const ImageFile& f) {
  unsigned char h[13];
  if (!f.read_at(0, h, sizeof(h))) throw_input("{}: truncated GIF header", f.path());
  int64_t pos = 13;
  if (h[10] & 0x80) pos += 3 * (int64_t(1) << ((h[10] & 7) + 1));
  auto skip_sub_blocks = [&]() {
    while (true) {
      unsigned char n;
      if (!f.read_at(pos, &n, 1)) return false;
      pos += 1 + n;
      if (n == 0) return pos <= f.size();
    }
  };
  while (true) {
    unsigned char tag;
    if (!f.read_at(pos, &tag, 1)) break;
    pos += 1;
    if (tag == 0x21) {  // extension: label, then sub-blocks
      pos += 1;
      if (!skip_sub_blocks()) break;
    } else if (tag == 0x2C) {  // image descriptor
      unsigned char d[9];
      if (!f.read_at(pos, d, 9)) break;
      pos += 9;
      if (d[8] & 0x80) pos += 3 * (int64_t(1) << ((d[8] & 7) + 1));
      pos += 1;  // LZW minimum code size
      if (!skip_sub_blocks()) break;
      return;
    } else if (tag == 0x3B) {
      throw_input("{}: GIF without any image", f.path());
    } else {
      throw_input("{}: corrupt GIF (unknown block 0x{:02x} at byte {})", f.path(), tag, pos - 1);
    }
  }
  throw_input("{}: truncated GIF (the file ends inside the first image)", f.path());
}

// Width and height as the container header states them (PNG IHDR, GIF screen, BMP info header),
// to tell a zero-size image from other header errors; -1 where not read.
std::pair<int64_t, int64_t> declared_size(const ImageFile& f, const std::string& format) {
  unsigned char b[26];
  if (format == "png" && f.read_at(16, b, 8)) return {be32(b), be32(b + 4)};
  if (format == "gif" && f.read_at(6, b, 4)) return {le16(b), le16(b + 2)};
  if (format == "bmp" && f.read_at(0, b, 26)) {
    if (le32(b + 14) == 12) return {le16(b + 18), le16(b + 20)};
    return {static_cast<int32_t>(le32(b + 18)), static_cast<int32_t>(le32(b + 22))};
  }
  return {-1, -1};
}

ImageFileInfo header_info(const ImageFile& f) {
  ImageFileInfo info;
  info.format = detect_format(f);
  const auto [dw, dh] = declared_size(f, info.format);
  if (dw == 0 || dh == 0) throw_input("{}: zero-size image ({}x{} in the {} header)", f.path(), dw, dh, info.format);
  f.rewind();
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_file(f.get(), &w, &h, &comp)) {
    const std::string reason = stb_reason();
    if (reason == "0-pixel image") throw_input("{}: zero-size image", f.path());
    if (reason == "too large") throw_input("{}: image too large (stb_image refuses its size)", f.path());
    throw_input("{}: corrupt or unsupported {} header ({})", f.path(), info.format, reason);
  }
  if (w <= 0 || h <= 0) throw_input("{}: zero-size image ({}x{})", f.path(), w, h);
  info.width = w;
  info.height = h;
  info.channels = comp;
  if (info.width > kMaxImageSide || info.height > kMaxImageSide ||
      info.width * info.height > kMaxImagePixels)
    throw_input("{}: image too large ({}x{} pixels; at most {} per side and {} pixels)", f.path(), info.width,
                info.height, kMaxImageSide, kMaxImagePixels);
  return info;
}

struct Decoded {
  ImageFileInfo info;
  StbPixels pixels;
};

Decoded decode(const std::string& path) {
  ImageFile f(path);
  Decoded d;
  d.info = header_info(f);
  if (d.info.format == "png") check_png_complete(f);
  if (d.info.format == "jpeg") check_jpeg_complete(f);
  if (d.info.format == "bmp") check_bmp_complete(f);
  if (d.info.format == "gif") check_gif_complete(f);
  f.rewind();
  int w = 0, h = 0, comp = 0;
  d.pixels.reset(stbi_load_from_file(f.get(), &w, &h, &comp, 3));
  if (!d.pixels) throw_input("{}: cannot decode {} image ({})", path, d.info.format, stb_reason());
  G4U_CHECK(w == d.info.width && h == d.info.height, "{}: header {}x{}, decoded {}x{}", path, d.info.width,
            d.info.height, w, h);
  return d;
}

}  // namespace

ImageFileInfo read_image_info(const std::string& path) {
  ImageFile f(path);
  return header_info(f);
}

RgbImage decode_image_file(const std::string& path) {
  Decoded d = decode(path);
  RgbImage img;
  img.height = d.info.height;
  img.width = d.info.width;
  const unsigned char* p = d.pixels.get();
  img.pixels.assign(p, p + img.height * img.width * 3);
  return img;
}

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
  Decoded d = decode(path);
  return preprocess_image(d.pixels.get(), d.info.height, d.info.width, o, path);
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
