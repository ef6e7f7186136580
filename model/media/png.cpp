// PNG through libpng, converted to RGB as PIL's convert("RGB") converts what PIL reads.
#include "model/media/image_codecs.h"

#include "model/media/byte_order.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

#include <png.h>
#include <zlib.h>

namespace g4u::media::detail {
namespace {

// Everything libpng touches. Its errors longjmp back into the run_* functions below, which hold
// no C++ object with a destructor; the C++ code around them never calls setjmp.
struct PngJob {
  png_structp png;
  png_infop info;
  MediaSource* media;
  char message[256];
};

void on_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof(job->message), "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // benign oddities (extra data, unknown chunks)

void on_read(png_structp png, png_bytep dst, size_t n) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (job->media->read(dst, n) != n) png_error(png, kTruncated);
}

bool run_header(PngJob* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  png_set_read_fn(job->png, job, on_read);
  // A CRC error in any chunk is an error (by default libpng only warns about ancillary chunks).
  png_set_crc_action(job->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(job->png, job->info);
  return true;
}

// Palettes to RGB(A), 1/2/4-bit grey scaled to 8 bits (as PIL unpacks them); 16-bit samples and
// alpha are kept for rows_to_rgb.
bool run_transforms(PngJob* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  const int type = png_get_color_type(job->png, job->info);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
  if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(job->png, job->info) < 8)
    png_set_expand_gray_1_2_4_to_8(job->png);
  png_set_interlace_handling(job->png);
  png_read_update_info(job->png, job->info);
  return true;
}

// Reads every row, then the chunks after the image data up to IEND (their CRCs included).
bool run_decode(PngJob* job, png_bytepp rows) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  png_read_image(job->png, rows);
  png_read_end(job->png, nullptr);
  return true;
}

struct JobDeleter {
  void operator()(PngJob* job) const {
    png_destroy_read_struct(&job->png, job->info ? &job->info : nullptr, nullptr);
    delete job;
  }
};
using JobPtr = std::unique_ptr<PngJob, JobDeleter>;

int stored_channels(png_structp png, png_infop info) {
  switch (png_get_color_type(png, info)) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    case PNG_COLOR_TYPE_PALETTE: return png_get_valid(png, info, PNG_INFO_tRNS) ? 4 : 3;
    default: return 3;
  }
}

JobPtr open_png(MediaSource& src, ImageInfo& info) {
  JobPtr job(new PngJob{});
  job->media = &src;
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job.get(), on_error, on_warning);
  if (job->png) job->info = png_create_info_struct(job->png);
  if (!job->png || !job->info) throw std::bad_alloc();
  if (!run_header(job.get())) header_error(src, "png", job->message);
  info.width = png_get_image_width(job->png, job->info);
  info.height = png_get_image_height(job->png, job->info);
  info.channels = stored_channels(job->png, job->info);
  info.sample_bytes = png_get_bit_depth(job->png, job->info) == 16 ? 2 : 1;
  check_image_size(src, info);
  return job;
}

// Hand-written: libpng inflates a chunk's data before it checks the chunk's CRC, so one flipped bit
// in the pixel data reads as a zlib error; checking every CRC first names the damage. The chunks
// that end past the end of the file are left to libpng, which reports the truncation.
void check_chunk_crcs(MediaSource& src) {
  std::vector<unsigned char> buffer(1 << 16);
  unsigned char head[8], stored[4];
  for (int64_t pos = 8; src.read_at(pos, head, 8); pos += 12 + int64_t(be32(head))) {
    const int64_t length = be32(head);
    if (length > src.size() - pos - 12) return;
    uLong crc = crc32(0L, head + 4, 4);
    for (int64_t done = 0; done < length;) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(length - done, static_cast<int64_t>(buffer.size())));
      if (src.read(buffer.data(), n) != n) return;
      crc = crc32(crc, buffer.data(), static_cast<uInt>(n));
      done += static_cast<int64_t>(n);
    }
    if (src.read(stored, 4) != 4) return;
    if (crc != be32(stored))
      pixel_error(src, "png", fmt::format("{}: CRC error", std::string_view(reinterpret_cast<char*>(head + 4), 4)));
    if (std::memcmp(head + 4, "IEND", 4) == 0) return;
  }
}

// Hand-written: PIL reads 16-bit grey as integers that convert("RGB") clips at 255, and any other
// 16-bit PNG as the high bytes of its samples; libpng has no clipping transform.
void rows_to_rgb(const png_byte* in, uint8_t* out, int64_t pixels, int channels, int sample_bytes,
                 bool clip_grey16) {
  for (int64_t i = 0; i < pixels; ++i, in += channels * sample_bytes, out += 3) {
    if (channels >= 3) {
      for (int ch = 0; ch < 3; ++ch) out[ch] = in[ch * sample_bytes];
    } else {
      const uint8_t grey = clip_grey16 ? (in[0] != 0 ? 255 : in[1]) : in[0];
      out[0] = out[1] = out[2] = grey;
    }
  }
}

}  // namespace

RgbImage read_png(MediaSource& src, ImageInfo& info, Read what) {
  JobPtr job = open_png(src, info);
  if (what == Read::kHeader) return {};
  const int64_t resume = src.tell();
  check_chunk_crcs(src);
  src.seek(resume);
  const bool clip_grey16 = png_get_color_type(job->png, job->info) == PNG_COLOR_TYPE_GRAY &&
                           png_get_bit_depth(job->png, job->info) == 16;
  if (!run_transforms(job.get())) pixel_error(src, "png", job->message);
  const int channels = png_get_channels(job->png, job->info);
  const int sample_bytes = png_get_bit_depth(job->png, job->info) == 16 ? 2 : 1;
  const size_t stride = png_get_rowbytes(job->png, job->info);
  // Not zero-filled: the pages are touched only as libpng writes rows, so a header that promises
  // more rows than the file holds fails at the first missing row without paying for the rest.
  std::unique_ptr<png_byte[]> raw(new png_byte[stride * static_cast<size_t>(info.height)]);
  std::vector<png_bytep> rows(static_cast<size_t>(info.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = raw.get() + y * stride;
  if (!run_decode(job.get(), rows.data())) pixel_error(src, "png", job->message);
  RgbImage img = blank_image(info);
  for (int64_t y = 0; y < img.height; ++y)
    rows_to_rgb(rows[y], img.pixels.data() + y * img.width * 3, img.width, channels, sample_bytes, clip_grey16);
  return img;
}

}  // namespace g4u::media::detail
