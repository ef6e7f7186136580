#include "model/media/audio.h"

#include "base/error.h"
#include "model/media/byte_order.h"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

namespace g4u::media {
namespace {

// libsndfile reads through these, so files and inline bytes take the same path.
MediaSource& source_of(void* user) { return *static_cast<MediaSource*>(user); }
sf_count_t io_length(void* user) { return source_of(user).size(); }
sf_count_t io_seek(sf_count_t offset, int whence, void* user) {
  MediaSource& s = source_of(user);
  const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s.tell() : s.size();
  return s.seek(base + offset) ? s.tell() : -1;
}
sf_count_t io_read(void* dst, sf_count_t n, void* user) {
  return static_cast<sf_count_t>(source_of(user).read(dst, static_cast<size_t>(n)));
}
sf_count_t io_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t io_tell(void* user) { return source_of(user).tell(); }

struct SndCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndPtr = std::unique_ptr<SNDFILE, SndCloser>;

std::string short_format_name(int format) {
  switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV: return "wav";
    case SF_FORMAT_WAVEX: return "wav";
    case SF_FORMAT_FLAC: return "flac";
    case SF_FORMAT_OGG: return "ogg";
    case SF_FORMAT_AIFF: return "aiff";
    case SF_FORMAT_AU: return "au";
    case SF_FORMAT_W64: return "w64";
    case SF_FORMAT_RF64: return "rf64";
#ifdef SF_FORMAT_MPEG
    case SF_FORMAT_MPEG: return "mp3";
#endif
    default: return fmt::format("sndfile-0x{:x}", format & SF_FORMAT_TYPEMASK);
  }
}

std::string container_name(int format) {
  SF_FORMAT_INFO fi;
  fi.format = format & SF_FORMAT_TYPEMASK;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &fi, sizeof(fi)) == 0 && fi.name) return fi.name;
  return fmt::format("format 0x{:x}", fi.format);
}

// The chunks after a data chunk at `data_pos` of `size` bytes must tile the rest of the file: a
// data chunk that declares more than it holds but is followed by another chunk (LIST, id3) ends
// inside that chunk, where no chunk header is (the samples would include its bytes).
void check_chunks_after_data(MediaSource& src, int64_t data_pos, int64_t size) {
  int64_t pos = data_pos + 8 + size + (size & 1);
  unsigned char chunk[8];
  while (pos + 8 <= src.size() && src.read_at(pos, chunk, 8)) {
    const bool named = std::all_of(chunk, chunk + 4, [](unsigned char c) { return c >= 0x20 && c <= 0x7E; });
    const int64_t next = pos + 8 + le32(chunk + 4);
    if (!named || next > src.size())
      throw_input("{}: corrupt audio file (the data chunk declares {} bytes; after them, at byte {}, the file holds no "
                  "chunk that fits: the data chunk may claim bytes of the chunk after it)",
                  src.name(), size, pos);
    pos = next + (le32(chunk + 4) & 1);
  }
}

// Hand-written: libsndfile reads a WAV whose data chunk is shorter than declared without an error
// (it only logs "data : <declared> (should be <present>)"), so the RIFF chunk sizes are walked here.
void check_wav_complete(MediaSource& src) {
  unsigned char h[12];
  if (!src.read_at(0, h, 12) || std::memcmp(h, "RIFF", 4) != 0 || std::memcmp(h + 8, "WAVE", 4) != 0) return;
  int64_t pos = 12;
  unsigned char chunk[8];
  while (src.read_at(pos, chunk, 8)) {
    const int64_t size = le32(chunk + 4);
    if (std::memcmp(chunk, "data", 4) == 0) {
      const int64_t present = src.size() - pos - 8;
      // Streaming writers that cannot seek back leave 0 or 0xFFFFFFFF (ffmpeg) there, or a value
      // just under 2^31 (SoX); any other size past the end of the file is a truncated file, also a
      // huge one (a header claiming hours of audio in a few kilobytes).
      const bool unknown_length = size == 0 || size == 0xFFFFFFFF || (size >= 0x7FFF0000 && size <= 0x7FFFFFFF);
      if (size > present && !unknown_length)
        throw_input("{}: truncated audio file (the data chunk declares {} bytes, the file holds {})", src.name(),
                    size, present);
      if (!unknown_length) check_chunks_after_data(src, pos, size);
      return;
    }
    pos += 8 + size + (size & 1);
  }
}

SndPtr open_audio(MediaSource& src, SF_INFO& sfi, AudioInfo& info) {
  if (src.size() == 0) throw_input("{}: empty file, not audio", src.name());
  src.seek(0);
  static SF_VIRTUAL_IO io{io_length, io_seek, io_read, io_write, io_tell};
  sfi = SF_INFO{};
  SndPtr f(sf_open_virtual(&io, SFM_READ, &sfi, &src));
  if (!f) throw_input("{}: not audio libsndfile can open ({})", src.name(), sf_strerror(nullptr));
  info.format = short_format_name(sfi.format);
  info.container = container_name(sfi.format);
  info.sample_rate = sfi.samplerate;
  info.channels = sfi.channels;
  info.frames = sfi.frames;
  if (sfi.samplerate <= 0 || sfi.samplerate > 1'000'000)
    throw_input("{}: implausible sample rate {} Hz", src.name(), sfi.samplerate);
  if (sfi.channels <= 0 || sfi.channels > 256) throw_input("{}: implausible channel count {}", src.name(), sfi.channels);
  if (sfi.frames <= 0) throw_input("{}: audio has no samples", src.name());
  if (sfi.frames == SF_COUNT_MAX)
    throw_input("{}: the file does not declare its length (a truncated Ogg stream?)", src.name());
  if (sfi.frames >= int64_t(1) << 40)
    throw_input("{}: audio length unknown or absurd ({} samples)", src.name(), sfi.frames);
  const int64_t resume = src.tell();
  check_wav_complete(src);
  src.seek(resume);
  return f;
}

}  // namespace

void check_finite_samples(const float* x, int64_t n, const std::string& where, int64_t offset) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw_input("{}: sample {} is {} (audio must be finite)", where, offset + i, std::isnan(x[i]) ? "NaN" : "Inf");
}

AudioInfo read_audio_info(MediaSource& src) {
  SF_INFO sfi;
  AudioInfo info;
  open_audio(src, sfi, info);
  return info;
}

AudioInfo decode_audio(MediaSource& src, const AudioSink& sink) {
  SF_INFO sfi;
  AudioInfo info;
  SndPtr f = open_audio(src, sfi, info);
  sf_command(f.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
  constexpr int64_t kBlock = 1 << 15;
  std::vector<float> buf(static_cast<size_t>(kBlock * info.channels));
  int64_t done = 0;
  while (done < info.frames) {
    const sf_count_t got = sf_readf_float(f.get(), buf.data(), std::min<int64_t>(kBlock, info.frames - done));
    if (got <= 0) break;
    check_finite_samples(buf.data(), got * info.channels, src.name(), done * info.channels);
    sink(info, buf.data(), got);
    done += got;
  }
  if (sf_error(f.get()) != SF_ERR_NO_ERROR)
    throw_input("{}: cannot decode audio ({})", src.name(), sf_strerror(f.get()));
  if (done < info.frames)
    throw_input("{}: truncated or corrupt audio (header declares {} samples, only {} could be decoded)", src.name(),
                info.frames, done);
  return info;
}

}  // namespace g4u::media
