// Audio files through libsndfile (WAV, FLAC, OGG/Vorbis/Opus, and whatever else it reads), as
// float32 with libsndfile's normalisation (16-bit PCM / 32768, ...). Every failure is an InputError
// that starts with the source's name: empty or unreadable files, implausible headers, no samples,
// a WAV whose data chunk is shorter than its header says, decode errors or fewer frames than the
// header declares (a truncated FLAC), NaN or infinite samples.
#pragma once

#include "model/media/source.h"

#include <cstdint>
#include <functional>
#include <string>

namespace g4u::media {

struct AudioInfo {
  std::string format;     // short name: wav, flac, ogg, aiff, au, w64, rf64, mp3, ...
  std::string container;  // libsndfile's name of the container, e.g. "WAV (Microsoft)"
  int64_t sample_rate = 0;
  int64_t channels = 0;
  int64_t frames = 0;  // samples per channel
  double duration_s() const { return sample_rate > 0 ? static_cast<double>(frames) / sample_rate : 0.0; }
};

// Reads the header (and, for a WAV, the chunk sizes).
AudioInfo read_audio_info(MediaSource& src);

// Receives the decoded samples in order, `frames` frames of info.channels interleaved samples.
using AudioSink = std::function<void(const AudioInfo& info, const float* interleaved, int64_t frames)>;
// Decodes every frame; returns the header info.
AudioInfo decode_audio(MediaSource& src, const AudioSink& sink);

// InputError "<where>: sample <offset + i> is NaN|Inf (audio must be finite)".
void check_finite_samples(const float* x, int64_t n, const std::string& where, int64_t offset = 0);

}  // namespace g4u::media
