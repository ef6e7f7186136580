#include "eval/results/speculative.h"

#include "eval/results/sample_log.h"

#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace g4u::runner {

using json = nlohmann::json;

json speculative_sample_to_json(const SpeculativeSample& s) {
  return {{"id", s.id},
          {"task", s.task},
          {"equal", s.equal},
          {"plain_tokens", s.plain_tokens},
          {"spec_tokens", s.spec_tokens},
          {"plain_decode_s", s.plain_decode_s},
          {"spec_decode_s", s.spec_decode_s},
          {"rounds", s.rounds},
          {"drafted", s.drafted},
          {"accepted", s.accepted},
          {"position_drafted", s.position_drafted},
          {"position_accepted", s.position_accepted},
          {"k_sum", s.k_sum},
          {"draft_s", s.draft_s},
          {"verify_s", s.verify_s}};
}

SpeculativeSample speculative_sample_from_json(const json& j, const std::string& where) {
  JsonObject o(j, where);
  SpeculativeSample s;
  s.id = o.get_string("id");
  s.task = o.get_string("task");
  s.equal = o.get_bool("equal");
  s.plain_tokens = o.get_int("plain_tokens");
  s.spec_tokens = o.get_int("spec_tokens");
  s.plain_decode_s = o.get_double("plain_decode_s");
  s.spec_decode_s = o.get_double("spec_decode_s");
  s.rounds = o.get_int("rounds");
  s.drafted = o.get_int("drafted");
  s.accepted = o.get_int("accepted");
  s.position_drafted = o.get_int_list("position_drafted");
  s.position_accepted = o.get_int_list("position_accepted");
  s.k_sum = o.get_int("k_sum");
  s.draft_s = o.get_double("draft_s");
  s.verify_s = o.get_double("verify_s");
  if (s.rounds < 0 || s.drafted < 0 || s.accepted < 0 || s.accepted > s.drafted || s.plain_tokens < 0 || s.spec_tokens < 0 ||
      s.plain_decode_s < 0 || s.spec_decode_s < 0 || s.position_accepted.size() > s.position_drafted.size())
    throw_input("{}: inconsistent counts (negative, accepted > drafted, or more accepted positions than drafted)", where);
  return s;
}

std::map<std::string, SpeculativeSample> read_speculative_log(const std::string& path, bool repair) {
  std::map<std::string, SpeculativeSample> out;
  read_jsonl_log(path, repair, [&out](const json& j, const std::string& where) {
    SpeculativeSample s = speculative_sample_from_json(j, where);
    out[s.id] = std::move(s);  // a later line of an id replaces an earlier one
  });
  return out;
}

namespace {

struct Totals {
  int64_t checked = 0, mismatches = 0, rounds = 0, drafted = 0, accepted = 0, k_sum = 0;
  int64_t plain_after_first = 0, spec_after_first = 0;
  double plain_s = 0, spec_s = 0;
  std::vector<int64_t> position_drafted, position_accepted;

  void add(const SpeculativeSample& s) {
    ++checked;
    mismatches += s.equal ? 0 : 1;
    rounds += s.rounds;
    drafted += s.drafted;
    accepted += s.accepted;
    k_sum += s.k_sum;
    plain_after_first += std::max<int64_t>(0, s.plain_tokens - 1);
    spec_after_first += std::max<int64_t>(0, s.spec_tokens - 1);
    plain_s += s.plain_decode_s;
    spec_s += s.spec_decode_s;
    if (position_drafted.size() < s.position_drafted.size()) position_drafted.resize(s.position_drafted.size());
    if (position_accepted.size() < s.position_drafted.size()) position_accepted.resize(s.position_drafted.size());
    for (size_t j = 0; j < s.position_drafted.size(); ++j) position_drafted[j] += s.position_drafted[j];
    for (size_t j = 0; j < s.position_accepted.size(); ++j) position_accepted[j] += s.position_accepted[j];
  }

  json to_json() const {
    auto ratio = [](double a, double b) { return b > 0 ? json(a / b) : json(nullptr); };
    const json plain_tps = ratio(static_cast<double>(plain_after_first), plain_s);
    const json spec_tps = ratio(static_cast<double>(spec_after_first), spec_s);
    std::vector<double> per_position;
    for (int64_t a : position_accepted) per_position.push_back(rounds > 0 ? static_cast<double>(a) / static_cast<double>(rounds) : 0.0);
    return {{"checked", checked},
            {"mismatches", mismatches},
            {"acceptance_rate", ratio(static_cast<double>(accepted), static_cast<double>(drafted))},
            {"tau", rounds > 0 ? json(1.0 + static_cast<double>(accepted) / static_cast<double>(rounds)) : json(nullptr)},
            {"tau_includes_bonus_token", true},
            {"per_position_acceptance", per_position},
            {"position_drafted", position_drafted},
            {"position_accepted", position_accepted},
            {"rounds", rounds},
            {"drafted", drafted},
            {"accepted", accepted},
            {"mean_k", ratio(static_cast<double>(k_sum), static_cast<double>(rounds))},
            {"plain_decode_tokens_per_s", plain_tps},
            {"speculative_decode_tokens_per_s", spec_tps},
            {"speedup", plain_tps.is_number() && spec_tps.is_number() && plain_tps.get<double>() > 0
                            ? json(spec_tps.get<double>() / plain_tps.get<double>())
                            : json(nullptr)}};
  }
};

}  // namespace

json summarize_speculative(const std::map<std::string, SpeculativeSample>& samples, const std::vector<std::string>& ids) {
  Totals all;
  std::map<std::string, Totals> per_task;
  json mismatched = json::array();
  int64_t not_checked = 0;
  for (const std::string& id : ids) {
    auto it = samples.find(id);
    if (it == samples.end()) {
      ++not_checked;
      continue;
    }
    all.add(it->second);
    per_task[it->second.task].add(it->second);
    if (!it->second.equal && mismatched.size() < 20) mismatched.push_back(id);
  }
  json j = all.to_json();
  j["not_checked"] = not_checked;
  j["mismatched_ids"] = mismatched;
  j["lossless"] = all.checked > 0 && all.mismatches == 0;
  j["tasks"] = json::object();
  for (const auto& [task, t] : per_task) j["tasks"][task] = t.to_json();
  return j;
}

}  // namespace g4u::runner
