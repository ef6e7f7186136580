#include "model/media/format.h"

#include <cstdint>

namespace g4u::media {

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

}  // namespace g4u::media
