// Audio decoding (model/media/audio.h) through libsndfile: WAV, FLAC, OGG and whatever else it
// sniffs. Every decoded sample is finite and the frames add up to what the header declared.
#include "model/media/audio.h"
#include "tests/fuzz/fuzz_util.h"

#include <sndfile.h>

#include <cmath>
#include <cstdlib>
#include <vector>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The fixtures hold WAVs; FLAC and OGG/Vorbis seeds (a short tone) are written here with libsndfile.
  std::vector<float> tone(2000);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = 0.5f * std::sin(0.05f * float(i));
  for (const auto& [name, format] : {std::pair<std::string, int>{"tone.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
                                     {"tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS}}) {
    const std::string path = fuzz::scratch_dir() + "/" + name;
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = format;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!f) continue;
    sf_writef_float(f, tone.data(), sf_count_t(tone.size()));
    sf_close(f);
    fuzz::copy_seed(path, name);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean_errors([&] {
    media::MediaSource src = media::MediaSource::from_bytes(bytes, "input");
    media::read_audio_info(src);
  });
  fuzz::expect_clean_errors([&] {
    media::MediaSource src = media::MediaSource::from_bytes(bytes, "input");
    int64_t frames = 0;
    const media::AudioInfo info = media::decode_audio(src, [&](const media::AudioInfo& i, const float* x, int64_t n) {
      for (int64_t k = 0; k < n * i.channels; ++k)
        if (!std::isfinite(x[k])) std::abort();
      frames += n;
    });
    if (frames != info.frames || info.channels <= 0 || info.sample_rate <= 0) std::abort();
  });
  return 0;
}
