// Published scores (model-card numbers with their source) for the "published vs ours" table.
// File format (schema "g4u.published", version 1): reports/README.md §2.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace g4u::reports {

struct PublishedScore {
  std::string benchmark;     // as the source names it ("MMLU Pro")
  double value = 0;
  std::string unit;          // percent (0-100) | fraction (0-1) | bleu (0-100)
  bool higher_is_better = true;
  std::string task;          // the g4u task it corresponds to ("" = none of ours)
  std::string source;        // where the number comes from
  bool verified = true;      // false: press / third-party only
  std::string note;
};

struct PublishedTable {
  std::string model;
  std::string source;        // the document the entries come from by default
  std::string note;
  std::vector<PublishedScore> entries;
};

// InputError "<path>: entries[3].unit: ..." for anything missing or of the wrong type, an unknown
// unit, another schema version.
PublishedTable read_published(const std::string& path);

// A score of ours (metric's native scale: 0-1 for accuracy-type metrics and WER/CER, 0-100 for
// BLEU/chrF) in a published entry's unit; nullopt when the metric and the unit do not match.
std::optional<double> to_published_unit(double ours, const std::string& metric, const std::string& unit);

}  // namespace g4u::reports
