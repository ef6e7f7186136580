// model/media images: decoded pixels equal an independent reference decode (djpeg, pngtopnm) or
// pixels known by construction (tests/fixtures/media/README.md), as PIL's convert("RGB") gives them.
#include "media_test_util.h"
#include "test_util.h"
#include "model/media/image.h"

#include <catch2/catch.hpp>

#include <sstream>

using namespace g4u::media;
using g4u::test::kMediaFixtures;

namespace {

// A binary PPM (P6) or PGM (P5) with maxval 255, as RGB (grey replicated).
RgbImage read_pnm(const std::string& path) {
  const std::string bytes = g4u::test::read_file(path);
  std::istringstream in(bytes);
  std::string magic;
  int maxval = 0;
  RgbImage img;
  in >> magic >> img.width >> img.height >> maxval;
  in.get();  // the one whitespace byte before the samples
  REQUIRE((magic == "P6" || magic == "P5"));
  REQUIRE(maxval == 255);
  const size_t n = static_cast<size_t>(img.width * img.height);
  const size_t channels = magic == "P6" ? 3 : 1;
  const size_t start = static_cast<size_t>(in.tellg());
  REQUIRE(bytes.size() == start + n * channels);
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < 3; ++c) img.pixels.push_back(static_cast<uint8_t>(bytes[start + i * channels + c % channels]));
  return img;
}

void require_same_pixels(const RgbImage& got, const RgbImage& want) {
  REQUIRE(got.height == want.height);
  REQUIRE(got.width == want.width);
  REQUIRE(got.pixels.size() == want.pixels.size());
  size_t differing = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) differing += got.pixels[i] != want.pixels[i];
  CHECK(differing == 0);
}

std::vector<uint8_t> flat_rgb(std::initializer_list<std::vector<uint8_t>> pixels) {
  std::vector<uint8_t> out;
  for (auto& p : pixels) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("JPEG pixels equal djpeg's (libjpeg-turbo, islow DCT, fancy upsampling)", "[unit]") {
  for (const char* name : {"photo", "progressive", "gray"}) {
    INFO(name);
    const std::string expected = kMediaFixtures + name + (std::string(name) == "gray" ? ".pgm" : ".ppm");
    ImageInfo info;
    MediaSource src = MediaSource::open_file(kMediaFixtures + name + ".jpg", "image");
    const RgbImage img = decode_image(src, &info);
    CHECK(info.format == "jpeg");
    CHECK(info.channels == (std::string(name) == "gray" ? 1 : 3));
    require_same_pixels(img, read_pnm(expected));
  }
}

TEST_CASE("CMYK JPEG: Adobe-inverted CMYK converted as PIL's convert('RGB')", "[unit]") {
  const RgbImage img = decode_image_file(kMediaFixtures + "cmyk.jpg");
  REQUIRE(img.width == 16);
  REQUIRE(img.height == 8);
  CHECK(read_image_info(kMediaFixtures + "cmyk.jpg").channels == 4);
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 16; ++x) {
      const uint8_t* p = img.pixels.data() + (y * 16 + x) * 3;
      INFO("pixel " << x << "," << y);
      CHECK(std::vector<uint8_t>(p, p + 3) == (x < 8 ? std::vector<uint8_t>{200, 100, 0} : std::vector<uint8_t>{30, 90, 125}));
    }
}

TEST_CASE("PNG pixels: palette (interlaced, tRNS) as pngtopnm, 16-bit and low bit depths as PIL", "[unit]") {
  ImageInfo info;
  MediaSource src = MediaSource::open_file(kMediaFixtures + "palette.png", "image");
  require_same_pixels(decode_image(src, &info), read_pnm(kMediaFixtures + "palette.ppm"));
  CHECK(info.channels == 4);  // palette with transparency

  const RgbImage g16 = decode_image_file(kMediaFixtures + "gray16.png");
  CHECK(g16.pixels == flat_rgb({{0, 0, 0}, {1, 1, 1}, {255, 255, 255}, {255, 255, 255}, {255, 255, 255}, {255, 255, 255}}));
  CHECK(decode_image_file(kMediaFixtures + "rgba16.png").pixels == flat_rgb({{0x12, 0xAB, 0x00}, {0xFF, 0x01, 0x7F}}));
  CHECK(decode_image_file(kMediaFixtures + "gray2.png").pixels ==
        flat_rgb({{0, 0, 0}, {85, 85, 85}, {170, 170, 170}, {255, 255, 255}}));
  CHECK(read_image_info(kMediaFixtures + "rgba16.png").channels == 4);
  CHECK(read_image_info(kMediaFixtures + "gray16.png").channels == 1);
}

TEST_CASE("bytes in memory decode as the file does, and name the source in errors", "[unit]") {
  for (const char* name : {"photo.jpg", "palette.png"}) {
    INFO(name);
    const std::string bytes = g4u::test::read_file(kMediaFixtures + name);
    MediaSource mem = MediaSource::from_bytes(bytes, "inline");
    CHECK(decode_image(mem).pixels == decode_image_file(kMediaFixtures + name).pixels);
    MediaSource head = MediaSource::from_bytes(bytes, "inline");
    const ImageInfo info = read_image_info(head);
    CHECK(info.width == read_image_info(kMediaFixtures + name).width);
  }
  MediaSource signature_only = MediaSource::from_bytes("\x89PNG\r\n\x1a\n", "manifest.jsonl:3: field 'images[0]'");
  CHECK(g4u::test::input_error([&] { decode_image(signature_only); }) ==
        "manifest.jsonl:3: field 'images[0]': cannot read the png header (the file is truncated)");
}

namespace {

// A 24-bit BMP of 2x2 pixels, rows stored bottom-up (height 2) or top-down (height -2).
std::string bmp_2x2(bool top_down) {
  const uint8_t top[8] = {0, 0, 255, 0, 255, 0, 0, 0};     // red, green (BGR) + 2 pad bytes
  const uint8_t bottom[8] = {255, 0, 0, 255, 255, 255, 0, 0};  // blue, white
  std::string b = "BM";
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b += static_cast<char>((v >> (8 * i)) & 0xFF); };
  auto u16 = [&](uint16_t v) { b += static_cast<char>(v & 0xFF); b += static_cast<char>(v >> 8); };
  u32(54 + 16); u32(0); u32(54);                                 // file header
  u32(40); u32(2); u32(top_down ? uint32_t(-2) : 2u); u16(1); u16(24);  // info header
  u32(0); u32(16); u32(2835); u32(2835); u32(0); u32(0);
  for (const uint8_t* row : top_down ? std::vector<const uint8_t*>{top, bottom} : std::vector<const uint8_t*>{bottom, top})
    b.append(reinterpret_cast<const char*>(row), 8);
  return b;
}

}  // namespace

TEST_CASE("BMP: a top-down file (negative height) decodes to the same pixels as the bottom-up one", "[unit]") {
  const std::vector<uint8_t> want = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};  // RGB, top row first
  for (bool top_down : {false, true}) {
    INFO("top_down " << top_down);
    const std::string bytes = bmp_2x2(top_down);  // from_bytes reads it in place
    MediaSource src = MediaSource::from_bytes(bytes, "inline.bmp");
    const RgbImage img = decode_image(src);
    CHECK(img.width == 2);
    CHECK(img.height == 2);
    CHECK(img.pixels == want);
  }
}
