#include "eval/runner/judge.h"

#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"
#include "datasets/manifest/manifest.h"
#include "eval/extract.h"
#include "eval/results/judge_log.h"
#include "eval/results/merge.h"
#include "eval/unicode.h"
#include "model/io/loader.h"
#include "model/text/chat.h"
#include "model/text/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace g4u::runner {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Version 1. A new wording is a new version: old decisions stay tied to the prompt they answered.
const JudgePrompts kPromptsV1{
    "v1",
    "You are checking which option an answer to a multiple-choice question chose.\n\n"
    "Question: {question}\n\n"
    "Options:\n{options}\n\n"
    "Answer: {response}\n\n"
    "Which option does the answer choose? Reply with the option's letter only. If it chooses no option, or more "
    "than one, reply Z.",
    "You are extracting the final answer from a response to a question.\n\n"
    "Question: {question}\n\n"
    "Response: {response}\n\n"
    "Reply with the final answer the response gives, on one line, without explanation (a number, a letter, a word "
    "or a short phrase, as the response states it). If the response gives no answer, reply NONE.",
};

std::string fill(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    const std::string slot = "{" + key + "}";
    for (size_t pos = text.find(slot); pos != std::string::npos; pos = text.find(slot, pos + value.size()))
      text.replace(pos, slot.size(), value);
  }
  return text;
}

// The question as text: the line's question, or the text parts of its user messages.
std::string question_text(const datasets::Sample& s) {
  std::string q = s.question;
  for (const auto& m : s.messages) {
    if (m.role != "user") continue;
    for (const auto& part : m.content)
      if (part.kind == datasets::ContentPart::Kind::kText) q += (q.empty() ? "" : "\n") + part.text;
  }
  return q.empty() ? std::string("(shown in an image or audio clip; not available as text)") : q;
}

struct Request {
  const SampleRecord* record = nullptr;
  JudgeKind kind = JudgeKind::kAnswer;
};

}  // namespace

const JudgePrompts& judge_prompts(const std::string& version) {
  if (version == kPromptsV1.version) return kPromptsV1;
  throw_input("--prompt-version '{}': unknown (known: {})", version, judge_prompt_versions());
}

std::string judge_prompt_versions() { return kPromptsV1.version; }

json judge_config(const JudgeOptions& o, const std::string& results_config_hash) {
  const JudgePrompts& p = judge_prompts(o.prompt_version);
  json c = {{"schema", kJudgeConfigSchema},
            {"prompt_version", p.version},
            {"prompt_hashes", {{"choice", "fnv1a64:" + hex64(fnv1a64(p.choice))}, {"answer", "fnv1a64:" + hex64(fnv1a64(p.answer))}}},
            {"model", {{"source", o.model}, {"dtype", o.dtype}, {"seed", o.seed}}},
            {"decoding", "greedy"},
            {"thinking", false},
            {"max_new_tokens", {{"choice", o.max_new_tokens_choice}, {"answer", o.max_new_tokens_answer}}},
            {"reasoning_tags", o.reasoning},
            {"results_config_hash", results_config_hash}};
  c["config_hash"] = config_hash(c);
  return c;
}

JudgeRun run_judge(const JudgeOptions& o, const std::function<model::LoadedModel()>& load) {
  auto say = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  if (o.batch < 1) throw_input("--batch: must be at least 1, got {}", o.batch);
  if (o.max_new_tokens_choice < 1 || o.max_new_tokens_answer < 1) throw_input("--max-new-tokens: must be at least 1");
  eval::reasoning_tags(o.reasoning);  // an unknown name fails before anything is read
  const std::string results_path = (fs::path(o.run_dir) / "results.json").string();
  const std::string samples_path = (fs::path(o.run_dir) / "samples.jsonl").string();
  if (!fs::exists(results_path))
    throw_input("{}: missing (judge a finished `g4u eval` or `g4u merge` folder)", results_path);
  json results = read_results(results_path);
  const json& config = results["config"];
  Scorer scorer(scoring_from_config(config, results_path, ""));
  SampleLog log = read_sample_log(samples_path);
  if (log.torn_tail) say(fmt::format("warning: {}: a torn last line is ignored (finish the eval first)", samples_path));

  // Which records go to the judge, by id.
  std::vector<Request> requests;
  for (const SampleRecord& r : log.records) {
    SampleRecord scored = r;
    scorer.score_one(scored);
    if (auto kind = judge_kind(scored, scored.parsed)) requests.push_back({&r, *kind});
  }
  std::sort(requests.begin(), requests.end(), [](const Request& a, const Request& b) { return a.record->id < b.record->id; });

  // The judge's identity: a resumed call must be the same judge, prompt and evaluation.
  json jc = judge_config(o, results["config_hash"].get<std::string>());
  const std::string config_path = (fs::path(o.run_dir) / kJudgeConfigFile).string();
  const std::string judge_log_path = (fs::path(o.run_dir) / kJudgeLogFile).string();
  if (fs::exists(config_path)) {
    json prev = read_json_file(config_path);
    if (!prev.is_object() || prev.value("config_hash", "") != jc["config_hash"].get<std::string>()) {
      std::string differs = "config_hash";
      if (prev.is_object())
        for (const auto& [key, value] : jc.items())
          if (key != "config_hash" && (!prev.contains(key) || prev[key] != value)) {
            differs = key;
            break;
          }
      throw_input("{}: field '{}': this folder was judged with another judge config ({} there, {} now); remove {} and {} "
                  "to judge again",
                  config_path, differs, prev.is_object() && prev.contains(differs) ? prev[differs].dump() : "missing",
                  jc[differs].dump(), kJudgeConfigFile, kJudgeLogFile);
    }
  } else if (fs::exists(judge_log_path)) {
    throw_input("{}: a judge log without {}; refusing to mix judges (remove it to judge again)", judge_log_path, kJudgeConfigFile);
  } else {
    write_file_atomic(config_path, jc.dump(2) + "\n");
  }

  SampleLogWriter writer(judge_log_path);  // exclusive lock first, then repair
  std::optional<JudgeRecords> done = read_judge_records(o.run_dir, /*repair=*/true);
  std::vector<Request> pending;
  size_t resumed = 0;
  for (const Request& q : requests) {
    if (done && done->decisions.count(q.record->id)) ++resumed;
    else pending.push_back(q);
  }
  if (o.limit >= 0 && pending.size() > static_cast<size_t>(o.limit)) pending.resize(static_cast<size_t>(o.limit));
  say(fmt::format("{} records go to the judge: {} decided earlier, {} to judge now", requests.size(), resumed, pending.size()));

  size_t judged_now = 0;
  if (!pending.empty()) {
    // Question texts from the manifest the evaluation read (or --data).
    std::string manifest = o.data;
    if (manifest.empty()) {
      if (!config.contains("data") || !config["data"].is_object() || !config["data"].value("manifest", json()).is_string())
        throw_input("{}: field 'config.data.manifest': missing; pass --data", results_path);
      manifest = config["data"]["manifest"].get<std::string>();
    }
    if (!fs::exists(manifest))
      throw_input("{}: the manifest of this evaluation is missing (from {}); pass --data with its current location", manifest,
                  o.data.empty() ? results_path + " config.data.manifest" : std::string("--data"));
    datasets::ReaderOptions ro;
    ro.media = datasets::MediaCheck::kNone;
    ro.skip_invalid = config["data"].value("skip_invalid", false);
    std::map<std::string, std::string> questions;
    for (const datasets::Sample& s : datasets::read_manifest(manifest, ro)) questions[s.id] = question_text(s);

    model::LoadedModel lm = load();
    const JudgePrompts& prompts = judge_prompts(o.prompt_version);
    const eval::ReasoningTags eval_tags = eval::reasoning_tags(scorer.options().reasoning);
    for (JudgeKind kind : {JudgeKind::kChoice, JudgeKind::kAnswer}) {
      std::vector<const Request*> todo;
      for (const Request& q : pending)
        if (q.kind == kind) todo.push_back(&q);
      const int64_t max_new = kind == JudgeKind::kChoice ? o.max_new_tokens_choice : o.max_new_tokens_answer;
      for (size_t start = 0; start < todo.size(); start += static_cast<size_t>(o.batch)) {
        const size_t end = std::min(todo.size(), start + static_cast<size_t>(o.batch));
        std::vector<JudgeDecision> decisions;
        std::vector<std::vector<int64_t>> ids;
        std::vector<size_t> rows;  // decisions[rows[b]] is generated as row b
        for (size_t k = start; k < end; ++k) {
          const SampleRecord& r = *todo[k]->record;
          JudgeDecision d;
          d.id = r.id;
          d.task = r.task;
          d.kind = kind;
          d.prompt_version = prompts.version;
          auto qi = questions.find(r.id);
          if (qi == questions.end()) {
            d.error = fmt::format("id {} is not in the manifest {}", r.id, manifest);
          } else {
            std::string options;
            for (size_t c = 0; c < r.choices.size(); ++c) options += fmt::format("{}{}. {}", c ? "\n" : "", static_cast<char>('A' + c), r.choices[c]);
            const eval::StrippedOutput response = eval::strip_reasoning(eval::utf8_decode_or_throw(r.prediction, r.where), eval_tags);
            const std::string text =
                fill(kind == JudgeKind::kChoice ? prompts.choice : prompts.answer,
                     {{"question", qi->second}, {"options", options}, {"response", eval::utf8_encode(response.text)}});
            const std::string chat = model::render_chat({model::ChatMessage::plain("user", text)}, model::ChatOptions{});
            d.prompt_hash = "fnv1a64:" + hex64(fnv1a64(chat));
            std::vector<int64_t> prompt = lm.tokenizer->encode(chat);
            try {
              model::check_fits_positions(lm.model->config().text, static_cast<int64_t>(prompt.size()), max_new, r.id);
              rows.push_back(decisions.size());
              ids.push_back(std::move(prompt));
            } catch (const InputError& e) {
              d.error = e.what();
            }
          }
          if (!d.error.empty()) d.verdict.problem = "the judge prompt was not run: " + d.error;
          decisions.push_back(std::move(d));
        }
        if (!ids.empty()) {
          model::GenerateOptions go;
          go.max_new_tokens = max_new;
          go.sampling.temperature = 0;  // greedy
          model::GenerateResult g = model::generate(*lm.model, ids, go);
          for (size_t b = 0; b < rows.size(); ++b) {
            JudgeDecision& d = decisions[rows[b]];
            std::vector<int64_t> tokens = g.tokens[b];
            d.new_tokens = static_cast<int64_t>(tokens.size());
            d.stopped = g.stopped[b];
            if (d.stopped && !tokens.empty()) tokens.pop_back();
            d.output = sanitize_utf8(lm.tokenizer->decode(tokens, /*skip_special=*/false));
            const SampleRecord& r = *todo[start + rows[b]]->record;
            d.verdict = parse_judge_output(kind, d.output, r.choices.size(), d.stopped, o.reasoning);
          }
        }
        for (const JudgeDecision& d : decisions) {
          writer.append_json(judge_decision_to_json(d));
          ++judged_now;
          if (!d.verdict.valid) say(fmt::format("warning: judge output for {} is invalid: {}", d.id, d.verdict.problem));
        }
        say(fmt::format("{} of {} judged", judged_now, pending.size()));
      }
    }
  }

  // results.json: the judge-free blocks as they are, the judged ones recomputed from all decisions.
  std::optional<JudgeRecords> all = read_judge_records(o.run_dir);
  add_judged_scores(results, log.records, *all, scorer);
  write_file_atomic(results_path, results.dump(2) + "\n");
  JudgeRun out;
  out.results = results;
  out.results_path = results_path;
  out.requests = requests.size();
  out.resumed = resumed;
  out.judged_now = judged_now;
  for (const Request& q : requests) {
    auto it = all->decisions.find(q.record->id);
    if (it != all->decisions.end() && !it->second.verdict.valid) ++out.invalid;
  }
  return out;
}

}  // namespace g4u::runner
