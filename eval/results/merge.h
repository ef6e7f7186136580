// `g4u merge`: combines the output folders of `g4u eval --shard i/N` runs into one folder whose
// samples.jsonl holds every record (sorted by id) and whose results.json is recomputed from those
// records, so it equals the results of one unsharded run of the same samples (latency and memory
// aside: peak memory is the maximum over shards, latency aggregates every shard's records).
#pragma once

#include "eval/results/results.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace g4u::runner {

struct MergeOptions {
  std::vector<std::string> dirs;  // shard output folders (run.json, samples.jsonl, results.json)
  std::string out;
  std::string spellings;          // whisper-en spelling map (not part of the config)
  bool allow_partial = false;     // accept missing shards / incomplete shards (reported in `run`)
};

// InputError (naming the folder/file/field) for: folders of different configs or shard counts, a
// shard given twice, missing shards or shards still running (unless allow_partial), a record whose
// id belongs to another shard, an id logged by two shards.
nlohmann::json merge_shards(const MergeOptions& options);

// ScoringOptions from a config's "scoring" object (spellings from the caller).
ScoringOptions scoring_from_config(const nlohmann::json& config, const std::string& where, const std::string& spellings);

}  // namespace g4u::runner
