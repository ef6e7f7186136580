// Helpers of the runner and reports tests: a small synthetic manifest
// (text + image suites) made once per test process with `g4u data synth`.
#pragma once

#include "cli_runner.h"
#include "test_util.h"

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
