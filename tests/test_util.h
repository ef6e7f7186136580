// Helpers every test folder shares: a scratch folder, whole-file reads and writes, JSON Lines, and
// the message of an expected InputError. CLI runs use tests/cli_runner.h.
#pragma once

#include "base/error.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::test {

// Sets (or, with value nullptr, removes) an environment variable for the scope and the processes
// started in it; the previous state comes back at scope exit.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    if (value != nullptr) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (previous_) ::setenv(name_.c_str(), previous_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

// A fresh folder under the system temp folder (mkdtemp: unique per call, also across processes),
// removed with everything in it at scope exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag = "test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("g4u_" + tag + "_XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string operator/(const std::string& rel) const { return (std::filesystem::path(path) / rel).string(); }
  std::string file(const std::string& rel) const { return *this / rel; }
  // Entries directly inside the folder.
  size_t count() const {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(path), std::filesystem::directory_iterator()));
  }

  std::string path;
};

// Writes `data` to `path` (parent folders created), replacing the file.
inline void write_file(const std::string& path, std::string_view data) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}
inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// The whole file ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::string s = read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Message of the InputError `f` throws (fails the test when it throws nothing or something else).
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected an InputError, got: " << e.what());
  }
  FAIL("expected an InputError, nothing was thrown");
  return "";
}

// Expects an InputError whose message contains `needle`.
template <typename F>
void expect_input_error(F&& f, const std::string& needle) {
  std::string message = input_error(std::forward<F>(f));
  INFO(message);
  CHECK(message.find(needle) != std::string::npos);
}

// The files every media decoder rejects with an InputError naming the path: a missing file, a
// directory, an empty file and random bytes, named with extension `ext`. `decode(path)` reads one.
template <typename Decode>
void check_unreadable_media_rejected(const ScratchDir& dir, const std::string& ext, Decode decode) {
  std::vector<uint8_t> noise(4000);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  write_file(dir.file("empty." + ext), "");
  write_file(dir.file("noise." + ext), noise);
  for (const std::string name : {"missing.", "", "empty.", "noise."}) {
    const std::string path = dir.file(name.empty() ? "" : name + ext);
    INFO("a bad media file: " << path);
    expect_input_error([&] { decode(path); }, path);
  }
}

// An address range at which this process maps a file.
struct MappedRange {
  uintptr_t begin = 0, end = 0;
};

// Where the kernel says this process maps `file` (/proc/self/maps): empty when it is not mapped.
inline std::vector<MappedRange> mappings_of(const std::string& file) {
  const std::string want = std::filesystem::canonical(file).string();
  std::ifstream maps("/proc/self/maps");
  std::vector<MappedRange> out;
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string addr, perms, offset, dev, inode, path;
    in >> addr >> perms >> offset >> dev >> inode >> path;
    if (path != want) continue;
    const size_t dash = addr.find('-');
    out.push_back({std::stoull(addr.substr(0, dash), nullptr, 16), std::stoull(addr.substr(dash + 1), nullptr, 16)});
  }
  return out;
}

// [p, p + bytes) lies inside one of `ranges`.
inline bool address_inside(const std::vector<MappedRange>& ranges, const void* p, size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  for (const auto& r : ranges)
    if (a >= r.begin && a + bytes <= r.end) return true;
  return false;
}

// The bytes of a tensor (anything with data_ptr() and nbytes()) lie inside one of `ranges`.
template <typename Tensor>
bool inside(const std::vector<MappedRange>& ranges, const Tensor& t) {
  return address_inside(ranges, t.data_ptr(), t.nbytes());
}

}  // namespace g4u::test
