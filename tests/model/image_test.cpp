// Image pre-processing: sizing rule, patch layout, decoding, bad files, `g4u inspect --image`.
#include "cli_runner.h"
#include "test_util.h"
#include "base/error.h"
#include "model/multimodal/image.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <stb/stb_image_write.h>

#include <random>

using namespace g4u::model;
using g4u::test::ScratchDir;

namespace {

struct SizeCase {
  int64_t h, w, budget, th, tw;
};

// Writes an RGB PNG whose pixels follow `f(y, x, ch)`.
template <typename F>
void write_png(const std::string& path, int h, int w, F f) {
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) px[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(f(y, x, c));
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3) != 0);
}

std::vector<uint8_t> random_pixels(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<uint8_t>(rng() & 0xFF);
  return v;
}

// A 1x1 GIF with two frames: the first is palette entry 0 (red), the second entry 1 (blue).
// LZW with minimum code size 2: clear = 4, end = 5, 3-bit codes packed LSB first:
// (4, 0, 5) -> 0x44 0x01 and (4, 1, 5) -> 0x4C 0x01.
std::vector<uint8_t> two_frame_gif() {
  return {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,  // screen 1x1, 2-entry palette
          0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF,                       // red, blue
          0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0,    // frame 1: index 0
          0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0,    // frame 2: index 1
          0x3B};
}

void require_input_error_naming(const std::string& path, const std::string& what) {
  INFO(what);
  g4u::test::expect_input_error([&] { decode_image_file(path); }, path);
}

}  // namespace

TEST_CASE("image_target_size: the worked examples of the architecture doc", "[unit]") {
  // §3.2: budget 280 -> A = 280 * 9 * 256 = 645120 px. 1000x1000: f = sqrt(0.64512) = 0.80319,
  // 803.19 / 48 = 16.73 -> 16 * 48 = 768.
  CHECK(image_target_size(1000, 1000, 280, 16, 3) == ImageSize{768, 768});
  CHECK(image_target_size(768, 1024, 280, 16, 3) == ImageSize{672, 912});
  CHECK(image_target_size(1080, 1920, 280, 16, 3) == ImageSize{576, 1056});
  // Budget 1120: f = sqrt(2580480 / 1e6) = 1.60639 -> 1606.39 / 48 = 33.47 -> 1584.
  CHECK(image_target_size(1000, 1000, 1120, 16, 3) == ImageSize{1584, 1584});
  // Budget 70: f = sqrt(161280 / 1e6) = 0.40160 -> 401.6 / 48 = 8.37 -> 384.
  CHECK(image_target_size(1000, 1000, 70, 16, 3) == ImageSize{384, 384});
}

TEST_CASE("image_target_size: all five budgets on several aspect ratios", "[unit]") {
  // Expected sizes worked out from the rule (float64, as the Python reference computes them).
  // Examples of the arithmetic:
  //  * 4000x300 @ 70: A = 161280, f = sqrt(161280 / 1.2e6) = 0.36661; 1466.4 / 48 = 30.55 -> 1440;
  //    109.98 / 48 = 2.29 -> 96.
  //  * 1x100000 @ 280 (only H' is 0): f = 2.5399, H: 2.54 / 48 -> 0 -> 48; W' = min(floor(100000/1) * 48,
  //    280 * 48) = 13440. Symmetric for 100000x1.
  //  * 3000x7 @ 280 (only W' is 0): f = 5.5426, W: 38.8 / 48 -> 0 -> 48; H' = min(428 * 48, 13440) = 13440.
  //    At 1120 the width survives: f = 11.085, 77.6 / 48 -> 1 -> 48, H: 33255 / 48 -> 692 -> 33216.
  //  * 20x5000 @ 1120: f = 5.0797, H: 101.6 / 48 -> 2 -> 96, W: 25398 / 48 -> 529 -> 25392.
  //  * 10x10 is upscaled to the same size as 1000x1000 (the rule only depends on the aspect ratio).
  //  * 768x768 @ 280 stays 768x768 (f = 1.0458, 16.73 -> 16): no resize.
  const SizeCase cases[] = {
      {1000, 1000, 70, 384, 384},    {768, 1024, 70, 336, 432},     {1080, 1920, 70, 288, 528},
      {1920, 1080, 70, 528, 288},    {500, 2000, 70, 192, 768},     {4000, 300, 70, 1440, 96},
      {10, 10, 70, 384, 384},        {1, 100000, 70, 48, 3360},     {100000, 1, 70, 3360, 48},
      {3000, 7, 70, 3360, 48},       {333, 777, 70, 240, 576},      {1000, 1000, 140, 528, 528},
      {768, 1024, 140, 480, 624},    {1080, 1920, 140, 384, 720},   {500, 2000, 140, 240, 1104},
      {4000, 300, 140, 2064, 144},   {1, 100000, 140, 48, 6720},    {3000, 7, 140, 6720, 48},
      {333, 777, 140, 336, 864},     {1000, 1000, 280, 768, 768},   {768, 1024, 280, 672, 912},
      {1080, 1920, 280, 576, 1056},  {1920, 1080, 280, 1056, 576},  {500, 2000, 280, 384, 1584},
      {4000, 300, 280, 2928, 192},   {10, 10, 280, 768, 768},       {1, 100000, 280, 48, 13440},
      {100000, 1, 280, 13440, 48},   {20, 5000, 280, 48, 12672},    {3000, 7, 280, 13440, 48},
      {768, 768, 280, 768, 768},     {333, 777, 280, 480, 1200},    {1000, 1000, 560, 1104, 1104},
      {768, 1024, 560, 960, 1296},   {1080, 1920, 560, 816, 1488},  {500, 2000, 560, 528, 2256},
      {4000, 300, 560, 4128, 288},   {1, 100000, 560, 48, 26880},   {20, 5000, 560, 48, 17952},
      {3000, 7, 560, 23472, 48},     {333, 777, 560, 720, 1728},    {1000, 1000, 1120, 1584, 1584},
      {768, 1024, 1120, 1344, 1824}, {1080, 1920, 1120, 1200, 2112}, {1920, 1080, 1120, 2112, 1200},
      {500, 2000, 1120, 768, 3168},  {4000, 300, 1120, 5856, 432},  {1, 100000, 1120, 48, 53760},
      {100000, 1, 1120, 53760, 48},  {20, 5000, 1120, 96, 25392},   {3000, 7, 1120, 33216, 48},
      {333, 777, 1120, 1008, 2448},
  };
  for (const auto& c : cases) {
    INFO(c.h << "x" << c.w << " @ " << c.budget);
    const ImageSize t = image_target_size(c.h, c.w, c.budget, 16, 3);
    CHECK(t == ImageSize{c.th, c.tw});
    CHECK(t.height % 48 == 0);
    CHECK(t.width % 48 == 0);
    CHECK((t.height / 48) * (t.width / 48) <= c.budget);
  }
}

TEST_CASE("image_target_size: other patch geometries (tiny and small presets)", "[unit]") {
  // tiny: patch 4, kernel 2 -> side 8, budget 16 -> A = 16 * 4 * 16 = 1024 px.
  // 100x100: f = 0.32 -> 32 / 8 = 4 -> 32x32.
  CHECK(image_target_size(100, 100, 16, 4, 2) == ImageSize{32, 32});
  // 37x200: f = sqrt(1024 / 7400) = 0.37199 -> H 13.76 / 8 -> 1 -> 8, W 74.4 / 8 -> 9 -> 72.
  CHECK(image_target_size(37, 200, 16, 4, 2) == ImageSize{8, 72});
  // 1x1000: H rounds to 0 -> 8, W' = min(1000 * 8, 16 * 8) = 128.
  CHECK(image_target_size(1, 1000, 16, 4, 2) == ImageSize{8, 128});
  // small: patch 8, kernel 2 -> side 16, budget 64 -> A = 16384. 480x640: f = 0.23094 -> 110.85 / 16
  // -> 6 -> 96, 147.8 / 16 -> 9 -> 144.
  CHECK(image_target_size(480, 640, 64, 8, 2) == ImageSize{96, 144});
  CHECK(image_target_size(1000, 1000, 64, 8, 2) == ImageSize{128, 128});
  const ModelConfig tiny = *model_preset("tiny");
  const ImageOptions o = image_options(*tiny.vision);
  CHECK(o.model_patch() == 8);
  CHECK(o.budget == 16);
  CHECK(o.patch_dim() == 8 * 8 * 3);
}

TEST_CASE("image_target_size and options: bad input", "[unit]") {
  CHECK_THROWS_AS(image_target_size(0, 10, 280, 16, 3), g4u::InputError);
  CHECK_THROWS_AS(image_target_size(10, 0, 280, 16, 3), g4u::InputError);
  CHECK_THROWS_AS(image_target_size(10, 10, 0, 16, 3), g4u::InputError);
  ImageOptions o;
  o.budget = 1121;  // grid sides could exceed the 1120-row position table
  CHECK_THROWS_AS(check_image_options(o, "x"), g4u::InputError);
  o.budget = 0;
  CHECK_THROWS_AS(check_image_options(o, "x"), g4u::InputError);
  CHECK(is_supported_image_budget(280));
  CHECK_FALSE(is_supported_image_budget(281));
  CHECK_THROWS_WITH(resize_kernel_from_name("nearest", "--resize"),
                    Catch::Contains("nearest") && Catch::Contains("uint8") && Catch::Contains("float"));
}

TEST_CASE("preprocess_image: patch order, HWC inside a patch, positions, padding", "[unit]") {
  // Teacher patch 2, kernel 2 -> model patch P = 4; budget 8 -> A = 8 * 4 * 4 = 128 px. An 8x12
  // image: f = sqrt(128 / 96) = 1.1547, H 9.24 / 4 -> 2 -> 8, W 13.86 / 4 -> 3 -> 12: no resize, a 2x3
  // grid, 6 tokens and 2 padding rows. Each pixel encodes its coordinates.
  auto value = [](int64_t y, int64_t x, int64_t ch) -> uint8_t {
    return static_cast<uint8_t>(ch == 0 ? 16 * y + 1 : ch == 1 ? 16 * x + 2 : 255 - (12 * y + x));
  };
  const int64_t H = 8, W = 12, P = 4;
  std::vector<uint8_t> img(H * W * 3);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < 3; ++c) img[(y * W + x) * 3 + c] = value(y, x, c);
  ImageOptions o;
  o.patch_size = 2;
  o.pooling_kernel_size = 2;
  o.budget = 8;
  for (ResizeKernel k : {ResizeKernel::kUint8, ResizeKernel::kFloat}) {
    o.kernel = k;
    const ImagePatches p = preprocess_image(img.data(), H, W, o);
    CHECK(p.height == 8);
    CHECK(p.width == 12);
    CHECK(p.grid_h == 2);
    CHECK(p.grid_w == 3);
    CHECK(p.num_soft_tokens == 6);
    REQUIRE(p.pixels.sizes() == torch::IntArrayRef({8, P * P * 3}));
    REQUIRE(p.positions.sizes() == torch::IntArrayRef({8, 2}));
    CHECK(p.pixels.scalar_type() == torch::kFloat32);
    CHECK(p.positions.scalar_type() == torch::kInt64);
    auto px = p.pixels.accessor<float, 2>();
    auto pos = p.positions.accessor<int64_t, 2>();
    const float scale = static_cast<float>(1.0 / 255.0);
    for (int64_t pr = 0; pr < 2; ++pr) {
      for (int64_t pc = 0; pc < 3; ++pc) {
        const int64_t i = pr * 3 + pc;  // row-major over the grid
        CHECK(pos[i][0] == pc);         // x = column
        CHECK(pos[i][1] == pr);         // y = row
        for (int64_t r = 0; r < P; ++r)
          for (int64_t c = 0; c < P; ++c)
            for (int64_t ch = 0; ch < 3; ++ch) {
              const float want = static_cast<float>(value(pr * P + r, pc * P + c, ch)) * scale;
              REQUIRE(px[i][(r * P + c) * 3 + ch] == want);
            }
      }
    }
    for (int64_t i = 6; i < 8; ++i) {
      CHECK(pos[i][0] == -1);
      CHECK(pos[i][1] == -1);
      CHECK(p.pixels[i].abs().sum().item<float>() == 0.0f);
    }
  }
}

TEST_CASE("preprocess_image: released geometry, 768x768 at budget 280 is not resized", "[unit]") {
  const int64_t H = 768, W = 768, P = 48;
  auto value = [](int64_t y, int64_t x, int64_t ch) -> uint8_t {
    return static_cast<uint8_t>(ch == 0 ? y % 256 : ch == 1 ? x % 256 : 16 * (y / 256) + x / 256);
  };
  std::vector<uint8_t> img(H * W * 3);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < 3; ++c) img[(y * W + x) * 3 + c] = value(y, x, c);
  const ImagePatches p = preprocess_image(img.data(), H, W, image_options(*model_preset("gemma4-12b")->vision));
  CHECK(p.budget == 280);
  CHECK(p.height == 768);
  CHECK(p.width == 768);
  CHECK(p.num_soft_tokens == 256);
  REQUIRE(p.pixels.sizes() == torch::IntArrayRef({280, 6912}));
  auto px = p.pixels.accessor<float, 2>();
  auto pos = p.positions.accessor<int64_t, 2>();
  const float scale = static_cast<float>(1.0 / 255.0);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < 256; ++i) {
    const int64_t pr = i / 16, pc = i % 16;
    mismatches += pos[i][0] != pc || pos[i][1] != pr;
    for (int64_t r = 0; r < P; ++r)
      for (int64_t c = 0; c < P; ++c)
        for (int64_t ch = 0; ch < 3; ++ch)
          mismatches += px[i][(r * P + c) * 3 + ch] != static_cast<float>(value(pr * P + r, pc * P + c, ch)) * scale;
  }
  CHECK(mismatches == 0);
  CHECK((p.positions.slice(0, 0, 256) >= 0).all().item<bool>());
  CHECK((p.positions.slice(0, 0, 256).max().item<int64_t>() == 15));
  CHECK((p.positions.slice(0, 256, 280) == -1).all().item<bool>());
  CHECK(p.pixels.slice(0, 256, 280).abs().sum().item<float>() == 0.0f);
  // Rescale is a multiplication by float(1/255): 255 -> exactly 1, and values stay in [0, 1].
  CHECK(static_cast<float>(255) * scale == 1.0f);
  CHECK(p.pixels.max().item<float>() == 1.0f);
}

TEST_CASE("preprocess_image: a resized image keeps flat colour and the patch count", "[unit]") {
  // A flat image stays flat through the antialiased bicubic (weights sum to 1).
  const int64_t H = 300, W = 500;
  std::vector<uint8_t> img(H * W * 3);
  for (int64_t i = 0; i < H * W; ++i) {
    img[i * 3 + 0] = 200;
    img[i * 3 + 1] = 17;
    img[i * 3 + 2] = 0;
  }
  for (ResizeKernel k : {ResizeKernel::kUint8, ResizeKernel::kFloat}) {
    ImageOptions o;
    o.budget = 70;
    o.kernel = k;
    const ImagePatches p = preprocess_image(img.data(), H, W, o);
    // 300x500 @ 70: f = sqrt(161280 / 150000) = 1.0369 -> 311.1 / 48 -> 6 -> 288, 518.5 / 48 -> 10 -> 480.
    CHECK(p.height == 288);
    CHECK(p.width == 480);
    CHECK(p.num_soft_tokens == 60);
    auto v = p.pixels.slice(0, 0, 60).view({60, 48 * 48, 3});
    const float s = static_cast<float>(1.0 / 255.0);
    CHECK((v.select(2, 0) == 200.0f * s).all().item<bool>());
    CHECK((v.select(2, 1) == 17.0f * s).all().item<bool>());
    CHECK((v.select(2, 2) == 0.0f).all().item<bool>());
  }
}

TEST_CASE("decode_image_file: PNG, BMP, JPEG, GIF to RGB like PIL's convert('RGB')", "[unit]") {
  ScratchDir dir("image_decode");
  const int w = 5, h = 3;
  // RGB PNG round-trips exactly.
  const auto rgb = random_pixels(w * h * 3, 1);
  const std::string png = dir.file("rgb.png");
  REQUIRE(stbi_write_png(png.c_str(), w, h, 3, rgb.data(), w * 3));
  RgbImage img = decode_image_file(png);
  CHECK(img.height == h);
  CHECK(img.width == w);
  CHECK(img.pixels == rgb);
  const ImageFileInfo info = read_image_info(png);
  CHECK(info.format == "png");
  CHECK(info.channels == 3);

  // Grey -> replicated; grey + alpha and RGBA -> alpha dropped, not composited on any background.
  const auto grey = random_pixels(w * h, 2);
  REQUIRE(stbi_write_png(dir.file("grey.png").c_str(), w, h, 1, grey.data(), w));
  img = decode_image_file(dir.file("grey.png"));
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) REQUIRE(img.pixels[i * 3 + c] == grey[i]);
  std::vector<uint8_t> ga(w * h * 2);
  for (int i = 0; i < w * h; ++i) {
    ga[i * 2] = grey[i];
    ga[i * 2 + 1] = static_cast<uint8_t>(i * 17);  // includes alpha 0
  }
  REQUIRE(stbi_write_png(dir.file("ga.png").c_str(), w, h, 2, ga.data(), w * 2));
  img = decode_image_file(dir.file("ga.png"));
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) REQUIRE(img.pixels[i * 3 + c] == grey[i]);
  auto rgba = random_pixels(w * h * 4, 3);
  for (int i = 0; i < w * h; ++i) rgba[i * 4 + 3] = static_cast<uint8_t>(i % 3 == 0 ? 0 : rgba[i * 4 + 3]);
  REQUIRE(stbi_write_png(dir.file("rgba.png").c_str(), w, h, 4, rgba.data(), w * 4));
  img = decode_image_file(dir.file("rgba.png"));
  CHECK(read_image_info(dir.file("rgba.png")).channels == 4);
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) REQUIRE(img.pixels[i * 3 + c] == rgba[i * 4 + c]);

  // BMP (24-bit) round-trips exactly.
  REQUIRE(stbi_write_bmp(dir.file("rgb.bmp").c_str(), w, h, 3, rgb.data()));
  img = decode_image_file(dir.file("rgb.bmp"));
  CHECK(read_image_info(dir.file("rgb.bmp")).format == "bmp");
  CHECK(img.pixels == rgb);

  // JPEG is lossy: a flat colour comes back within a few levels.
  std::vector<uint8_t> flat(16 * 16 * 3);
  for (int i = 0; i < 16 * 16; ++i) {
    flat[i * 3] = 200;
    flat[i * 3 + 1] = 100;
    flat[i * 3 + 2] = 50;
  }
  REQUIRE(stbi_write_jpg(dir.file("flat.jpg").c_str(), 16, 16, 3, flat.data(), 100));
  img = decode_image_file(dir.file("flat.jpg"));
  CHECK(read_image_info(dir.file("flat.jpg")).format == "jpeg");
  REQUIRE(img.pixels.size() == flat.size());
  for (size_t i = 0; i < flat.size(); ++i) REQUIRE(std::abs(int(img.pixels[i]) - int(flat[i])) <= 3);

  // GIF: the first frame, palette expanded.
  g4u::test::write_file(dir.file("two.gif"), two_frame_gif());
  img = decode_image_file(dir.file("two.gif"));
  CHECK(read_image_info(dir.file("two.gif")).format == "gif");
  REQUIRE(img.pixels.size() == 3);
  CHECK(img.pixels == std::vector<uint8_t>{255, 0, 0});
}

TEST_CASE("decode_image_file: bad files are InputErrors naming the file", "[unit]") {
  ScratchDir dir("image_bad");
  g4u::test::check_unreadable_media_rejected(dir, "png", [](const std::string& p) { decode_image_file(p); });

  // Formats stb could decode but the image path does not accept.
  const auto rgb = random_pixels(8 * 8 * 3, 5);
  REQUIRE(stbi_write_tga(dir.file("x.tga").c_str(), 8, 8, 3, rgb.data()));
  require_input_error_naming(dir.file("x.tga"), "TGA");
  REQUIRE(stbi_write_hdr(dir.file("x.hdr").c_str(), 1, 1, 3, std::vector<float>{1, 2, 3}.data()));
  require_input_error_naming(dir.file("x.hdr"), "HDR");

  // Truncated files of every format (random pixels do not compress, so the data is long).
  const auto big = random_pixels(64 * 64 * 3, 6);
  REQUIRE(stbi_write_png(dir.file("big.png").c_str(), 64, 64, 3, big.data(), 64 * 3));
  REQUIRE(stbi_write_bmp(dir.file("big.bmp").c_str(), 64, 64, 3, big.data()));
  REQUIRE(stbi_write_jpg(dir.file("big.jpg").c_str(), 64, 64, 3, big.data(), 90));
  for (const char* name : {"big.png", "big.bmp", "big.jpg"}) {
    REQUIRE_NOTHROW(decode_image_file(dir.file(name)));
    auto bytes = g4u::test::read_bytes(dir.file(name));
    for (double frac : {0.5, 0.9}) {
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<int64_t>(bytes.size() * frac));
      const std::string p = dir.file(std::string("cut_") + std::to_string(int(frac * 10)) + "_" + name);
      g4u::test::write_file(p, cut);
      require_input_error_naming(p, std::string("truncated ") + name);
    }
    std::vector<uint8_t> last(bytes.begin(), bytes.end() - 1);
    g4u::test::write_file(dir.file(std::string("minus1_") + name), last);
    require_input_error_naming(dir.file(std::string("minus1_") + name), std::string("one byte short ") + name);
  }
  auto gif = two_frame_gif();
  for (size_t n : {size_t(10), size_t(22), size_t(31)}) {  // header, inside descriptor, inside the LZW data
    g4u::test::write_file(dir.file("cut.gif"), std::vector<uint8_t>(gif.begin(), gif.begin() + n));
    require_input_error_naming(dir.file("cut.gif"), "truncated GIF at " + std::to_string(n));
  }

  // Zero-size and absurd sizes in a PNG header (IHDR width at byte 16, height at byte 20; the
  // declared size is checked before the decoder reads the header, so the stale CRC is not reached).
  REQUIRE(stbi_write_png(dir.file("one.png").c_str(), 1, 1, 3, rgb.data(), 3));
  auto one = g4u::test::read_bytes(dir.file("one.png"));
  auto patch_size = [&](uint32_t w, uint32_t h, const std::string& name) {
    auto b = one;
    for (int i = 0; i < 4; ++i) {
      b[16 + i] = static_cast<uint8_t>(w >> (24 - 8 * i));
      b[20 + i] = static_cast<uint8_t>(h >> (24 - 8 * i));
    }
    g4u::test::write_file(dir.file(name), b);
    return dir.file(name);
  };
  const std::string zero = patch_size(0, 1, "zero.png");
  CHECK_THROWS_WITH(read_image_info(zero), Catch::Contains(zero) && Catch::Contains("zero-size"));
  require_input_error_naming(zero, "zero width");
  const std::string huge = patch_size(17000, 17000, "huge.png");
  CHECK_THROWS_WITH(read_image_info(huge), Catch::Contains(huge) && Catch::Contains("too large"));
  require_input_error_naming(huge, "17000x17000");
  const std::string wide = patch_size(70000, 1, "wide.png");
  CHECK_THROWS_WITH(read_image_info(wide), Catch::Contains(wide) && Catch::Contains("too large"));
  // 60000x60000 (3.6e9 pixels) is refused from the header, before any decoder allocates for it.
  const std::string vast = patch_size(60000, 60000, "vast.png");
  CHECK_THROWS_WITH(read_image_info(vast), Catch::Contains(vast) && Catch::Contains("at most 65536 per side and 178956970 pixels"));
  require_input_error_naming(vast, "60000x60000");
  // PIL's limit exactly: 178956970 pixels pass the header check, one more does not.
  // (at the limit the size check passes and the stale CRC is what stops the header read)
  CHECK_THROWS_WITH(read_image_info(patch_size(3277, 54610, "at_limit.png")),  // 3277 x 54610 = 178956970
                    Catch::Contains("CRC") && !Catch::Contains("too large"));
  CHECK_THROWS_WITH(read_image_info(patch_size(3278, 54610, "past_limit.png")), Catch::Contains("too large"));
  // 13000x13000 is within the pixel limit, but as 16-bit RGBA it is 1.35 GB of samples (8 bytes a pixel).
  auto deep = g4u::test::read_bytes(patch_size(13000, 13000, "deep.png"));
  deep[24] = 16;  // bit depth
  deep[25] = 6;   // colour type RGBA
  g4u::test::write_file(dir.file("deep.png"), deep);
  CHECK_THROWS_WITH(read_image_info(dir.file("deep.png")),
                    Catch::Contains(dir.file("deep.png")) && Catch::Contains("13000x13000 pixels of 4 channels of 2 bytes: "
                                                                             "1352000000 bytes decoded; at most 1073741824"));
  // Within every limit, but the file holds one pixel of the 1.69e8 its header promises: refused at
  // the first missing row, without filling 507 MB first.
  require_input_error_naming(patch_size(13000, 13000, "empty_rows.png"), "13000x13000 header, 1x1 data");
  // A header that promises pixels the file does not hold.
  const std::string liar = patch_size(4, 4, "liar.png");
  require_input_error_naming(liar, "1x1 data with a 4x4 header");
  // One flipped bit in the compressed pixel data (the CRC no longer matches).
  auto flipped = g4u::test::read_bytes(dir.file("big.png"));
  flipped[flipped.size() / 2] ^= 0x10;
  g4u::test::write_file(dir.file("flipped.png"), flipped);
  CHECK_THROWS_WITH(decode_image_file(dir.file("flipped.png")), Catch::Contains("CRC"));

  // preprocess_image_file reports the same errors.
  CHECK_THROWS_AS(preprocess_image_file(dir.file("x.tga"), ImageOptions{}), g4u::InputError);
}

TEST_CASE("preprocess_image_file: decode, resize and patchify a PNG", "[unit]") {
  ScratchDir dir("image_file");
  const std::string png = dir.file("grad.png");
  write_png(png, 100, 150, [](int y, int x, int c) { return c == 0 ? y * 2 : c == 1 ? x : 128; });
  ImageOptions o;
  o.budget = 70;
  const ImagePatches p = preprocess_image_file(png, o);
  // 100x150 @ 70: f = sqrt(161280 / 15000) = 3.2790 -> 327.9 / 48 -> 6 -> 288, 491.9 / 48 -> 10 -> 480.
  CHECK(p.source_height == 100);
  CHECK(p.source_width == 150);
  CHECK(p.height == 288);
  CHECK(p.width == 480);
  CHECK(p.num_soft_tokens == 60);
  const ImagePlan plan = plan_image_file(png, o);
  CHECK(plan.target == ImageSize{288, 480});
  CHECK(plan.num_soft_tokens == 60);
  // Same as decoding first and preprocessing the pixels.
  const RgbImage img = decode_image_file(png);
  CHECK(torch::equal(preprocess_image(img, o).pixels, p.pixels));
  // The blue channel is flat 128 everywhere in the valid rows.
  auto v = p.pixels.slice(0, 0, 60).view({60, 48 * 48, 3});
  CHECK((v.select(2, 2) == 128.0f * static_cast<float>(1.0 / 255.0)).all().item<bool>());
}

TEST_CASE("g4u inspect --image", "[integration]") {
  ScratchDir dir("inspect_image");
  const std::string sq = dir.file("square.png"), wide = dir.file("wide.png");
  write_png(sq, 1000, 1000, [](int y, int x, int c) { return (x + y + c * 50) & 0xFF; });
  write_png(wide, 1080, 1920, [](int y, int x, int c) { return (x * 3 + y + c) & 0xFF; });

  auto r = g4u::test::run_g4u("inspect --image '" + sq + "' --budget 280 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["height"] == 768);
  CHECK(j["width"] == 768);
  CHECK(j["soft_tokens"] == 256);
  CHECK(j["grid_h"] == 16);
  CHECK(j["grid_w"] == 16);
  CHECK(j["original_height"] == 1000);
  CHECK(j["original_width"] == 1000);
  CHECK(j["budget"] == 280);
  CHECK(j["patch_size"] == 48);

  r = g4u::test::run_g4u("inspect --image '" + wide + "' --json");  // default budget 280
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["height"] == 576);
  CHECK(j["width"] == 1056);
  CHECK(j["soft_tokens"] == 264);
  CHECK(j["grid_h"] == 12);
  CHECK(j["grid_w"] == 22);

  r = g4u::test::run_g4u("inspect --image '" + sq + "' --budget 1120 --json");
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["height"] == 1584);
  CHECK(j["width"] == 1584);
  CHECK(j["soft_tokens"] == 1089);

  // --model takes the geometry from a preset: tiny has 8-px model patches and budget 16.
  r = g4u::test::run_g4u("inspect --image '" + sq + "' --model tiny --json");
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["patch_size"] == 8);
  CHECK(j["budget"] == 16);
  CHECK(j["height"] == 32);
  CHECK(j["soft_tokens"] == 16);

  // Bad input: exit code 2, the file named on stderr.
  g4u::test::write_file(dir.file("bad.png"), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0});
  r = g4u::test::run_g4u("inspect --image '" + dir.file("bad.png") + "' --json");
  CHECK(r.code == 2);
  CHECK(r.err.find(dir.file("bad.png")) != std::string::npos);
  r = g4u::test::run_g4u("inspect --image '" + dir.file("nope.png") + "' --json");
  CHECK(r.code == 2);
  CHECK(r.err.find("nope.png") != std::string::npos);
  r = g4u::test::run_g4u("inspect --image '" + sq + "' --budget 0 --json");
  CHECK(r.code == 2);
}
