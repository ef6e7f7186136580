#include "model/multimodal/audio.h"

#include "base/error.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <memory>

namespace g4u::model {
namespace {

struct SndCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndPtr = std::unique_ptr<SNDFILE, SndCloser>;

std::string major_format_name(int format) {
  SF_FORMAT_INFO fi;
  fi.format = format & SF_FORMAT_TYPEMASK;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &fi, sizeof(fi)) == 0 && fi.name) return fi.name;
  return fmt::format("format 0x{:x}", fi.format);
}

// Opens the file and validates the header fields that the rest relies on.
SndPtr open_audio(const std::string& path, SF_INFO& sfi, AudioFileInfo& info) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw_input("{}: audio file does not exist", path);
  if (!std::filesystem::is_regular_file(path, ec)) throw_input("{}: not a regular file", path);
  if (std::filesystem::file_size(path, ec) == 0) throw_input("{}: empty file, not audio", path);
  sfi = SF_INFO{};
  SndPtr f(sf_open(path.c_str(), SFM_READ, &sfi));
  if (!f) throw_input("{}: cannot read audio ({})", path, sf_strerror(nullptr));
  info.format = major_format_name(sfi.format);
  info.sample_rate = sfi.samplerate;
  info.channels = sfi.channels;
  info.num_samples = sfi.frames;
  if (sfi.samplerate <= 0 || sfi.samplerate > 1'000'000)
    throw_input("{}: implausible sample rate {} Hz", path, sfi.samplerate);
  if (sfi.channels <= 0 || sfi.channels > 256) throw_input("{}: implausible channel count {}", path, sfi.channels);
  if (sfi.frames <= 0) throw_input("{}: audio has no samples", path);
  if (sfi.frames == SF_COUNT_MAX)
    throw_input("{}: the file does not declare its length (a truncated Ogg stream?)", path);
  if (sfi.frames >= int64_t(1) << 40) throw_input("{}: audio length unknown or absurd ({} samples)", path, sfi.frames);
  info.duration_s = static_cast<double>(sfi.frames) / sfi.samplerate;
  return f;
}

// libsndfile accepts a WAV whose data chunk claims more bytes than the file holds and reads what
// is there; its log then has a line "data : <declared> (should be <present>)". Treat that as a
// truncated file, except for the placeholder sizes streaming writers leave (0, 0xFFFFFFFF).
void check_not_truncated(SNDFILE* f, const std::string& path) {
  char log[8192] = {0};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof(log) - 1);
  const std::string s(log);
  for (size_t at = s.find("data : "); at != std::string::npos; at = s.find("data : ", at + 1)) {
    const size_t eol = s.find('\n', at);
    const std::string line = s.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    unsigned long long declared = 0, present = 0;
    if (std::sscanf(line.c_str(), "data : %llu (should be %llu)", &declared, &present) == 2 && present < declared &&
        declared != 0xFFFFFFFFull && declared < 0x7FFFFFFFull)
      throw_input("{}: truncated audio file (the data chunk declares {} bytes, the file holds {})", path, declared,
                  present);
  }
}

void check_finite(const float* x, int64_t n, const std::string& where, int64_t offset) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw_input("{}: sample {} is {} (audio must be finite)", where, offset + i, std::isnan(x[i]) ? "NaN" : "Inf");
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
  SF_INFO sfi;
  AudioFileInfo info;
  SndPtr f = open_audio(path, sfi, info);
  check_not_truncated(f.get(), path);
  return info;
}

std::vector<float> decode_audio_mono(const std::string& path, AudioFileInfo* info_out) {
  SF_INFO sfi;
  AudioFileInfo info;
  SndPtr f = open_audio(path, sfi, info);
  check_not_truncated(f.get(), path);
  sf_command(f.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
  const int64_t C = sfi.channels;
  std::vector<float> mono;
  mono.reserve(static_cast<size_t>(sfi.frames));
  constexpr int64_t kBlock = 1 << 15;
  std::vector<float> buf(kBlock * C);
  int64_t done = 0;
  while (done < sfi.frames) {
    const sf_count_t want = std::min<int64_t>(kBlock, sfi.frames - done);
    const sf_count_t got = sf_readf_float(f.get(), buf.data(), want);
    if (got <= 0) break;
    check_finite(buf.data(), got * C, path, done * C);
    for (sf_count_t i = 0; i < got; ++i) {
      const float* s = buf.data() + i * C;
      float sum = s[0];
      for (int64_t c = 1; c < C; ++c) sum += s[c];
      mono.push_back(C == 1 ? sum : sum / static_cast<float>(C));
    }
    done += got;
  }
  if (sf_error(f.get()) != SF_ERR_NO_ERROR)
    throw_input("{}: cannot decode audio ({})", path, sf_strerror(f.get()));
  if (done < sfi.frames)
    throw_input("{}: truncated or corrupt audio (header declares {} samples, only {} could be decoded)", path,
                sfi.frames, done);
  if (info_out) *info_out = info;
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
  check_finite(mono, n, where, 0);
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
