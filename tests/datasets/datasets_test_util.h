// Helpers of the datasets tests: small valid media (the shared helpers are in tests/test_util.h).
#pragma once

#include "datasets/synth/audio_synth.h"
#include "datasets/synth/raster.h"
#include "test_paths.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace g4u::test {

namespace fs = std::filesystem;

// The exported-benchmark fixtures: <this>/<benchmark>/rows.jsonl, export.json, media.
inline const std::string kBenchmarkFixtures = std::string(G4U_FIXTURES_DIR) + "/benchmarks/";

// Every regular file below `dir`: relative path -> bytes.
inline std::map<std::string, std::string> folder_files(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_file(e.path().string());
  return out;
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

}  // namespace g4u::test
