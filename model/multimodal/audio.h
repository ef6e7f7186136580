// Audio pre-processing of the encoder-free audio path (architecture doc §4).
//
// Recipe (the same as `librosa.load(path, sr=16000, mono=True)` followed by HF's
// `Gemma4UnifiedAudioFeatureExtractor`):
//   1. decode with libsndfile (model/media/audio.h: WAV, FLAC, OGG/Vorbis/Opus, ...; truncated
//      files refused) as float32 with libsndfile's normalisation (16-bit PCM / 32768, ...);
//   2. downmix to mono: the mean of the channels in float32 (sum in channel order, then / channels);
//   3. resample to 16 kHz with libsoxr, quality SOXR_HQ (librosa's default res_type 'soxr_hq'),
//      float32 in and out, one-shot; the output length is librosa's ceil(n * (16000 / rate)) computed
//      in float64, zero-padded if soxr returns fewer samples; no resampling at 16 kHz already;
//   4. frames of `frame_length` samples (640 = 40 ms for the released model), the tail zero-padded,
//      T = ceil(samples / frame_length); the last, partial frame is valid. No gain normalisation,
//      no mel, no dither.
// Audio longer than `max_frames` frames (750 = 30 s) is refused with an InputError that names the
// file and its duration; `preprocess_audio_file_chunks` splits it into pieces of at most
// `max_frames` frames instead (each piece resampled as part of the whole signal, then cut at
// multiples of max_frames * frame_length samples, so the pieces concatenate to the whole).
#pragma once

#include "model/io/config.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace g4u::model {

// Chunked reading refuses audio longer than this (the cap of one clip is max_frames).
inline constexpr double kMaxAudioSeconds = 4 * 3600.0;

struct AudioOptions {
  int64_t sample_rate = 16000;
  int64_t frame_length = 640;  // samples per soft token
  int64_t max_frames = 750;    // 30 s at 640 samples / 16 kHz
};
// From a model's audio config (frame_length = audio_embed_dim).
AudioOptions audio_options(const AudioConfig& a);
void check_audio_options(const AudioOptions& o, const std::string& where);

struct AudioFileInfo {
  std::string format;  // libsndfile's name of the container, e.g. "WAV (Microsoft)"
  int64_t sample_rate = 0;
  int64_t channels = 0;
  int64_t num_samples = 0;  // per channel
  double duration_s = 0;
};

struct AudioFrames {
  torch::Tensor frames;  // [T, frame_length] float32
  int64_t source_sample_rate = 0;
  int64_t source_channels = 0;
  int64_t source_samples = 0;  // per channel, before resampling
  double duration_s = 0;       // source_samples / source_sample_rate
  int64_t num_samples = 0;     // after resampling (before the tail padding)
  int64_t num_frames() const { return frames.defined() ? frames.size(0) : 0; }
};

// Header only. InputError naming the file for missing, unreadable, unsupported or empty audio.
AudioFileInfo read_audio_info(const std::string& path);

// Decoded and downmixed to mono, at the file's own rate. InputError also for NaN/Inf samples and
// for files that end before the length their header declares.
std::vector<float> decode_audio_mono(const std::string& path, AudioFileInfo* info = nullptr);

// librosa's output length for resampling n samples: ceil(n * (out_rate / in_rate)) in float64.
int64_t resampled_length(int64_t n, int64_t in_rate, int64_t out_rate);
// soxr HQ, float32; returns exactly resampled_length(n, in_rate, out_rate) samples.
std::vector<float> resample_audio(const float* x, int64_t n, int64_t in_rate, int64_t out_rate,
                                  const std::string& where = "audio");

// ceil(n / frame_length).
int64_t audio_frame_count(int64_t num_samples, int64_t frame_length);

// Mono samples at any rate -> frames at o.sample_rate. InputError for empty audio, NaN/Inf samples
// or more than o.max_frames frames.
AudioFrames preprocess_audio(const float* mono, int64_t n, int64_t sample_rate, const AudioOptions& o,
                             const std::string& where = "audio");
// Decode + preprocess; the length cap is checked from the header before any sample is read.
AudioFrames preprocess_audio_file(const std::string& path, const AudioOptions& o);
// Audio of any length up to kMaxAudioSeconds, cut into consecutive pieces of at most max_frames.
std::vector<AudioFrames> preprocess_audio_file_chunks(const std::string& path, const AudioOptions& o);

}  // namespace g4u::model
