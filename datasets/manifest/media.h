// Media references of manifest lines: resolving paths (relative to the manifest's folder, never
// outside it), inline `data:` URIs, and checking media with the library the model's loaders decode
// them with (model/media), so a check and a loader accept and reject the same files. Nothing here
// keeps media in memory longer than one check; consumers load media lazily from `MediaRef::path`
// (or the inline bytes).
#pragma once

#include "model/media/format.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace g4u::datasets {

enum class MediaKind { kImage, kAudio };
const char* media_kind_name(MediaKind k);  // "image" | "audio"

struct MediaRef {
  MediaKind kind = MediaKind::kImage;
  std::string source;  // as written in the manifest: a relative path or a data: URI
  std::string path;    // absolute, lexically normalized file path; empty for inline data
  std::string data;    // the decoded bytes of a data: URI
  std::string mime;    // the media type of a data: URI
  bool is_inline() const { return path.empty(); }
};

// Resolves `source` (a manifest media entry) against the dataset folder `dir`. InputError naming
// `where` for: empty entries, absolute paths, `..` components that leave `dir`, NUL or backslash
// characters, malformed or non-base64 data: URIs, inline data over kMaxInlineBytes. Does not touch
// the file system.
MediaRef resolve_media(const std::string& source, MediaKind kind, const std::string& dir, const std::string& where);
inline constexpr size_t kMaxInlineBytes = size_t(8) << 20;

// How much of each media item the manifest loader checks.
enum class MediaCheck {
  kNone,    // nothing (paths are still checked for traversal)
  kExists,  // the file exists and is a regular file
  kHeader,  // + the header parses (image size and format; audio format, rate, length)
  kDecode,  // + every pixel / audio frame decodes (catches truncated and corrupt files)
};
MediaCheck parse_media_check(const std::string& name);  // none|exists|header|decode
const char* media_check_name(MediaCheck c);

struct MediaInfo {
  std::string format;  // png, jpeg, gif, bmp | wav, flac, ogg, mp3, ...
  int64_t width = 0, height = 0;  // images
  int channels = 0;               // image components / audio channels
  int64_t frames = 0;             // audio frames
  int64_t sample_rate = 0;        // audio
  double duration_s() const { return sample_rate > 0 ? static_cast<double>(frames) / sample_rate : 0.0; }
};

// Images: PNG, JPEG, GIF and BMP (others are refused by their magic bytes); at most 2^16 px a side
// and 2^28 pixels (model/media/image.h). Audio: any format libsndfile opens, with at least one
// frame (model/media/audio.h). InputError naming `where` and the file for anything else, with the
// loaders' message. kNone returns an empty MediaInfo.
MediaInfo check_media(const MediaRef& m, MediaCheck level, const std::string& where);
MediaInfo check_image_bytes(std::string_view bytes, bool decode, const std::string& where);
MediaInfo check_audio_bytes(std::string_view bytes, bool decode, const std::string& where);

// The bytes of the media (reads the file, or returns the inline data).
std::string read_media_bytes(const MediaRef& m);
// A file holding the media: `path` itself, or the inline bytes written (once, atomically) to
// `spill_dir/<fnv1a64 of the bytes>.<ext>`.
std::string media_file(const MediaRef& m, const std::string& spill_dir);

// RFC 4648 base64 (standard alphabet, '=' padding required; whitespace not allowed).
std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string* out);
std::string make_data_uri(const std::string& mime, std::string_view bytes);

// File extension (without dot) for media bytes, from their magic numbers; "" when unknown.
using media::sniff_extension;

}  // namespace g4u::datasets
