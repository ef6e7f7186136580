// Speculative decoding inside an evaluation (`g4u eval --draft`): what each sample's speculative
// run left in <out>/speculative.jsonl, and the variant's "speculative" block of results.json
// computed from those lines (by the runner, and again by `g4u merge` over the shards' logs).
//
// Definitions as model/mtp/speculative.h (quant-and-mtp.md §7.6), summed over samples:
// acceptance_rate = accepted / drafted; tau = 1 + accepted / rounds (the bonus or correction token
// included); per_position_acceptance[j] = position_accepted[j] / rounds; decode tokens/s = the
// tokens after each sample's first over the decode seconds, for the plain and the speculative run
// of the same samples; speedup = speculative over plain.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace g4u::runner {

inline constexpr const char* kSpeculativeLogFile = "speculative.jsonl";

struct SpeculativeSample {
  std::string id, task;
  bool equal = true;                       // the speculative tokens equal the plain run's
  int64_t plain_tokens = 0, spec_tokens = 0;  // new tokens (a stop token included)
  double plain_decode_s = 0, spec_decode_s = 0;
  int64_t rounds = 0, drafted = 0, accepted = 0;
  std::vector<int64_t> position_drafted, position_accepted;
  int64_t k_sum = 0;                       // draft lengths of its rounds, summed (mean k)
  double draft_s = 0, verify_s = 0;
};

nlohmann::json speculative_sample_to_json(const SpeculativeSample& s);
// InputError naming `where` for a line that is not a speculative sample.
SpeculativeSample speculative_sample_from_json(const nlohmann::json& j, const std::string& where);

// The samples of a log by id. A torn last line (an interrupted write) is ignored, and with `repair`
// cut from the file so that the next append starts a line of its own; a later line of the same id
// replaces an earlier one (a sample redone after an interruption). A missing file is an empty map;
// a bad line elsewhere is an InputError naming the file and line.
std::map<std::string, SpeculativeSample> read_speculative_log(const std::string& path, bool repair = false);

// The "speculative" block over the samples `ids` (the variant's logged samples): checked,
// not_checked (ids without a line: failed samples), mismatches, mismatched_ids (the first 20),
// lossless (checked > 0 and no mismatch), the acceptance metrics, plain and speculative decode
// tokens/s, speedup, and the same per task under "tasks".
nlohmann::json summarize_speculative(const std::map<std::string, SpeculativeSample>& samples,
                                     const std::vector<std::string>& ids);

}  // namespace g4u::runner
