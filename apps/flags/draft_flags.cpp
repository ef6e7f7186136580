#include "apps/flags/draft_flags.h"

#include "base/error.h"
#include "base/rng.h"
#include "quant/io/any_model.h"

namespace g4u::app {

void add_draft_flags(CLI::App& sub, DraftFlags& f) {
  sub.add_option("--draft", f.draft,
                 "Drafter for speculative decoding: preset (tiny-assistant, small-assistant, gemma4-12b-assistant, "
                 "tiny-mtp, small-mtp, tiny-medusa, small-medusa) or checkpoint directory");
  sub.add_option("--k", f.k, "Draft tokens per round (initial value for --k-schedule heuristic)")->capture_default_str();
  sub.add_option("--k-schedule", f.schedule, "fixed, or heuristic (+2 after a fully accepted round, else -1, min 1)")
      ->capture_default_str();
  sub.add_option("--k-max", f.k_max, "Largest draft length the heuristic schedule may reach")->capture_default_str();
  sub.add_option("--draft-quant", f.draft_quant,
                 "Quantize the drafter's projections in memory with this round-to-nearest recipe (e.g. q4_0)");
}

model::SpeculativeOptions speculative_options(const DraftFlags& f, const model::GenerateOptions& go) {
  if (f.k <= 0) throw_input("--k {}: the draft length must be >= 1", f.k);
  if (f.k_max < f.k) throw_input("--k-max {}: must be >= --k {}", f.k_max, f.k);
  model::SpeculativeOptions o;
  o.max_new_tokens = go.max_new_tokens;
  o.sampling = go.sampling;
  o.stop_ids = go.stop_ids;
  o.use_config_stop_ids = go.use_config_stop_ids;
  o.k = f.k;
  o.k_max = f.k_max;
  o.schedule = model::parse_k_schedule(f.schedule);
  return o;
}

std::shared_ptr<model::Drafter> load_drafter_from_flags(const DraftFlags& f, model::LoadedModel& target,
                                                        const ModelFlags& mf) {
  return quant::load_any_drafter(f.draft, target, mf.seed, f.draft_quant);
}

double decode_tokens_per_s(int64_t tokens, double decode_seconds) {
  return decode_seconds > 0 && tokens > 1 ? (tokens - 1) / decode_seconds : 0.0;
}

namespace {
nlohmann::json ratio(double num, double den) {
  return num > 0 && den > 0 ? nlohmann::json(num / den) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json speculative_json(const DraftFlags& f, const model::Drafter& drafter, const model::SpeculativeResult& spec,
                                double plain_tps) {
  double spec_tps = decode_tokens_per_s(static_cast<int64_t>(spec.tokens.size()), spec.timing.decode_seconds);
  nlohmann::json j = model::acceptance_json(spec.stats);
  j["draft"] = f.draft;
  j["draft_kind"] = drafter.kind();
  j["draft_quant"] = f.draft_quant.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.draft_quant);
  j["draft_params"] = drafter.parameter_count();
  j["k"] = f.k;
  j["k_schedule"] = f.schedule;
  j["speedup"] = ratio(spec_tps, plain_tps);
  j["plain_decode_tokens_per_s"] = plain_tps;
  j["speculative_decode_tokens_per_s"] = spec_tps;
  j["draft_seconds"] = spec.draft_seconds;
  j["verify_seconds"] = spec.verify_seconds;
  return j;
}

nlohmann::json bench_speculative(model::LoadedModel& target, const ModelFlags& mf, const DraftFlags& f, int64_t gen,
                                 int64_t depth, int reps) {
  if (gen < 2) throw_input("-n {}: --draft needs at least 2 decoded tokens", gen);
  model::Gemma4Model& m = *target.model;
  const int64_t V = m.config().text.vocab_size;
  model::GenerateOptions go;
  go.max_new_tokens = gen;
  go.sampling.seed = mf.seed;
  go.use_config_stop_ids = false;  // always decode `gen` tokens
  model::SpeculativeOptions so = speculative_options(f, go);
  auto drafter = load_drafter_from_flags(f, target, mf);
  Rng rng(mf.seed ^ 0x5bd1e995ULL);
  std::vector<int64_t> prompt(std::max<int64_t>(1, depth));
  for (auto& id : prompt) id = 32 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(V - 32)));

  model::generate(m, {prompt}, go);  // warm-up
  model::speculative_generate(m, *drafter, prompt, so);
  std::vector<double> plain, spec;
  model::SpeculativeStats total;
  bool matches = true;
  double draft_s = 0, verify_s = 0;
  for (int r = 0; r < reps; ++r) {
    model::GenerateResult p = model::generate(m, {prompt}, go);
    model::SpeculativeResult s = model::speculative_generate(m, *drafter, prompt, so);
    plain.push_back(decode_tokens_per_s(static_cast<int64_t>(p.tokens[0].size()), p.timing.decode_seconds));
    spec.push_back(decode_tokens_per_s(static_cast<int64_t>(s.tokens.size()), s.timing.decode_seconds));
    matches = matches && s.tokens == p.tokens[0];
    draft_s += s.draft_seconds;
    verify_s += s.verify_seconds;
    total.add(s.stats);
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  nlohmann::json j = model::acceptance_json(total);
  j["draft"] = f.draft;
  j["draft_kind"] = drafter->kind();
  j["draft_params"] = drafter->parameter_count();
  j["k"] = f.k;
  j["k_schedule"] = f.schedule;
  j["speedup"] = ratio(mean(spec), mean(plain));
  j["plain_decode_tokens_per_s"] = mean(plain);
  j["speculative_decode_tokens_per_s"] = mean(spec);
  j["matches_plain"] = matches;
  j["draft_seconds_per_rep"] = draft_s / reps;
  j["verify_seconds_per_rep"] = verify_s / reps;
  // What a round costs against a plain step, and the acceptance rate at which drafting k tokens a
  // round breaks even (random weights accept almost nothing, but a round's cost is what it is).
  if (total.rounds > 0 && mean(plain) > 0) {
    const double draft_round = draft_s / static_cast<double>(total.rounds);
    const double verify_round = verify_s / static_cast<double>(total.rounds);
    const double step = 1.0 / mean(plain);
    j["draft_seconds_per_round"] = draft_round;
    j["verify_seconds_per_round"] = verify_round;
    j["plain_seconds_per_token"] = step;
    j["round_cost_in_plain_steps"] = (draft_round + verify_round) / step;
    if (f.schedule == "fixed") {
      const std::optional<double> a = model::break_even_acceptance(f.k, (draft_round + verify_round) / step);
      j["break_even_acceptance"] = a ? nlohmann::json(*a) : nlohmann::json(nullptr);
    }
  }
  return j;
}

}  // namespace g4u::app
