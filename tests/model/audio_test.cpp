// Audio pre-processing: framing, resampling, downmix, file formats, bad files, `g4u inspect --audio`.
#include "cli_runner.h"
#include "test_util.h"
#include "model/multimodal/audio.h"
#include "base/error.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sndfile.h>

#include <cmath>
#include <limits>

using namespace g4u::model;
using g4u::test::ScratchDir;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Writes interleaved float samples with libsndfile; `format` e.g. SF_FORMAT_WAV | SF_FORMAT_FLOAT.
void write_audio(const std::string& path, const std::vector<float>& interleaved, int channels, int rate,
                 int format) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  REQUIRE(sf_format_check(&info));
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  const sf_count_t frames = static_cast<sf_count_t>(interleaved.size() / channels);
  REQUIRE(sf_writef_float(f, interleaved.data(), frames) == frames);
  sf_close(f);
}

std::vector<float> sine(int64_t n, double rate, double freq, double amp = 0.5) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(amp * std::sin(2 * kPi * freq * i / rate));
  return x;
}

// Least-squares fit of a*sin + b*cos at `freq` over x[lo, hi); returns the amplitude and the RMS
// of the residual.
std::pair<double, double> fit_tone(const float* x, int64_t lo, int64_t hi, double rate, double freq) {
  double ss = 0, cc = 0, sc = 0, xs = 0, xc = 0;
  for (int64_t i = lo; i < hi; ++i) {
    const double s = std::sin(2 * kPi * freq * i / rate), c = std::cos(2 * kPi * freq * i / rate);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    xs += x[i] * s;
    xc += x[i] * c;
  }
  const double det = ss * cc - sc * sc;
  const double a = (xs * cc - xc * sc) / det, b = (xc * ss - xs * sc) / det;
  double r2 = 0;
  for (int64_t i = lo; i < hi; ++i) {
    const double e = x[i] - a * std::sin(2 * kPi * freq * i / rate) - b * std::cos(2 * kPi * freq * i / rate);
    r2 += e * e;
  }
  return {std::sqrt(a * a + b * b), std::sqrt(r2 / static_cast<double>(hi - lo))};
}

void require_input_error_naming(const std::string& path, const std::string& what) {
  INFO(what);
  g4u::test::expect_input_error([&] { preprocess_audio_file(path, AudioOptions{}); }, path);
}

}  // namespace

TEST_CASE("audio frames: counts, zero-padded tail, frame lengths 320/640/1280", "[unit]") {
  CHECK(audio_frame_count(0, 640) == 0);
  CHECK(audio_frame_count(1, 640) == 1);
  CHECK(audio_frame_count(640, 640) == 1);
  CHECK(audio_frame_count(641, 640) == 2);
  CHECK(audio_frame_count(16000, 640) == 25);  // 1 s = 25 tokens
  CHECK(audio_frame_count(480000, 640) == 750);  // 30 s
  for (int64_t L : {320, 640, 1280}) {
    AudioOptions o;
    o.frame_length = L;
    for (int64_t n : {int64_t(1), L - 1, L, 3 * L, 3 * L + 1, 5 * L - 7}) {
      INFO("frame " << L << " samples " << n);
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((i % 1000) + 1) / 1024.0f;
      const AudioFrames a = preprocess_audio(x.data(), n, 16000, o);  // 16 kHz: no resampling
      const int64_t T = (n + L - 1) / L;
      REQUIRE(a.frames.sizes() == torch::IntArrayRef({T, L}));
      CHECK(a.num_frames() == T);
      CHECK(a.num_samples == n);
      CHECK(a.duration_s == Approx(static_cast<double>(n) / 16000));
      const float* f = a.frames.data_ptr<float>();
      for (int64_t i = 0; i < T * L; ++i) REQUIRE(f[i] == (i < n ? x[i] : 0.0f));
    }
  }
}

TEST_CASE("audio options from the model configs", "[unit]") {
  const AudioOptions real = audio_options(*model_preset("gemma4-12b")->audio);
  CHECK(real.frame_length == 640);
  CHECK(real.sample_rate == 16000);
  CHECK(real.max_frames == 750);
  CHECK(audio_options(*model_preset("tiny")->audio).frame_length == 160);
  AudioOptions bad;
  bad.frame_length = 0;
  CHECK_THROWS_AS(check_audio_options(bad, "x"), g4u::InputError);
}

TEST_CASE("resampling to 16 kHz keeps frequency, amplitude and duration", "[unit]") {
  struct Case {
    int rate;
    double freq;
  };
  for (const Case c : {Case{44100, 1000.0}, Case{8000, 440.0}, Case{48000, 3000.0}, Case{22050, 250.0}}) {
    INFO(c.rate << " Hz, tone " << c.freq);
    const int64_t n = c.rate;  // 1 s
    const auto x = sine(n, c.rate, c.freq);
    const auto y = resample_audio(x.data(), n, c.rate, 16000);
    REQUIRE(static_cast<int64_t>(y.size()) == 16000);
    // Away from the edges (filter transients) the output is the same tone at 16 kHz.
    const auto [amp, resid] = fit_tone(y.data(), 800, 15200, 16000, c.freq);
    CHECK(amp == Approx(0.5).epsilon(0.005));
    CHECK(resid < 2e-3);
    // ... and not a tone at a slightly different frequency (1% off fits badly).
    const auto [amp_off, resid_off] = fit_tone(y.data(), 800, 15200, 16000, c.freq * 1.01);
    CHECK(resid_off > 0.1);
    (void)amp_off;
  }
  // librosa's length rule: ceil(n * 16000 / rate), computed in float64.
  CHECK(resampled_length(44100, 44100, 16000) == 16000);
  CHECK(resampled_length(44101, 44100, 16000) == 16001);
  CHECK(resampled_length(1, 44100, 16000) == 1);
  CHECK(resampled_length(8000, 8000, 16000) == 16000);
  CHECK(resampled_length(123, 16000, 16000) == 123);
  const auto x = sine(44101, 44100, 500);
  CHECK(resample_audio(x.data(), 44101, 44100, 16000).size() == 16001);
  // A frequency above the new Nyquist (10 kHz at 44.1 kHz) is filtered out.
  const auto hi = sine(44100, 44100, 10000);
  const auto yh = resample_audio(hi.data(), 44100, 44100, 16000);
  double e = 0;
  for (int64_t i = 800; i < 15200; ++i) e += double(yh[i]) * yh[i];
  CHECK(std::sqrt(e / 14400) < 1e-3);
}

TEST_CASE("audio files: WAV/FLAC/OGG decode, stereo downmix, normalisation", "[unit]") {
  ScratchDir dir("audio_files");
  // Float WAV at 16 kHz, stereo: mono = (L + R) / 2 exactly, no resampling.
  const int64_t n = 1000;
  std::vector<float> st(n * 2);
  for (int64_t i = 0; i < n; ++i) {
    st[i * 2] = static_cast<float>(i) / 1000.0f;
    st[i * 2 + 1] = -0.25f + static_cast<float>(i % 7) / 8.0f;
  }
  write_audio(dir.file("st.wav"), st, 2, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const AudioFileInfo info = read_audio_info(dir.file("st.wav"));
  CHECK(info.channels == 2);
  CHECK(info.sample_rate == 16000);
  CHECK(info.num_samples == n);
  CHECK(info.format.find("WAV") != std::string::npos);
  const AudioFrames a = preprocess_audio_file(dir.file("st.wav"), AudioOptions{});
  CHECK(a.source_channels == 2);
  CHECK(a.source_sample_rate == 16000);
  CHECK(a.num_frames() == 2);  // ceil(1000 / 640)
  const float* f = a.frames.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) REQUIRE(f[i] == (st[i * 2] + st[i * 2 + 1]) / 2.0f);
  for (int64_t i = n; i < 1280; ++i) REQUIRE(f[i] == 0.0f);

  // Three channels: (a + b + c) / 3.
  std::vector<float> tri(300 * 3);
  for (int64_t i = 0; i < 300; ++i) {
    tri[i * 3] = 0.1f * static_cast<float>(i % 5);
    tri[i * 3 + 1] = -0.3f;
    tri[i * 3 + 2] = 0.01f * static_cast<float>(i % 11);
  }
  write_audio(dir.file("tri.wav"), tri, 3, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const auto mono = decode_audio_mono(dir.file("tri.wav"));
  REQUIRE(mono.size() == 300);
  for (int64_t i = 0; i < 300; ++i) REQUIRE(mono[i] == (tri[i * 3] + tri[i * 3 + 1] + tri[i * 3 + 2]) / 3.0f);

  // 16-bit PCM reads back as int / 32768.
  std::vector<float> pcm = {0.5f, -0.25f, 0.0f, 1000.0f / 32768.0f};
  write_audio(dir.file("pcm.wav"), pcm, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  CHECK(decode_audio_mono(dir.file("pcm.wav")) == pcm);

  // FLAC and OGG/Vorbis at 44.1 kHz: length after resampling and the tone survive.
  const auto tone = sine(44100 * 2, 44100, 440, 0.4);  // 2 s
  write_audio(dir.file("t.flac"), tone, 1, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  write_audio(dir.file("t.ogg"), tone, 1, 44100, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  for (const char* name : {"t.flac", "t.ogg"}) {
    INFO(name);
    const AudioFrames t = preprocess_audio_file(dir.file(name), AudioOptions{});
    CHECK(t.source_sample_rate == 44100);
    CHECK(t.source_samples == 88200);
    CHECK(t.duration_s == Approx(2.0));
    CHECK(t.num_samples == 32000);
    CHECK(t.num_frames() == 50);
    const auto [amp, resid] = fit_tone(t.frames.data_ptr<float>(), 1600, 30400, 16000, 440);
    CHECK(amp == Approx(0.4).epsilon(0.02));  // Vorbis is lossy
    CHECK(resid < 0.02);
  }
}

TEST_CASE("audio: the 30 s cap and the chunking helper", "[unit]") {
  ScratchDir dir("audio_cap");
  // Exactly 30 s at 16 kHz is 750 frames and accepted; 31 s is refused with the duration named.
  write_audio(dir.file("30s.wav"), std::vector<float>(480000, 0.01f), 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  CHECK(preprocess_audio_file(dir.file("30s.wav"), AudioOptions{}).num_frames() == 750);
  write_audio(dir.file("31s.wav"), std::vector<float>(31 * 8000, 0.01f), 1, 8000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  CHECK_THROWS_WITH(preprocess_audio_file(dir.file("31s.wav"), AudioOptions{}),
                    Catch::Contains(dir.file("31s.wav")) && Catch::Contains("31.00 s") && Catch::Contains("750"));
  std::vector<float> x(31 * 16000 + 5, 0.02f);
  CHECK_THROWS_AS(preprocess_audio(x.data(), static_cast<int64_t>(x.size()), 16000, AudioOptions{}), g4u::InputError);
  // The chunking helper cuts 31 s (8 kHz -> 496000 samples at 16 kHz) into 750 + 25 frames.
  const auto pieces = preprocess_audio_file_chunks(dir.file("31s.wav"), AudioOptions{});
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[0].num_frames() == 750);
  CHECK(pieces[1].num_frames() == 25);
  CHECK(pieces[0].num_samples + pieces[1].num_samples == 496000);
  CHECK(pieces[1].duration_s == Approx(1.0));
  // A smaller cap applies to the options given.
  AudioOptions o;
  o.max_frames = 10;
  CHECK_THROWS_AS(preprocess_audio_file(dir.file("30s.wav"), o), g4u::InputError);
}

TEST_CASE("audio: bad files are InputErrors naming the file", "[unit]") {
  ScratchDir dir("audio_bad");
  g4u::test::check_unreadable_media_rejected(dir, "wav", [](const std::string& p) {
    preprocess_audio_file(p, AudioOptions{});
  });

  // NaN / Inf samples in a float WAV.
  std::vector<float> x(100, 0.1f);
  x[37] = std::numeric_limits<float>::quiet_NaN();
  write_audio(dir.file("nan.wav"), x, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  CHECK_THROWS_WITH(preprocess_audio_file(dir.file("nan.wav"), AudioOptions{}),
                    Catch::Contains(dir.file("nan.wav")) && Catch::Contains("NaN"));
  x[37] = std::numeric_limits<float>::infinity();
  write_audio(dir.file("inf.wav"), x, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  CHECK_THROWS_WITH(preprocess_audio_file(dir.file("inf.wav"), AudioOptions{}), Catch::Contains("Inf"));
  x[37] = 0.1f;
  CHECK_THROWS_AS(preprocess_audio(nullptr, 0, 16000, AudioOptions{}), g4u::InputError);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(preprocess_audio(x.data(), 100, 16000, AudioOptions{}), g4u::InputError);

  // Zero-length audio: a valid WAV header without samples.
  write_audio(dir.file("zero.wav"), {}, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  require_input_error_naming(dir.file("zero.wav"), "zero-length");

  // Truncated files.
  write_audio(dir.file("long.wav"), sine(16000, 16000, 300), 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_audio(dir.file("long.flac"), sine(16000, 16000, 300), 1, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  for (const char* name : {"long.wav", "long.flac"}) {
    REQUIRE_NOTHROW(preprocess_audio_file(dir.file(name), AudioOptions{}));
    const auto bytes = g4u::test::read_bytes(dir.file(name));
    for (size_t keep : {size_t(20), bytes.size() / 2, bytes.size() - 100}) {
      const std::string p = dir.file(std::string("cut") + std::to_string(keep) + "_" + name);
      g4u::test::write_file(p, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<int64_t>(keep)));
      require_input_error_naming(p, std::string("truncated ") + name + " at " + std::to_string(keep));
    }
  }
  // An unsupported container: a PNG signature.
  g4u::test::write_file(dir.file("x.png"), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13});
  require_input_error_naming(dir.file("x.png"), "PNG bytes");
}

TEST_CASE("g4u inspect --audio", "[integration]") {
  ScratchDir dir("inspect_audio");
  // 2.5 s of 44.1 kHz stereo -> 40000 samples at 16 kHz -> ceil(62.5) = 63 frames.
  const auto l = sine(110250, 44100, 440), r = sine(110250, 44100, 660);
  std::vector<float> st(110250 * 2);
  for (size_t i = 0; i < l.size(); ++i) {
    st[i * 2] = l[i];
    st[i * 2 + 1] = r[i];
  }
  write_audio(dir.file("a.wav"), st, 2, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  auto res = g4u::test::run_g4u("inspect --audio '" + dir.file("a.wav") + "' --json");
  INFO(res.err);
  REQUIRE(res.code == 0);
  auto j = nlohmann::json::parse(res.out);
  CHECK(j["sample_rate"] == 44100);
  CHECK(j["channels"] == 2);
  CHECK(j["duration_s"].get<double>() == Approx(2.5));
  CHECK(j["samples"] == 40000);
  CHECK(j["frames"] == 63);
  CHECK(j["frame_length"] == 640);

  g4u::test::write_file(dir.file("bad.wav"), {'R', 'I', 'F', 'F', 1, 2, 3});
  res = g4u::test::run_g4u("inspect --audio '" + dir.file("bad.wav") + "' --json");
  CHECK(res.code == 2);
  CHECK(res.err.find(dir.file("bad.wav")) != std::string::npos);
}
