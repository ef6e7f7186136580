#include "datasets/manifest/media.h"

#include "datasets/manifest/shard.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"

#include "model/media/audio.h"
#include "model/media/image.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace g4u::datasets {

const char* media_kind_name(MediaKind k) { return k == MediaKind::kImage ? "image" : "audio"; }

MediaCheck parse_media_check(const std::string& name) {
  if (name == "none") return MediaCheck::kNone;
  if (name == "exists") return MediaCheck::kExists;
  if (name == "header") return MediaCheck::kHeader;
  if (name == "decode") return MediaCheck::kDecode;
  throw_input("--media: unknown check '{}' (known: none, exists, header, decode)", name);
}

const char* media_check_name(MediaCheck c) {
  switch (c) {
    case MediaCheck::kNone: return "none";
    case MediaCheck::kExists: return "exists";
    case MediaCheck::kHeader: return "header";
    case MediaCheck::kDecode: return "decode";
  }
  return "?";
}

// ------------------------------------------------------------------------------------------------
// base64 / data: URIs
// ------------------------------------------------------------------------------------------------

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=') {
        // Padding only in the last group, only in the last two places, and nothing after it.
        if (i + 4 != text.size() || k < 2) return false;
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[k] = b64_value(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t x = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<char>(x >> 16));
    if (pad < 2) out->push_back(static_cast<char>((x >> 8) & 255));
    if (pad < 1) out->push_back(static_cast<char>(x & 255));
  }
  return true;
}

std::string make_data_uri(const std::string& mime, std::string_view bytes) {
  return "data:" + mime + ";base64," + base64_encode(bytes);
}

// ------------------------------------------------------------------------------------------------
// Paths
// ------------------------------------------------------------------------------------------------

MediaRef resolve_media(const std::string& source, MediaKind kind, const std::string& dir, const std::string& where) {
  MediaRef m;
  m.kind = kind;
  m.source = source;
  if (source.empty()) throw_input("{}: empty {} reference", where, media_kind_name(kind));
  if (source.find('\0') != std::string::npos) throw_input("{}: NUL character in {} path", where, media_kind_name(kind));
  if (source.rfind("data:", 0) == 0) {
    size_t comma = source.find(',');
    if (comma == std::string::npos) throw_input("{}: malformed data: URI (no ',')", where);
    std::string header = source.substr(5, comma - 5);
    const std::string suffix = ";base64";
    if (header.size() < suffix.size() || header.compare(header.size() - suffix.size(), suffix.size(), suffix) != 0)
      throw_input("{}: data: URI must be base64-encoded (data:<type>;base64,...)", where);
    m.mime = header.substr(0, header.size() - suffix.size());
    std::string want = kind == MediaKind::kImage ? "image/" : "audio/";
    if (m.mime.rfind(want, 0) != 0)
      throw_input("{}: data: URI has media type '{}', expected {}*", where, m.mime, want);
    std::string_view payload(source);
    payload.remove_prefix(comma + 1);
    if (payload.size() / 4 * 3 > kMaxInlineBytes)
      throw_input("{}: inline data is larger than {} bytes; store it as a file", where, kMaxInlineBytes);
    if (!base64_decode(payload, &m.data)) throw_input("{}: data: URI payload is not valid base64", where);
    if (m.data.empty()) throw_input("{}: data: URI is empty", where);
    return m;
  }
  if (source.find('\\') != std::string::npos)
    throw_input("{}: {} path '{}' contains a backslash (use '/')", where, media_kind_name(kind), source);
  if (source[0] == '/')
    throw_input("{}: {} path '{}' is absolute; media paths must be relative to the manifest's folder", where,
                media_kind_name(kind), source);
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= source.size()) {
    size_t end = source.find('/', start);
    if (end == std::string::npos) end = source.size();
    std::string part = source.substr(start, end - start);
    if (part == "..") {
      if (parts.empty())
        throw_input("{}: {} path '{}' leaves the dataset folder (path traversal)", where, media_kind_name(kind),
                    source);
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  if (parts.empty()) throw_input("{}: {} path '{}' names the dataset folder itself", where, media_kind_name(kind), source);
  const fs::path root = fs::absolute(fs::path(dir.empty() ? "." : dir)).lexically_normal();
  fs::path p = root;
  for (auto& part : parts) p /= part;
  // A symbolic link must not lead out either: a downloaded dataset could otherwise make g4u read
  // (and log the hash of) any file on the machine.
  std::error_code ec_file, ec_root;
  const fs::path real = fs::weakly_canonical(p, ec_file), real_root = fs::weakly_canonical(root, ec_root);
  const fs::path inside = real.lexically_relative(real_root);
  if (!ec_file && !ec_root && (inside.empty() || *inside.begin() == ".."))
    throw_input("{}: {} path '{}' leads outside the dataset folder through a symbolic link (to {})", where,
                media_kind_name(kind), source, real.string());
  m.path = p.string();
  return m;
}

// ------------------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------------------

namespace {

std::string read_file(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot open '{}'", where, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MediaInfo image_info(const media::ImageInfo& i) { return {i.format, i.width, i.height, i.channels}; }

MediaInfo audio_info(const media::AudioInfo& a) {
  return {a.format, 0, 0, static_cast<int>(a.channels), a.frames, a.sample_rate};
}

// The checks the model's loaders make when they read the media (model/media).
MediaInfo check_source(media::MediaSource& src, MediaKind kind, bool decode) {
  if (kind == MediaKind::kImage) {
    if (!decode) return image_info(media::read_image_info(src));
    media::ImageInfo info;
    media::decode_image(src, &info);
    return image_info(info);
  }
  if (!decode) return audio_info(media::read_audio_info(src));
  return audio_info(media::decode_audio(src, [](const media::AudioInfo&, const float*, int64_t) {}));
}

}  // namespace

MediaInfo check_image_bytes(std::string_view bytes, bool decode, const std::string& where) {
  media::MediaSource src = media::MediaSource::from_bytes(bytes, where);
  return check_source(src, MediaKind::kImage, decode);
}

MediaInfo check_audio_bytes(std::string_view bytes, bool decode, const std::string& where) {
  media::MediaSource src = media::MediaSource::from_bytes(bytes, where);
  return check_source(src, MediaKind::kAudio, decode);
}

MediaInfo check_media(const MediaRef& m, MediaCheck level, const std::string& where) {
  if (level == MediaCheck::kNone) return {};
  bool decode = level == MediaCheck::kDecode;
  if (m.is_inline()) {
    if (level == MediaCheck::kExists) return {};
    return m.kind == MediaKind::kImage ? check_image_bytes(m.data, decode, where)
                                       : check_audio_bytes(m.data, decode, where);
  }
  std::error_code ec;
  auto st = fs::status(m.path, ec);
  if (ec || !fs::exists(st)) throw_input("{}: {} file '{}' does not exist", where, media_kind_name(m.kind), m.source);
  if (!fs::is_regular_file(st))
    throw_input("{}: {} path '{}' is not a regular file", where, media_kind_name(m.kind), m.source);
  if (level == MediaCheck::kExists) return {};
  const std::string name = fmt::format("{}: {} '{}'", where, media_kind_name(m.kind), m.source);
  media::MediaSource src = media::MediaSource::open_file(m.path, media_kind_name(m.kind), name);
  return check_source(src, m.kind, decode);
}

std::string read_media_bytes(const MediaRef& m) {
  if (m.is_inline()) return m.data;
  return read_file(m.path, m.source);
}

std::string media_file(const MediaRef& m, const std::string& spill_dir) {
  if (!m.is_inline()) return m.path;
  std::string ext = sniff_extension(m.data);
  if (ext.empty()) ext = m.kind == MediaKind::kImage ? "img" : "audio";
  fs::create_directories(spill_dir);
  std::string path = (fs::path(spill_dir) / fmt::format("{:016x}.{}", fnv1a64(m.data), ext)).string();
  if (!fs::exists(path)) write_file_atomic(path, m.data);
  return path;
}

}  // namespace g4u::datasets
