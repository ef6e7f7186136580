#include "datasets/media.h"

#include "datasets/shard.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"

#include <sndfile.h>
#include <stb/stb_image.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
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

std::string sniff_extension(std::string_view b) {
  auto starts = [&](std::string_view p) { return b.size() >= p.size() && b.substr(0, p.size()) == p; };
  if (starts("\x89PNG\r\n\x1a\n")) return "png";
  if (starts("\xFF\xD8\xFF")) return "jpg";
  if (starts("GIF87a") || starts("GIF89a")) return "gif";
  if (starts("BM")) return "bmp";
  if (starts("RIFF") && b.size() >= 12 && b.substr(8, 4) == "WEBP") return "webp";
  if (starts("RIFF") && b.size() >= 12 && b.substr(8, 4) == "WAVE") return "wav";
  if (starts("fLaC")) return "flac";
  if (starts("OggS")) return "ogg";
  if (starts("ID3") || (b.size() >= 2 && uint8_t(b[0]) == 0xFF && (uint8_t(b[1]) & 0xE0) == 0xE0)) return "mp3";
  return "";
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
  fs::path p = fs::absolute(fs::path(dir.empty() ? "." : dir)).lexically_normal();
  for (auto& part : parts) p /= part;
  m.path = p.string();
  return m;
}

// ------------------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------------------

namespace {

constexpr int64_t kMaxImageSide = int64_t(1) << 16;
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

std::string image_format(std::string_view head) {
  std::string ext = sniff_extension(head);
  if (ext == "png") return "png";
  if (ext == "jpg") return "jpeg";
  if (ext == "gif" || ext == "bmp") return ext;
  return "";
}

void check_image_size(int w, int h, int c, const std::string& where) {
  if (w <= 0 || h <= 0) throw_input("{}: image has zero size ({}x{})", where, w, h);
  if (w > kMaxImageSide || h > kMaxImageSide || int64_t(w) * h > kMaxImagePixels)
    throw_input("{}: image too large ({}x{})", where, w, h);
  if (c < 1 || c > 4) throw_input("{}: image has {} channels", where, c);
}

void refuse_unknown_image(std::string_view head, const std::string& where) {
  std::string ext = sniff_extension(head);
  if (!ext.empty())
    throw_input("{}: not a supported image: {} data (supported: PNG, JPEG, GIF, BMP)", where, ext);
  throw_input("{}: not a supported image (no PNG, JPEG, GIF or BMP signature)", where);
}

// stb_image fills a truncated JPEG with grey and succeeds; a complete one ends with the EOI marker
// (FF D9), possibly followed by a little padding.
void check_jpeg_end(std::string_view bytes, const std::string& where) {
  size_t from = bytes.size() > 64 ? bytes.size() - 64 : 0;
  for (size_t i = from; i + 1 < bytes.size(); ++i)
    if (uint8_t(bytes[i]) == 0xFF && uint8_t(bytes[i + 1]) == 0xD9) return;
  throw_input("{}: JPEG is truncated (no end-of-image marker)", where);
}

std::string read_file(const std::string& path, const std::string& where, size_t limit = std::string::npos) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot open '{}'", where, path);
  std::string s;
  if (limit == std::string::npos) {
    std::ostringstream ss;
    ss << in.rdbuf();
    s = ss.str();
  } else {
    s.resize(limit);
    in.read(s.data(), static_cast<std::streamsize>(limit));
    s.resize(static_cast<size_t>(in.gcount()));
  }
  return s;
}

std::string sf_format_name(int format) {
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

struct MemoryFile {
  std::string_view data;
  sf_count_t pos = 0;
};

sf_count_t mem_len(void* u) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(u)->data.size()); }
sf_count_t mem_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : static_cast<sf_count_t>(m->data.size());
  sf_count_t p = base + off;
  if (p < 0 || p > static_cast<sf_count_t>(m->data.size())) return -1;
  m->pos = p;
  return p;
}
sf_count_t mem_read(void* ptr, sf_count_t count, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  sf_count_t left = static_cast<sf_count_t>(m->data.size()) - m->pos;
  sf_count_t n = count < left ? count : left;
  if (n > 0) std::memcpy(ptr, m->data.data() + m->pos, static_cast<size_t>(n));
  m->pos += n;
  return n;
}
sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t mem_tell(void* u) { return static_cast<MemoryFile*>(u)->pos; }

MediaInfo audio_info(SNDFILE* f, const SF_INFO& info, bool decode, const std::string& where) {
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> guard(f, sf_close);
  MediaInfo r;
  r.format = sf_format_name(info.format);
  r.channels = info.channels;
  r.sample_rate = info.samplerate;
  r.frames = info.frames;
  if (info.channels <= 0 || info.samplerate <= 0) throw_input("{}: audio header is invalid", where);
  if (info.frames <= 0) throw_input("{}: audio has no frames", where);
  if (decode) {
    std::vector<float> buf(static_cast<size_t>(4096) * static_cast<size_t>(info.channels));
    int64_t total = 0;
    for (;;) {
      sf_count_t n = sf_readf_float(f, buf.data(), 4096);
      if (n <= 0) break;
      for (sf_count_t i = 0; i < n * info.channels; ++i)
        if (!std::isfinite(buf[static_cast<size_t>(i)])) throw_input("{}: audio contains NaN or infinite samples", where);
      total += n;
    }
    if (sf_error(f) != SF_ERR_NO_ERROR) throw_input("{}: audio does not decode: {}", where, sf_strerror(f));
    if (total < info.frames)
      throw_input("{}: audio is truncated ({} of {} frames decode)", where, total, static_cast<int64_t>(info.frames));
    r.frames = total;
  }
  return r;
}

}  // namespace

MediaInfo check_image_bytes(std::string_view bytes, bool decode, const std::string& where) {
  MediaInfo r;
  r.format = image_format(bytes.substr(0, 16));
  if (r.format.empty()) refuse_unknown_image(bytes.substr(0, 16), where);
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw_input("{}: image file too large", where);
  const auto* p = reinterpret_cast<const stbi_uc*>(bytes.data());
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(p, static_cast<int>(bytes.size()), &w, &h, &c))
    throw_input("{}: cannot read the {} header ({})", where, r.format, stbi_failure_reason());
  check_image_size(w, h, c, where);
  r.width = w;
  r.height = h;
  r.channels = c;
  if (decode) {
    stbi_uc* px = stbi_load_from_memory(p, static_cast<int>(bytes.size()), &w, &h, &c, 0);
    if (!px) throw_input("{}: cannot decode the {} image ({})", where, r.format, stbi_failure_reason());
    stbi_image_free(px);
    if (r.format == "jpeg") check_jpeg_end(bytes, where);
  }
  return r;
}

MediaInfo check_audio_bytes(std::string_view bytes, bool decode, const std::string& where) {
  MemoryFile mf{bytes, 0};
  SF_VIRTUAL_IO io{mem_len, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO info{};
  SNDFILE* f = sf_open_virtual(&io, SFM_READ, &info, &mf);
  if (!f) throw_input("{}: not audio libsndfile can open ({})", where, sf_strerror(nullptr));
  return audio_info(f, info, decode, where);
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
  std::string w = fmt::format("{}: {} '{}'", where, media_kind_name(m.kind), m.source);
  if (m.kind == MediaKind::kImage) {
    if (decode) return check_image_bytes(read_file(m.path, where), true, w);
    // The header is within the first few hundred bytes for PNG/GIF/BMP; JPEG SOF markers can come
    // after large EXIF/ICC segments, so fall back to the whole file when 64 KiB is not enough.
    std::string head = read_file(m.path, where, 65536);
    std::string fmt_name = image_format(head.substr(0, 16));
    if (fmt_name.empty()) refuse_unknown_image(head.substr(0, 16), w);
    int x = 0, y = 0, c = 0;
    if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(head.data()), static_cast<int>(head.size()), &x, &y, &c)) {
      if (head.size() < 65536) throw_input("{}: cannot read the {} header ({})", w, fmt_name, stbi_failure_reason());
      return check_image_bytes(read_file(m.path, where), false, w);
    }
    check_image_size(x, y, c, w);
    MediaInfo r;
    r.format = fmt_name;
    r.width = x;
    r.height = y;
    r.channels = c;
    return r;
  }
  SF_INFO info{};
  SNDFILE* f = sf_open(m.path.c_str(), SFM_READ, &info);
  if (!f) throw_input("{}: not audio libsndfile can open ({})", w, sf_strerror(nullptr));
  return audio_info(f, info, decode, w);
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
