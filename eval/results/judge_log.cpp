#include "eval/results/judge_log.h"

#include "base/error.h"
#include "base/json_util.h"
#include "eval/extract.h"
#include "eval/unicode.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

namespace g4u::runner {

using json = nlohmann::json;
namespace fs = std::filesystem;

const char* judge_kind_name(JudgeKind k) { return k == JudgeKind::kChoice ? "choice" : "answer"; }

std::optional<JudgeKind> judge_kind(const SampleRecord& r, bool parsed) {
  if (!r.error.empty()) return std::nullopt;  // nothing was generated
  static const std::set<std::string> choice_metrics = {"mmmu-mc", "mmmu-pro", "can-infer", "mmbench-circular"};
  static const std::set<std::string> answer_metrics = {"mmmu-open", "relaxed-accuracy", "exact-match"};
  bool multiple_choice;
  if (choice_metrics.count(r.metric)) multiple_choice = true;
  else if (answer_metrics.count(r.metric)) multiple_choice = false;
  else if (r.metric == "mathvista") multiple_choice = r.question_type.value_or("") == "multi_choice";
  else if (r.metric == "mathvision") multiple_choice = !r.choices.empty();
  else return std::nullopt;
  if (multiple_choice) return parsed ? std::nullopt : std::optional<JudgeKind>(JudgeKind::kChoice);
  return JudgeKind::kAnswer;
}

namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Drops a leading "Answer:" (any case) the judge may add despite the prompt.
std::string drop_answer_prefix(std::string s) {
  static const std::string prefix = "answer:";
  if (s.size() >= prefix.size()) {
    std::string head = s.substr(0, prefix.size());
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == prefix) s = trim(s.substr(prefix.size()));
  }
  return s;
}

// What no answer contains: control characters, U+FFFD (bytes that were not UTF-8) or special-token
// spellings ("<unused7>", "<|image|>", "<turn|>").
bool has_garbage(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 && c != '\t') return true;
  for (const char* bad : {"\xEF\xBF\xBD", "<unused", "<|", "|>"})
    if (s.find(bad) != std::string::npos) return true;
  return false;
}

std::string shown(const std::string& s) { return s.size() <= 60 ? s : s.substr(0, 60) + "..."; }

}  // namespace

JudgeVerdict parse_judge_output(JudgeKind kind, const std::string& output, size_t choices, bool stopped,
                                const std::string& reasoning_tags) {
  JudgeVerdict v;
  const eval::StrippedOutput stripped =
      eval::strip_reasoning(eval::utf8_decode_or_throw(output, "judge output"), eval::reasoning_tags(reasoning_tags));
  if (stripped.truncated) {
    v.problem = "the output ended inside its reasoning trace";
    return v;
  }
  const std::string raw = eval::utf8_encode(stripped.text);
  const std::string text = trim(raw);
  if (kind == JudgeKind::kChoice) {
    std::string s = drop_answer_prefix(text);
    if (!s.empty() && s.back() == '.') s.pop_back();
    if (s.size() == 3 && s.front() == '(' && s.back() == ')') s = s.substr(1, 1);
    if (s.size() == 2 && s.back() == ')') s.pop_back();
    const bool letter = s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z';
    if (letter && static_cast<size_t>(s[0] - 'A') < choices) {
      v.valid = true;
      v.answer = s;
    } else if (letter && s[0] == 'Z') {
      v.valid = true;  // no option, or several
    } else {
      v.problem = fmt::format("expected one option letter A-{} or Z, got '{}'", static_cast<char>('A' + choices - 1), shown(text));
    }
    return v;
  }
  // The answer line must have ended: on a newline, or on the judge's stop token.
  const std::string from_answer = raw.substr(std::min(raw.size(), raw.find_first_not_of(" \t\r\n")));
  if (from_answer.find('\n') == std::string::npos && !stopped) {
    v.problem = "the judge hit its token limit before its answer line ended";
    return v;
  }
  const std::string line = drop_answer_prefix(trim(text.substr(0, text.find('\n'))));
  if (line.empty()) {
    v.problem = "empty output";
  } else if (has_garbage(line)) {
    v.problem = fmt::format("control characters, replaced bytes or special tokens in the answer: '{}'", shown(line));
  } else if (line.size() > 200) {
    v.problem = fmt::format("an answer of {} bytes (at most 200): '{}'", line.size(), shown(line));
  } else {
    v.valid = true;
    std::string upper = line;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper != "NONE") v.answer = line;
  }
  return v;
}

json judge_decision_to_json(const JudgeDecision& d) {
  json j = {{"id", d.id},
            {"task", d.task},
            {"kind", judge_kind_name(d.kind)},
            {"prompt_version", d.prompt_version},
            {"prompt_hash", d.prompt_hash},
            {"output", d.output},
            {"new_tokens", d.new_tokens},
            {"stopped", d.stopped},
            {"valid", d.verdict.valid},
            {"answer", d.verdict.answer ? json(*d.verdict.answer) : json(nullptr)}};
  if (!d.verdict.problem.empty()) j["problem"] = d.verdict.problem;
  if (!d.error.empty()) j["error"] = d.error;
  return j;
}

JudgeDecision judge_decision_from_json(const json& j, const std::string& where) {
  JsonObject o(j, where);
  JudgeDecision d;
  d.id = o.get_string("id");
  d.task = o.get_string("task");
  const std::string kind = o.get_string("kind");
  if (kind == "choice") d.kind = JudgeKind::kChoice;
  else if (kind == "answer") d.kind = JudgeKind::kAnswer;
  else throw_input("{}: expected \"choice\" or \"answer\", got \"{}\"", o.field("kind"), kind);
  d.prompt_version = o.get_string("prompt_version");
  d.prompt_hash = o.get_string("prompt_hash");
  d.output = o.get_string("output");
  d.new_tokens = o.get_int("new_tokens");
  d.stopped = o.get_bool("stopped");
  d.verdict.valid = o.get_bool("valid");
  if (o.has("answer")) d.verdict.answer = o.get_string("answer");
  else o.mark_read("answer");
  d.verdict.problem = o.get_string("problem", "");
  d.error = o.get_string("error", "");
  if (d.new_tokens < 0) throw_input("{}: {} is negative", o.field("new_tokens"), d.new_tokens);
  if (d.verdict.valid && !d.verdict.problem.empty())
    throw_input("{}: a valid decision with a problem ('{}')", where, d.verdict.problem);
  return d;
}

std::string judged_prediction(const JudgeDecision& d) { return d.verdict.answer.value_or(""); }

std::optional<JudgeRecords> read_judge_records(const std::string& dir, bool repair) {
  const std::string config_path = (fs::path(dir) / kJudgeConfigFile).string();
  const std::string log_path = (fs::path(dir) / kJudgeLogFile).string();
  if (!fs::exists(config_path)) {
    if (fs::exists(log_path)) throw_input("{}: a judge log without {} beside it; refusing to guess its judge", log_path, kJudgeConfigFile);
    return std::nullopt;
  }
  JudgeRecords out;
  out.config = read_json_file(config_path);
  if (!out.config.is_object() || out.config.value("schema", "") != kJudgeConfigSchema)
    throw_input("{}: field 'schema': expected \"{}\" (not a g4u judge config)", config_path, kJudgeConfigSchema);
  for (const char* key : {"prompt_version", "config_hash"})
    if (!out.config.contains(key) || !out.config[key].is_string())
      throw_input("{}: field '{}': expected a string", config_path, key);
  const std::string version = out.config["prompt_version"].get<std::string>();
  read_jsonl_log(log_path, repair, [&](const json& j, const std::string& where) {
    JudgeDecision d = judge_decision_from_json(j, where);
    if (d.prompt_version != version)
      throw_input("{}: field 'prompt_version': \"{}\" but {} says \"{}\"", where, d.prompt_version, config_path, version);
    out.decisions[d.id] = std::move(d);
  });
  return out;
}

json judged_task(const TaskGroup& g, const JudgeRecords& judge, Scorer& scorer) {
  std::vector<SampleRecord> judged;  // copies, predictions replaced where the judge answered
  judged.reserve(g.records.size());
  int64_t sent = 0, valid = 0, no_answer = 0, changed = 0, invalid = 0, missing = 0;
  json invalid_ids = json::array(), missing_ids = json::array();
  for (const SampleRecord* r : g.records) {
    SampleRecord free_copy = *r;
    scorer.score_one(free_copy);  // the authoritative judge-free extraction
    SampleRecord j = *r;
    if (judge_kind(free_copy, free_copy.parsed)) {
      ++sent;
      auto it = judge.decisions.find(r->id);
      if (it == judge.decisions.end()) {
        ++missing;
        if (missing_ids.size() < 20) missing_ids.push_back(r->id);
      } else if (!it->second.verdict.valid) {
        ++invalid;
        if (invalid_ids.size() < 20) invalid_ids.push_back(r->id);
      } else {
        ++valid;
        if (!it->second.verdict.answer) ++no_answer;
        j.prediction = judged_prediction(it->second);
        scorer.score_one(j);
        if (j.score != free_copy.score) ++changed;
      }
    }
    judged.push_back(std::move(j));
  }
  if (sent == 0) return nullptr;
  TaskGroup jg = g;
  jg.records.clear();
  for (const SampleRecord& r : judged) jg.records.push_back(&r);
  eval::ScoreOptions so = scorer.score_options(g.normalizer);
  json s = eval::summarize(evaluate_group(jg, scorer), so, /*per_item=*/false);
  json out = {{"sent", sent},           {"judged", valid},        {"no_answer", no_answer},
              {"changed", changed},     {"invalid", invalid},     {"invalid_ids", invalid_ids},
              {"missing", missing},     {"missing_ids", missing_ids}};
  for (const char* key : {"metric", "n", "score", "stderr", "stderr_method", "ci95"})
    if (s.contains(key)) out[key] = s[key];
  return out;
}

void add_judged_scores(json& results, const std::vector<SampleRecord>& records, const JudgeRecords& judge, Scorer& scorer) {
  json& v = results["variants"][0];
  std::vector<TaskGroup> groups = group_by_task(records);
  int64_t sent = 0, valid = 0, invalid = 0, missing = 0, changed = 0;
  json tasks_judged = json::array();
  std::set<std::string> ids;
  for (const auto& r : records) ids.insert(r.id);
  for (json& t : v["tasks"]) {
    for (const TaskGroup& g : groups) {
      if (g.key != t["key"].get<std::string>()) continue;
      json j = judged_task(g, judge, scorer);
      t["judged"] = j;
      if (j.is_null()) continue;
      tasks_judged.push_back(g.key);
      sent += j["sent"].get<int64_t>();
      valid += j["judged"].get<int64_t>();
      invalid += j["invalid"].get<int64_t>();
      missing += j["missing"].get<int64_t>();
      changed += j["changed"].get<int64_t>();
    }
  }
  int64_t unknown = 0;  // decisions for ids this folder does not hold (e.g. a log copied from elsewhere)
  for (const auto& [id, d] : judge.decisions) unknown += ids.count(id) ? 0 : 1;
  v["judge"] = {{"config", judge.config},
                {"log", kJudgeLogFile},
                {"tasks", tasks_judged},
                {"sent", sent},
                {"judged", valid},
                {"invalid", invalid},
                {"missing", missing},
                {"changed", changed},
                {"decisions_for_unknown_ids", unknown},
                {"complete", missing == 0}};
}

}  // namespace g4u::runner
