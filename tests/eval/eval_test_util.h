// Helpers of the eval tests: a predictions line built in code, score options without reasoning
// stripping or normalization, and the Whisper spelling map file.
#pragma once

#include "eval/metrics.h"
#include "test_paths.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace g4u::test {

inline eval::EvalItem eval_item(const std::string& prediction, const std::vector<std::string>& references,
                                const std::vector<std::string>& choices = {}) {
  eval::EvalItem it;
  it.where = "test";
  it.prediction = eval::u32(prediction);
  for (const std::string& r : references) it.references.push_back(eval::u32(r));
  for (const std::string& c : choices) it.choices.push_back(eval::u32(c));
  return it;
}

inline eval::ScoreOptions plain_options() {
  eval::ScoreOptions o;
  o.reasoning = eval::reasoning_tags("none");
  return o;
}

// The map lives in ../shared/data (not in the repository). A worktree outside the main checkout
// can point at it with $G4U_SPELLINGS.
inline std::string spelling_file() {
  std::string p = std::string(G4U_SHARED_DATA_DIR) + "/whisper_english_spellings.json";
  const char* env = std::getenv("G4U_SPELLINGS");
  if (!std::filesystem::exists(p) && env) p = env;
  return p;
}

}  // namespace g4u::test
