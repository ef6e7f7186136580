// Helpers of the datasets tests: scratch folders, files, small valid media.
#pragma once

#include "datasets/audio_synth.h"
#include "datasets/raster.h"
#include "model/error.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace g4u::test {

namespace fs = std::filesystem;

// A fresh folder under /tmp, removed with its contents at scope exit.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "g4u_ds_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path = p;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& rel) const { return (fs::path(path) / rel).string(); }
};

inline void write_file(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string tiny_png() {
  datasets::Canvas c(8, 8, {10, 200, 30});
  return c.encode_png();
}

inline std::string tiny_wav() {
  std::vector<float> x;
  datasets::add_tone(x, 16000, 0.0, 0.05, 440.0, 0.5);
  return datasets::encode_wav_pcm16(x, 16000);
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

}  // namespace g4u::test
