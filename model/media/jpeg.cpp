// JPEG through libjpeg-turbo, the library PIL decodes JPEGs with, set up as PIL sets it up.
#include "model/media/image_codecs.h"

#include <fmt/format.h>

#include <csetjmp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

namespace g4u::media::detail {
namespace {

// Everything libjpeg touches. Its errors longjmp back into the run_* functions below, which hold
// no C++ object with a destructor; the C++ code around them never calls setjmp.
struct JpegJob {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_source_mgr src;
  std::jmp_buf jump;
  MediaSource* media;
  bool created;
  bool truncated;
  JOCTET buffer[16384];
  char message[JMSG_LENGTH_MAX];
};

JpegJob* job_of(j_common_ptr c) { return static_cast<JpegJob*>(c->client_data); }

void on_error(j_common_ptr c) {
  JpegJob* job = job_of(c);
  c->err->format_message(c, job->message);
  std::longjmp(job->jump, 1);
}

// libjpeg only warns when the data ends early (and invents the missing end-of-image marker); PIL
// refuses such a file, so that warning is an error here. Other warnings are ignored, as by PIL.
void on_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
    job_of(c)->truncated = true;
    on_error(c);
  }
}

void init_source(j_decompress_ptr) {}
void term_source(j_decompress_ptr) {}

boolean fill_input_buffer(j_decompress_ptr c) {
  JpegJob* job = job_of(reinterpret_cast<j_common_ptr>(c));
  const size_t n = job->media->read(job->buffer, sizeof(job->buffer));
  if (n == 0) WARNMS(c, JWRN_JPEG_EOF);  // does not return (on_message)
  job->src.next_input_byte = job->buffer;
  job->src.bytes_in_buffer = n;
  return TRUE;
}

void skip_input_data(j_decompress_ptr c, long n) {
  jpeg_source_mgr& s = *c->src;
  while (n > static_cast<long>(s.bytes_in_buffer)) {
    n -= static_cast<long>(s.bytes_in_buffer);
    fill_input_buffer(c);
  }
  if (n > 0) {
    s.next_input_byte += n;
    s.bytes_in_buffer -= static_cast<size_t>(n);
  }
}

bool run_header(JpegJob* job) {
  if (setjmp(job->jump)) return false;
  job->cinfo.err = jpeg_std_error(&job->err);
  job->err.error_exit = on_error;
  job->err.emit_message = on_message;
  job->cinfo.client_data = job;
  jpeg_create_decompress(&job->cinfo);
  job->created = true;
  job->src.init_source = init_source;
  job->src.fill_input_buffer = fill_input_buffer;
  job->src.skip_input_data = skip_input_data;
  job->src.resync_to_restart = jpeg_resync_to_restart;
  job->src.term_source = term_source;
  job->cinfo.src = &job->src;
  jpeg_read_header(&job->cinfo, TRUE);
  return true;
}

// Writes output_height rows of output_width * output_components samples to `pixels`.
bool run_decode(JpegJob* job, J_COLOR_SPACE space, JSAMPLE* pixels) {
  if (setjmp(job->jump)) return false;
  job->cinfo.out_color_space = space;
  job->cinfo.dct_method = JDCT_ISLOW;
  job->cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&job->cinfo);
  while (job->cinfo.output_scanline < job->cinfo.output_height) {
    JSAMPROW row = pixels + static_cast<size_t>(job->cinfo.output_scanline) * job->cinfo.output_width *
                                job->cinfo.output_components;
    jpeg_read_scanlines(&job->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&job->cinfo);
  return true;
}

struct JobDeleter {
  void operator()(JpegJob* job) const {
    if (job->created) jpeg_destroy_decompress(&job->cinfo);
    delete job;
  }
};
using JobPtr = std::unique_ptr<JpegJob, JobDeleter>;

// The colour space PIL asks libjpeg for: L, RGB or CMYK (YCCK is converted to CMYK by libjpeg).
J_COLOR_SPACE output_space(const jpeg_decompress_struct& c) {
  switch (c.jpeg_color_space) {
    case JCS_GRAYSCALE: return JCS_GRAYSCALE;
    case JCS_YCbCr:
    case JCS_RGB: return JCS_RGB;
    case JCS_CMYK:
    case JCS_YCCK: return JCS_CMYK;
    default: return JCS_UNKNOWN;
  }
}

std::string failure(const JpegJob& job) { return job.truncated ? kTruncated : job.message; }

JobPtr open_jpeg(MediaSource& src, ImageInfo& info) {
  JobPtr job(new JpegJob{});
  job->media = &src;
  if (!run_header(job.get())) header_error(src, "jpeg", failure(*job));
  info.width = job->cinfo.image_width;
  info.height = job->cinfo.image_height;
  info.channels = job->cinfo.num_components;
  check_image_size(src, info);
  if (output_space(job->cinfo) == JCS_UNKNOWN)
    header_error(src, "jpeg", fmt::format("unsupported colour space with {} components", info.channels));
  return job;
}

// Hand-written: PIL reads CMYK JPEGs as Adobe-inverted and converts them to RGB with its own rule
// (Convert.c cmyk2rgb), for which libjpeg has no transform.
void inverted_cmyk_to_rgb(const JSAMPLE* in, uint8_t* out, int64_t pixels) {
  auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (int64_t i = 0; i < pixels; ++i, in += 4, out += 3) {
    const int nk = in[3];  // 255 - K, K = 255 - stored
    for (int ch = 0; ch < 3; ++ch) out[ch] = static_cast<uint8_t>(nk - muldiv255(255 - in[ch], nk));
  }
}

}  // namespace

RgbImage read_jpeg(MediaSource& src, ImageInfo& info, Read what) {
  JobPtr job = open_jpeg(src, info);
  if (what == Read::kHeader) return {};
  const J_COLOR_SPACE space = output_space(job->cinfo);
  const int components = space == JCS_RGB ? 3 : space == JCS_CMYK ? 4 : 1;
  RgbImage img = blank_image(info);
  const int64_t n = img.height * img.width;
  std::vector<JSAMPLE> raw(space == JCS_RGB ? 0 : static_cast<size_t>(n) * components);
  if (!run_decode(job.get(), space, space == JCS_RGB ? img.pixels.data() : raw.data()))
    pixel_error(src, "jpeg", failure(*job));
  if (space == JCS_CMYK) inverted_cmyk_to_rgb(raw.data(), img.pixels.data(), n);
  if (space == JCS_GRAYSCALE)
    for (int64_t i = 0; i < n; ++i) img.pixels[i * 3] = img.pixels[i * 3 + 1] = img.pixels[i * 3 + 2] = raw[i];
  return img;
}

}  // namespace g4u::media::detail
