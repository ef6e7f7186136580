// The bytes of one media file, from the file system or from memory (a manifest's inline data: URI),
// read a piece at a time by the decoders (a header check reads only the header). `name()` is what
// every error message starts with: the path, or whatever the caller passes (a manifest field).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace g4u::media {

class MediaSource {
 public:
  // InputError naming `path` when it does not exist, is not a regular file or cannot be opened;
  // `kind` ("image", "audio") words the first message. `name` defaults to the path.
  static MediaSource open_file(const std::string& path, std::string_view kind, std::string name = "");
  // The bytes must outlive the source.
  static MediaSource from_bytes(std::string_view bytes, std::string name);

  const std::string& name() const { return name_; }
  int64_t size() const { return size_; }
  int64_t tell() const { return pos_; }
  bool seek(int64_t offset);                           // false (and no move) outside [0, size]
  size_t read(void* dst, size_t n);                    // fewer than n at the end of the data
  bool read_at(int64_t offset, void* dst, size_t n);  // exactly n bytes at offset, or false

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string name_;
  std::unique_ptr<std::FILE, FileCloser> file_;  // null for bytes in memory
  std::string_view bytes_;
  int64_t size_ = 0;
  int64_t pos_ = 0;
};

}  // namespace g4u::media
