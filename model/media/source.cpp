#include "model/media/source.h"

#include "base/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace g4u::media {

MediaSource MediaSource::open_file(const std::string& path, std::string_view kind, std::string name) {
  MediaSource s;
  s.name_ = name.empty() ? path : std::move(name);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw_input("{}: {} file does not exist", s.name_, kind);
  if (!std::filesystem::is_regular_file(path, ec)) throw_input("{}: not a regular file", s.name_);
  s.size_ = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec) throw_input("{}: cannot read the file size ({})", s.name_, ec.message());
  s.file_.reset(std::fopen(path.c_str(), "rb"));
  if (!s.file_) throw_input("{}: cannot open {} file ({})", s.name_, kind, std::strerror(errno));
  return s;
}

MediaSource MediaSource::from_bytes(std::string_view bytes, std::string name) {
  MediaSource s;
  s.name_ = std::move(name);
  s.bytes_ = bytes;
  s.size_ = static_cast<int64_t>(bytes.size());
  return s;
}

bool MediaSource::seek(int64_t offset) {
  if (offset < 0 || offset > size_) return false;
  if (file_ && std::fseek(file_.get(), static_cast<long>(offset), SEEK_SET) != 0) return false;
  pos_ = offset;
  return true;
}

size_t MediaSource::read(void* dst, size_t n) {
  const size_t left = static_cast<size_t>(size_ - pos_);
  if (n > left) n = left;
  if (n == 0) return 0;
  if (file_) {
    n = std::fread(dst, 1, n, file_.get());
  } else {
    std::memcpy(dst, bytes_.data() + pos_, n);
  }
  pos_ += static_cast<int64_t>(n);
  return n;
}

bool MediaSource::read_at(int64_t offset, void* dst, size_t n) {
  return seek(offset) && read(dst, n) == n;
}

}  // namespace g4u::media
