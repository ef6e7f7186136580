// Flags shared by the commands that decode speculatively (--draft, --k, --k-schedule, --k-max) and
// the JSON they add: acceptance_rate, tau, per_position_acceptance, speedup.
#pragma once

#include "apps/flags/model_flags.h"
#include "model/mtp/drafter.h"
#include "model/text/generate.h"
#include "model/mtp/speculative.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace g4u::app {

struct DraftFlags {
  std::string draft;  // empty: no speculative decoding
  int64_t k = 4;
  std::string schedule = "fixed";
  int64_t k_max = 32;
  std::string draft_quant;  // RTN recipe applied to the drafter's projections in memory; empty: dense
  bool enabled() const { return !draft.empty(); }
};

void add_draft_flags(CLI::App& sub, DraftFlags& flags);
// Checks --k/--k-max/--k-schedule (InputError) and fills the speculative options.
model::SpeculativeOptions speculative_options(const DraftFlags& flags, const model::GenerateOptions& go);
// Loads --draft for the loaded target, in the target's dtype, weights seeded by --seed.
std::shared_ptr<model::Drafter> load_drafter_from_flags(const DraftFlags& flags, model::LoadedModel& target,
                                                        const ModelFlags& model_flags);

// Decode tokens/s as generate reports it: tokens after the first over the decode time.
double decode_tokens_per_s(int64_t tokens, double decode_seconds);

// The metrics JSON of one speculative run against the plain run of the same prompt and sampling:
// acceptance_rate, tau (bonus token included), per_position_acceptance, speedup = speculative
// decode tokens/s over plain decode tokens/s (= plain decode time / speculative decode time when
// both emitted the same tokens), plus the counts behind them (model::acceptance_json).
nlohmann::json speculative_json(const DraftFlags& flags, const model::Drafter& drafter,
                                const model::SpeculativeResult& spec, double plain_tokens_per_s);

// `g4u bench --draft`: greedy decode of `gen` tokens after a random prompt of max(1, depth) tokens,
// plain and speculative, `reps` times each after one warm-up; mean tokens/s of both, speedup, and
// the acceptance metrics (summed over repetitions).
nlohmann::json bench_speculative(model::LoadedModel& target, const ModelFlags& model_flags, const DraftFlags& flags,
                                 int64_t gen, int64_t depth, int reps);

}  // namespace g4u::app
