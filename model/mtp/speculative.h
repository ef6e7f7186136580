// Speculative decoding (quant-and-mtp.md §7.1, architecture doc §7.4) for one prompt (batch 1).
//
// Round: the target has processed slots [0, p); x = the newest token (slot p). The drafter proposes
// d_1..d_k; the target runs once over [x, d_1..d_k] (slots p..p+k) giving distributions p_0..p_k.
//  * temperature 0: accept the longest prefix with d_i == argmax p_{i-1}; then emit argmax p_n.
//  * otherwise: accept d_i with probability min(1, p_{i-1}(d_i)/q_i(d_i)); at the first rejection
//    emit a draw from normalise(max(0, p_{i-1} - q_i)) and stop; if all k are accepted emit a bonus
//    draw from p_k. p and q are the processed distributions (suppression, temperature, top-k,
//    top-p) and each d_i was drawn from q_i, so the output follows the target's distribution exactly.
// The target cache is then cropped to p + 1 + n (n accepted; the KV cache keeps a rollback margin
// of k_max + 1 sliding slots, so sliding layers stay exact). Greedy output equals plain greedy
// decoding token for token (up to fp near-ties between a 1-wide and a (k+1)-wide forward).
//
// Metrics (§7.6), over drafting rounds (rounds with at least one drafted token):
//   acceptance_rate = accepted / drafted;  tau = 1 + accepted / rounds (tokens emitted per target
//   verify pass, the bonus/correction token INCLUDED);  per_position_acceptance[j] = fraction of all
//   rounds in which draft position j (0-based) was drafted and positions 0..j were all accepted
//   (vLLM's definition; non-increasing in j, and tau = 1 + sum_j p_j exactly). Rounds cut short
//   (max_new_tokens, a drafted stop id, Medusa's head count) count as not accepting the missing
//   positions; position_drafted says how often each position was drafted.
#pragma once

#include "model/mtp/drafter.h"
#include "model/text/generate.h"
#include "model/model.h"
#include "model/text/sampling.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g4u::model {

enum class KSchedule {
  kFixed,      // k every round
  kHeuristic,  // HF's: +2 after a round that accepted every drafted token, else -1 (min 1), cap k_max
};
KSchedule parse_k_schedule(const std::string& name);  // "fixed" | "heuristic"; InputError otherwise
const char* k_schedule_name(KSchedule s);

struct SpeculativeOptions {
  int64_t max_new_tokens = 32;
  SamplingParams sampling;
  std::vector<int64_t> stop_ids;  // besides the config's eos ids (if use_config_stop_ids)
  bool use_config_stop_ids = true;
  int64_t k = 4;                  // draft length (initial length for the heuristic)
  KSchedule schedule = KSchedule::kFixed;
  int64_t k_max = 32;             // heuristic cap; also sizes the cache's rollback margin
  // Called after every verify pass, once the cache is cropped and the round's tokens emitted:
  // the target cache (slots [0, p')) and the sequence (slots [0, p'], back() = the next x).
  std::function<void(const KVCache& cache, const std::vector<int64_t>& sequence)> on_round;
};

struct SpeculativeStats {
  int64_t rounds = 0;    // verify passes that checked at least one drafted token
  int64_t drafted = 0;
  int64_t accepted = 0;
  int64_t plain_steps = 0;  // verify passes without a draft (the last token before max_new_tokens)
  std::vector<int64_t> position_drafted, position_accepted;  // per draft position j
  std::vector<int64_t> k_used;                               // draft length of every round

  double acceptance_rate() const { return drafted ? static_cast<double>(accepted) / drafted : 0.0; }
  double tau() const { return rounds ? 1.0 + static_cast<double>(accepted) / rounds : 0.0; }
  std::vector<double> per_position_acceptance() const;
  // Adds the counts of another run (e.g. the next prompt or repetition) to these.
  void add(const SpeculativeStats& other);
};

// The acceptance metrics as JSON: acceptance_rate, tau, tau_includes_bonus_token,
// per_position_acceptance, position_drafted, position_accepted, rounds, drafted, accepted, mean_k.
nlohmann::json acceptance_json(const SpeculativeStats& stats);

// The per-token acceptance rate a (each draft token accepted with probability a, independently)
// at which speculative decoding with k draft tokens a round decodes as fast as plain decoding,
// given a round's cost (drafting k tokens + verifying k + 1) in units of one plain decode step.
// A round then yields (1 - a^(k+1)) / (1 - a) tokens, which must equal that cost: 0 when a round
// costs no more than one step, nullopt when it costs more than the k + 1 tokens a fully accepted
// round yields (no acceptance rate pays for it).
std::optional<double> break_even_acceptance(int64_t k, double round_cost_in_steps);

struct SpeculativeResult {
  std::vector<int64_t> tokens;  // new tokens (a stop token included)
  bool stopped = false;
  GenerationTiming timing;      // prefill = prompt forward + first token; decode = all later rounds
  double draft_seconds = 0, verify_seconds = 0;
  SpeculativeStats stats;
  int64_t kv_cache_bytes = 0;
};

SpeculativeResult speculative_generate(Gemma4Model& target, Drafter& drafter, const std::vector<int64_t>& prompt,
                                       const SpeculativeOptions& options, const PrefillFn& prefill = {});

// ---- the acceptance rules (exposed for tests) ---------------------------------------------------

struct Verdict {
  int64_t accepted = 0;  // n: d_1..d_n accepted
  int64_t next = -1;     // the token emitted after them (correction or bonus)
};

// target_choice[i] = the target's greedy token after [x, d_1..d_i], i = 0..k.
Verdict accept_greedy(const std::vector<int64_t>& draft, const std::vector<int64_t>& target_choice);
// p: k + 1 target distributions, q: k draft distributions (each normalised, same vocabulary);
// `rng` supplies the uniforms and the residual/bonus draws.
Verdict accept_speculative(const std::vector<int64_t>& draft, const std::vector<std::vector<float>>& q,
                           const std::vector<std::vector<float>>& p, Sampler& rng);

}  // namespace g4u::model
