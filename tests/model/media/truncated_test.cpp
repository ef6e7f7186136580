// Truncated media: the media library, `g4u inspect` (the model's loaders) and
// `g4u data check --media decode` refuse the same files with the same message, naming the file.
#include "cli_runner.h"
#include "media_test_util.h"
#include "test_util.h"
#include "model/media/audio.h"
#include "model/media/image.h"

#include <catch2/catch.hpp>
#include <sndfile.h>

#include <cmath>

using namespace g4u::media;
using g4u::test::kMediaFixtures;
using g4u::test::ScratchDir;
using Catch::Matchers::Contains;

namespace {

// A 440 Hz tone written by libsndfile; `format` e.g. SF_FORMAT_FLAC | SF_FORMAT_PCM_16.
void write_tone(const std::string& path, int format, int frames) {
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  std::vector<float> x(static_cast<size_t>(frames));
  for (int i = 0; i < frames; ++i) x[i] = static_cast<float>(0.5 * std::sin(2 * 3.14159265358979 * 440 * i / 16000.0));
  REQUIRE(sf_writef_float(f, x.data(), frames) == frames);
  sf_close(f);
}

// Writes the first `keep` bytes of `bytes` to dir/name; returns the path.
std::string write_cut(const ScratchDir& dir, const std::string& name, const std::string& bytes, size_t keep) {
  REQUIRE(keep < bytes.size());
  g4u::test::write_file(dir.file(name), bytes.substr(0, keep));
  return dir.file(name);
}

// What the library says about `src`, without the leading name.
std::string library_reason(MediaSource& src, bool image) {
  const std::string message = g4u::test::input_error([&] {
    if (image) decode_image(src);
    else decode_audio(src, [](const AudioInfo&, const float*, int64_t) {});
  });
  REQUIRE(message.rfind(src.name(), 0) == 0);
  return message.substr(src.name().size());
}

struct Truncated {
  std::string name;  // file name in the scratch folder
  bool image;
  std::string expect;  // part of the message
};

// Truncated JPEG, PNG, WAV and FLAC files in `dir`, and a WAV whose header claims hours it does not hold.
std::vector<Truncated> make_truncated(const ScratchDir& dir) {
  const std::string jpeg = g4u::test::read_file(kMediaFixtures + "photo.jpg");
  const std::string png = g4u::test::read_file(kMediaFixtures + "palette.png");
  write_tone(dir.file("tone.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 4000);
  write_tone(dir.file("tone.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000);
  const std::string wav = g4u::test::read_file(dir.file("tone.wav"));
  const std::string flac = g4u::test::read_file(dir.file("tone.flac"));
  // Cut inside the entropy-coded data / the IDAT chunk (the headers are intact), or just before the
  // end: the last byte of JPEG's end-of-image marker, the CRC of PNG's IEND chunk.
  write_cut(dir, "cut.jpg", jpeg, jpeg.size() * 9 / 10);
  write_cut(dir, "no_eoi.jpg", jpeg, jpeg.size() - 1);
  write_cut(dir, "cut.png", png, png.size() - 20);
  write_cut(dir, "no_iend.png", png, png.size() - 4);
  write_cut(dir, "short.wav", wav, wav.size() - 100);
  write_cut(dir, "half.flac", flac, flac.size() / 2);
  // A data chunk that claims 2^31 bytes (18 hours at 16 kHz) and holds 8000: not one of the
  // unknown-length markers of streaming writers (0, 0xFFFFFFFF, just under 2^31).
  std::string hours = wav;
  const size_t size_at = hours.find("data") + 4;
  REQUIRE(size_at > 4);
  for (int i = 0; i < 4; ++i) hours[size_at + i] = static_cast<char>((0x80000000u >> (8 * i)) & 0xFF);
  g4u::test::write_file(dir.file("hours.wav"), hours);
  // A data chunk that claims 6 bytes more than it holds, followed by a LIST chunk (34 bytes: "LIST",
  // 26, "INFO", "ISFT", 14, "g4u test tone\0"): its claimed end falls 6 bytes into the LIST chunk,
  // where the bytes 00 00 'I' 'N' are no chunk name. The file as a whole is long enough.
  std::string overclaim = wav;
  const uint32_t claimed = 8006;
  for (int i = 0; i < 4; ++i) overclaim[size_at + i] = static_cast<char>((claimed >> (8 * i)) & 0xFF);
  overclaim += std::string("LIST\x1a\x00\x00\x00INFOISFT\x0e\x00\x00\x00g4u test tone\x00", 34);
  g4u::test::write_file(dir.file("overclaim.wav"), overclaim);
  return {{"cut.jpg", true, "cannot decode the jpeg image (the file is truncated)"},
          {"no_eoi.jpg", true, "cannot decode the jpeg image (the file is truncated)"},
          {"cut.png", true, "cannot decode the png image (the file is truncated)"},
          {"no_iend.png", true, "cannot decode the png image (the file is truncated)"},
          {"short.wav", false, "truncated audio file (the data chunk declares 8000 bytes, the file holds 7900)"},
          {"half.flac", false, "truncated or corrupt audio (header declares 16000 samples, only"},
          {"hours.wav", false, "truncated audio file (the data chunk declares 2147483648 bytes, the file holds 8000)"},
          {"overclaim.wav", false, "corrupt audio file (the data chunk declares 8006 bytes; after them, at byte 8050, the file "
                                   "holds no chunk that fits"}};
}

}  // namespace

TEST_CASE("truncated JPEG, PNG, WAV and FLAC are InputErrors, the same from a file and from memory", "[unit]") {
  ScratchDir dir("media_truncated");
  for (const Truncated& t : make_truncated(dir)) {
    INFO(t.name);
    MediaSource file = MediaSource::open_file(dir.file(t.name), t.image ? "image" : "audio");
    const std::string reason = library_reason(file, t.image);
    CHECK_THAT(reason, Contains(t.expect));
    const std::string bytes = g4u::test::read_file(dir.file(t.name));
    MediaSource memory = MediaSource::from_bytes(bytes, "inline");
    CHECK(library_reason(memory, t.image) == reason);
  }
  // The intact files decode.
  MediaSource wav = MediaSource::open_file(dir.file("tone.wav"), "audio");
  int64_t frames = 0;
  decode_audio(wav, [&](const AudioInfo&, const float*, int64_t n) { frames += n; });
  CHECK(frames == 4000);
  CHECK(decode_image_file(kMediaFixtures + "photo.jpg").width == 23);
}

TEST_CASE("g4u inspect and g4u data check --media decode refuse the same truncated files", "[integration]") {
  ScratchDir dir("media_truncated_cli");
  for (const Truncated& t : make_truncated(dir)) {
    INFO(t.name);
    const std::string path = dir.file(t.name);
    MediaSource src = MediaSource::open_file(path, t.image ? "image" : "audio");
    const std::string reason = library_reason(src, t.image);

    auto inspect = g4u::test::run_g4u(std::string("inspect ") + (t.image ? "--image '" : "--audio '") + path + "'");
    CHECK(inspect.code == 2);
    CHECK_THAT(inspect.err, Contains(path + reason));

    const std::string line = t.image ? R"({"id": "x", "task": "count-shapes", "question": "q", "images": [")" + t.name +
                                           R"("], "answers": [1]})"
                                     : R"({"id": "x", "task": "count-beeps", "question": "q", "audios": [")" + t.name +
                                           R"("], "answers": [1]})";
    g4u::test::write_file(dir.file("manifest.jsonl"), line + "\n");
    auto check = g4u::test::run_g4u("data check --media decode --manifest '" + dir.file("manifest.jsonl") + "'");
    CHECK(check.code == 2);
    CHECK_THAT(check.err, Contains(std::string(t.image ? "image '" : "audio '") + t.name + "'" + reason));
    // The header of a truncated JPEG, PNG or FLAC is intact; a WAV's data chunk size is in it.
    if (t.name == "cut.jpg" || t.name == "short.wav" || t.name == "hours.wav") {
      auto header = g4u::test::run_g4u("data check --media header --manifest '" + dir.file("manifest.jsonl") + "'");
      CHECK(header.code == (t.name == "cut.jpg" ? 0 : 2));
    }
  }
}
