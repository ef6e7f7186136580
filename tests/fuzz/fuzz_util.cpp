#include "tests/fuzz/fuzz_util.h"

#include "base/json_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace g4u::fuzz {
namespace fs = std::filesystem;

const std::string& scratch_dir() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors.
  static const std::string* dir = [] {
    std::string pattern = (fs::temp_directory_path() / "g4u-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("fuzz: cannot create a temporary folder");
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*dir, ec);
    });
    return new std::string(pattern);
  }();
  return *dir;
}

std::string write_input(std::string_view bytes, const std::string& name) {
  const std::string path = (fs::path(scratch_dir()) / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out.flush()) throw std::runtime_error("fuzz: cannot write " + path);
  return path;
}

std::string write_input(const uint8_t* data, size_t size, const std::string& name) {
  return write_input(std::string_view(reinterpret_cast<const char*>(data), size), name);
}

}  // namespace g4u::fuzz

namespace g4u::fuzz {

bool writing_seeds() {
  const char* dir = std::getenv("G4U_FUZZ_SEEDS");
  return dir && *dir;
}

void write_seed(std::string_view bytes, const std::string& name) {
  if (!writing_seeds()) return;
  const char* dir = std::getenv("G4U_FUZZ_SEEDS");
  fs::create_directories(dir);
  std::ofstream out(fs::path(dir) / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

void copy_seed(const std::string& path, const std::string& name) {
  if (writing_seeds()) write_seed(read_text_file(path), name);
}

}  // namespace g4u::fuzz
