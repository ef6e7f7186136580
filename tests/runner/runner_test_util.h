// Helpers of the runner and reports tests: scratch folders, files, a small synthetic manifest
// (text + image suites) made once per test process with `g4u data synth`.
#pragma once

#include "cli_runner.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace g4u::test {

namespace fs = std::filesystem;

struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "g4u_run_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path = p;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& rel) const { return (fs::path(path) / rel).string(); }
};

inline void write_file(const std::string& path, const std::string& data) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A manifest with 6 `arith` (text) and 4 `count-shapes` (image) samples: the image suite is
// synthesized into <dir>/data, the text suite's lines (no media) are appended to its manifest.
// Made once per process; returns the manifest path.
inline const std::string& small_manifest() {
  static ScratchDir dir;
  static std::string manifest = [] {
    std::string img = dir / "data", txt = dir / "text";
    auto a = run_g4u("data synth --suite count-shapes --n 4 --seed 1 --out " + img);
    REQUIRE(a.code == 0);
    auto b = run_g4u("data synth --suite arith --n 6 --seed 1 --out " + txt);
    REQUIRE(b.code == 0);
    std::string m = img + "/mixed.jsonl";
    write_file(m, read_file(txt + "/manifest.jsonl") + read_file(img + "/manifest.jsonl"));
    return m;
  }();
  return manifest;
}

// Task entries of a results document by key, without the timing- and machine-dependent parts.
inline nlohmann::json task_stats(const nlohmann::json& results) {
  nlohmann::json out = nlohmann::json::object();
  for (auto t : results["variants"][0]["tasks"]) {
    t.erase("latency");
    out[t["key"].get<std::string>()] = t;
  }
  return out;
}

}  // namespace g4u::test
