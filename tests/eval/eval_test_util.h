// Helpers of the eval tests: a predictions line built in code and score options without
// reasoning stripping or normalization.
#pragma once

#include "eval/metrics.h"

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

}  // namespace g4u::test
