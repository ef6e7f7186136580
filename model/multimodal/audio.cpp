#include "model/multimodal/audio.h"

#include "base/error.h"
#include "model/media/audio.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>

namespace g4u::model {
namespace {

AudioFileInfo file_info(const media::AudioInfo& a) {
  AudioFileInfo info;
  info.format = a.container;
  info.sample_rate = a.sample_rate;
  info.channels = a.channels;
  info.num_samples = a.frames;
  info.duration_s = a.duration_s();
  return info;
}

int64_t frames_for(int64_t source_samples, int64_t rate, const AudioOptions& o) {
  return audio_frame_count(resampled_length(source_samples, rate, o.sample_rate), o.frame_length);
}

AudioFrames make_frames(const float* x, int64_t n, const AudioOptions& o) {
  const int64_t T = audio_frame_count(n, o.frame_length);
  AudioFrames a;
  a.frames = torch::zeros({T, o.frame_length}, torch::kFloat32);
  std::copy(x, x + n, a.frames.data_ptr<float>());
  a.num_samples = n;
  return a;
}

void check_length(int64_t frames, double seconds, const AudioOptions& o, const std::string& where) {
  if (frames > o.max_frames)
    throw_input(
        "{}: audio is {:.2f} s long ({} frames of {} samples at {} Hz); the model takes at most {} frames "
        "({:.2f} s) per clip: trim it or cut it into pieces (preprocess_audio_file_chunks)",
        where, seconds, frames, o.frame_length, o.sample_rate, o.max_frames,
        static_cast<double>(o.max_frames * o.frame_length) / o.sample_rate);
}

}  // namespace

AudioOptions audio_options(const AudioConfig& a) {
  AudioOptions o;
  o.sample_rate = a.sample_rate;
  o.frame_length = a.audio_embed_dim;
  o.max_frames = a.max_frames;
  return o;
}

void check_audio_options(const AudioOptions& o, const std::string& where) {
  if (o.sample_rate <= 0) throw_input("{}: sample rate must be positive, got {}", where, o.sample_rate);
  if (o.frame_length <= 0) throw_input("{}: frame length must be positive, got {}", where, o.frame_length);
  if (o.max_frames <= 0) throw_input("{}: max_frames must be positive, got {}", where, o.max_frames);
}

AudioFileInfo read_audio_info(const std::string& path) {
  media::MediaSource src = media::MediaSource::open_file(path, "audio");
  return file_info(media::read_audio_info(src));
}

std::vector<float> decode_audio_mono(const std::string& path, AudioFileInfo* info_out) {
  media::MediaSource src = media::MediaSource::open_file(path, "audio");
  std::vector<float> mono;
  const media::AudioInfo info =
      media::decode_audio(src, [&](const media::AudioInfo& a, const float* interleaved, int64_t frames) {
        // The header's length is a promise, not a fact: reserve at most a minute at 48 kHz for it.
        if (mono.empty()) mono.reserve(static_cast<size_t>(std::min<int64_t>(a.frames, 48000 * 60)));
        const int64_t C = a.channels;
        for (int64_t i = 0; i < frames; ++i) {
          const float* s = interleaved + i * C;
          float sum = s[0];
          for (int64_t c = 1; c < C; ++c) sum += s[c];
          mono.push_back(C == 1 ? sum : sum / static_cast<float>(C));
        }
      });
  if (info_out) *info_out = file_info(info);
  return mono;
}

int64_t resampled_length(int64_t n, int64_t in_rate, int64_t out_rate) {
  G4U_CHECK(in_rate > 0 && out_rate > 0 && n >= 0, "n {} rates {} {}", n, in_rate, out_rate);
  if (in_rate == out_rate) return n;
  const double ratio = static_cast<double>(out_rate) / static_cast<double>(in_rate);
  return static_cast<int64_t>(std::ceil(static_cast<double>(n) * ratio));
}

std::vector<float> resample_audio(const float* x, int64_t n, int64_t in_rate, int64_t out_rate,
                                  const std::string& where) {
  if (in_rate <= 0 || out_rate <= 0) throw_input("{}: sample rates must be positive ({} -> {})", where, in_rate, out_rate);
  const int64_t out_n = resampled_length(n, in_rate, out_rate);
  if (in_rate == out_rate) return std::vector<float>(x, x + n);
  std::vector<float> y(static_cast<size_t>(out_n) + 1, 0.0f);
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
  size_t odone = 0;
  soxr_error_t err = soxr_oneshot(static_cast<double>(in_rate), static_cast<double>(out_rate), 1, x,
                                  static_cast<size_t>(n), nullptr, y.data(), y.size(), &odone, &io, &q, nullptr);
  if (err) throw_input("{}: resampling {} Hz -> {} Hz failed: {}", where, in_rate, out_rate, err);
  // librosa's fix_length: keep out_n samples, zero-pad if soxr produced fewer.
  y.resize(static_cast<size_t>(out_n));
  if (odone < y.size()) std::fill(y.begin() + static_cast<int64_t>(odone), y.end(), 0.0f);
  return y;
}

int64_t audio_frame_count(int64_t num_samples, int64_t frame_length) {
  G4U_CHECK(frame_length > 0 && num_samples >= 0, "n {} frame {}", num_samples, frame_length);
  return (num_samples + frame_length - 1) / frame_length;
}

AudioFrames preprocess_audio(const float* mono, int64_t n, int64_t sample_rate, const AudioOptions& o,
                             const std::string& where) {
  check_audio_options(o, where);
  if (n <= 0) throw_input("{}: audio has no samples", where);
  if (sample_rate <= 0) throw_input("{}: sample rate must be positive, got {}", where, sample_rate);
  media::check_finite_samples(mono, n, where);
  const double seconds = static_cast<double>(n) / sample_rate;
  check_length(frames_for(n, sample_rate, o), seconds, o, where);
  std::vector<float> y = resample_audio(mono, n, sample_rate, o.sample_rate, where);
  AudioFrames a = make_frames(y.data(), static_cast<int64_t>(y.size()), o);
  a.source_sample_rate = sample_rate;
  a.source_channels = 1;
  a.source_samples = n;
  a.duration_s = seconds;
  return a;
}

AudioFrames preprocess_audio_file(const std::string& path, const AudioOptions& o) {
  check_audio_options(o, path);
  const AudioFileInfo head = read_audio_info(path);
  check_length(frames_for(head.num_samples, head.sample_rate, o), head.duration_s, o, path);
  AudioFileInfo info;
  std::vector<float> mono = decode_audio_mono(path, &info);
  AudioFrames a = preprocess_audio(mono.data(), static_cast<int64_t>(mono.size()), info.sample_rate, o, path);
  a.source_channels = info.channels;
  return a;
}

std::vector<AudioFrames> preprocess_audio_file_chunks(const std::string& path, const AudioOptions& o) {
  check_audio_options(o, path);
  const AudioFileInfo head = read_audio_info(path);
  if (head.duration_s > kMaxAudioSeconds)
    throw_input("{}: audio is {:.1f} s long; at most {:.0f} s are read", path, head.duration_s, kMaxAudioSeconds);
  AudioFileInfo info;
  std::vector<float> mono = decode_audio_mono(path, &info);
  std::vector<float> y =
      resample_audio(mono.data(), static_cast<int64_t>(mono.size()), info.sample_rate, o.sample_rate, path);
  mono = {};
  const int64_t piece = o.max_frames * o.frame_length;
  std::vector<AudioFrames> out;
  for (int64_t start = 0; start < static_cast<int64_t>(y.size()); start += piece) {
    const int64_t n = std::min<int64_t>(piece, static_cast<int64_t>(y.size()) - start);
    AudioFrames a = make_frames(y.data() + start, n, o);
    a.source_sample_rate = info.sample_rate;
    a.source_channels = info.channels;
    a.source_samples = info.num_samples;
    a.duration_s = static_cast<double>(n) / o.sample_rate;
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace g4u::model
