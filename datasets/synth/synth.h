// Synthetic task suites: small, deterministic, balanced multimodal tasks a small model learns in
// minutes (`g4u data synth`). Each suite writes lines of the task of the same name (datasets/tasks/tasks.h).
//
// Determinism: item i of a suite depends only on (suite, seed, i): its random stream is SplitMix64
// seeded with mix_seed(mix_seed(seed, fnv1a64(suite)), i), and its balanced answer class is
// position i % k of a permutation of the k classes drawn for block i / k. So the same seed gives
// byte-identical manifests and media, a prefix of a longer run equals a shorter run, and every
// block of k consecutive items holds each class exactly once.
#pragma once

#include "datasets/tasks/tasks.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g4u::datasets {

// One generated item: the manifest line (media paths relative to the output folder) and the
// media files to write next to it.
struct SynthItem {
  nlohmann::ordered_json line;
  std::vector<std::pair<std::string, std::string>> files;  // relative path -> bytes
};

struct SuiteInfo {
  std::string name;  // == its task's name
  const TaskInfo* task = nullptr;
  int classes = 0;               // number of balanced answer classes
  std::optional<double> chance;  // expected score of a uniform guess; nullopt for WER suites
  std::string chance_definition;
  std::function<SynthItem(const SuiteInfo&, uint64_t seed, int64_t index)> make;
};

// Adding a suite = adding its task record (datasets/tasks/tasks.h) and one record in build_suite_registry()
// (datasets/synth/synth.cpp): classes, chance and the generator.
const Registry<SuiteInfo>& suite_registry();
// InputError "--suite: unknown suite 'x' (known: ...)".
inline const SuiteInfo& find_suite(const std::string& name) { return suite_registry().find(name, "--suite"); }
inline std::string suite_names() { return suite_registry().names(); }
nlohmann::json suite_json(const SuiteInfo& s);  // name, task, modality, metric, chance, classes, ...

// The id of item `index` of a suite: "<suite>-s<seed>-<index, 6 digits>".
std::string synth_id(const std::string& suite, uint64_t seed, int64_t index);

struct SynthOptions {
  std::string suite;
  int64_t n = 100;
  uint64_t seed = 0;
  std::string out;
  bool overwrite = false;  // replace an existing non-empty `out`
};

// Writes <out>/manifest.jsonl, <out>/suite.json and <out>/media/* through a temporary sibling folder
// renamed into place at the end (readers never see a half-written suite). Returns suite.json's
// content plus "seconds" (wall time). InputError for bad options or an existing non-empty `out`
// without `overwrite`.
nlohmann::json synthesize(const SynthOptions& options);

}  // namespace g4u::datasets
