// Pre-processing latency: one 1000x1000 image at each soft-token budget (decoded pixels -> padded
// patches, both resize kernels; and from a PNG file, decode included) and 10 s of 44.1 kHz audio
// (samples in memory -> 16 kHz frames; and from a stereo WAV file).
#include "model/multimodal/audio.h"
#include "model/multimodal/image.h"

#include <benchmark/benchmark.h>
#include <sndfile.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

namespace {

using namespace g4u::model;

std::vector<uint8_t> test_image(int64_t h, int64_t w) {
  std::vector<uint8_t> px(h * w * 3);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < 3; ++c)
        px[(y * w + x) * 3 + c] = static_cast<uint8_t>((x * (c + 1) + y * 7 + ((x * y) >> 5)) & 0xFF);
  return px;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("g4u_media_bench_" + std::to_string(::getpid()) + name)).string();
}

// Removes the generated input files at exit.
struct TempFiles {
  ~TempFiles() {
    std::error_code ec;
    std::filesystem::remove(temp_path("image.png"), ec);
    std::filesystem::remove(temp_path("audio.wav"), ec);
  }
} temp_files;

void BM_ImagePixels(benchmark::State& st) {
  static const auto img = test_image(1000, 1000);
  ImageOptions o;
  o.budget = st.range(0);
  o.kernel = st.range(1) ? ResizeKernel::kFloat : ResizeKernel::kUint8;
  for (auto _ : st) benchmark::DoNotOptimize(preprocess_image(img.data(), 1000, 1000, o).pixels);
  st.SetLabel(resize_kernel_name(o.kernel));
}
BENCHMARK(BM_ImagePixels)
    ->ArgsProduct({{70, 140, 280, 560, 1120}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

void BM_ImagePngFile(benchmark::State& st) {
  static const std::string path = [] {
    const std::string p = temp_path("image.png");
    const auto img = test_image(1000, 1000);
    stbi_write_png(p.c_str(), 1000, 1000, 3, img.data(), 3000);
    return p;
  }();
  ImageOptions o;
  o.budget = st.range(0);
  for (auto _ : st) benchmark::DoNotOptimize(preprocess_image_file(path, o).pixels);
}
BENCHMARK(BM_ImagePngFile)->Arg(70)->Arg(280)->Arg(1120)->Unit(benchmark::kMillisecond);

std::vector<float> tone(int64_t n, int channels) {
  std::vector<float> x(n * channels);
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < channels; ++c)
      x[i * channels + c] = static_cast<float>(0.3 * std::sin(0.0623 * (c + 1) * static_cast<double>(i)));
  return x;
}

void BM_Audio10sSamples(benchmark::State& st) {
  static const auto x = tone(441000, 1);
  for (auto _ : st) benchmark::DoNotOptimize(preprocess_audio(x.data(), 441000, 44100, AudioOptions{}).frames);
}
BENCHMARK(BM_Audio10sSamples)->Unit(benchmark::kMillisecond);

void BM_Audio10sWavFile(benchmark::State& st) {
  static const std::string path = [] {
    const std::string p = temp_path("audio.wav");
    SF_INFO info{};
    info.samplerate = 44100;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
    const auto x = tone(441000, 2);
    sf_writef_float(f, x.data(), 441000);
    sf_close(f);
    return p;
  }();
  for (auto _ : st) benchmark::DoNotOptimize(preprocess_audio_file(path, AudioOptions{}).frames);
}
BENCHMARK(BM_Audio10sWavFile)->Unit(benchmark::kMillisecond);

}  // namespace
