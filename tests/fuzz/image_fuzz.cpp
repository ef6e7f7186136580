// Image decoding (model/media/image.h): PNG, JPEG, GIF, BMP, sniffed from the bytes as a manifest's
// image is. The header read and the full decode must agree, and the pixels fill the image exactly.
#include "model/media/image.h"
#include "tests/fuzz/fuzz_util.h"

#include <stb/stb_image_write.h>

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The fixtures hold PNGs and JPEGs; BMP and GIF seeds are made here.
  std::vector<uint8_t> rgb(5 * 3 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t(i * 37);
  const std::string bmp = fuzz::scratch_dir() + "/seed.bmp";
  if (stbi_write_bmp(bmp.c_str(), 5, 3, 3, rgb.data())) fuzz::copy_seed(bmp, "5x3.bmp");
  // A 1x1 GIF89a: two-colour global table, one image, LZW minimum code size 2.
  const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 255, 255, 255, 0, 0, 0,
                               0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b};
  fuzz::write_seed(std::string_view(reinterpret_cast<const char*>(gif), sizeof gif), "1x1.gif");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  media::ImageInfo header;
  bool header_ok = false;
  fuzz::expect_clean_errors([&] {
    media::MediaSource src = media::MediaSource::from_bytes(bytes, "input");
    header = media::read_image_info(src);
    header_ok = true;
  });
  fuzz::expect_clean_errors([&] {
    media::MediaSource src = media::MediaSource::from_bytes(bytes, "input");
    media::ImageInfo info;
    const media::RgbImage image = media::decode_image(src, &info);
    if (!header_ok || info.width != header.width || info.height != header.height) std::abort();
    if (image.width != info.width || image.height != info.height) std::abort();
    if (image.pixels.size() != size_t(image.width * image.height * 3)) std::abort();
    if (image.width * image.height > media::kMaxImagePixels) std::abort();
  });
  return 0;
}
