// Judged scores beside judge-free ones (`g4u judge`, eval/runner/judge.h): what a local judge model
// decided for the records of an evaluation, and the "judged" blocks of results.json computed from
// those decisions. Everything here is torch-free and recomputable from the logs, so the runner (on
// resume), `g4u judge` and `g4u merge` all give the same judged numbers for the same decisions.
//
// Which records go to the judge (judge_kind):
//   choice  multiple-choice records whose rule-based extraction found no option (parsed == false):
//           mmmu-mc, mmmu-pro, can-infer, mmbench-circular, MathVista multi_choice and MATH-Vision
//           items with choices. The judge names the option the answer chose (MMBench's and
//           VLMEvalKit's choice extraction). MMAU has no extraction step (its official score is a
//           string match of the whole output), so nothing of it is "unparsed".
//   answer  every free-form record: mmmu-open, MathVista free_form, MATH-Vision without choices,
//           relaxed-accuracy, exact-match. The judge extracts the final answer (MathVista's answer
//           extraction step).
// Records that failed before generation, and metrics scored by string similarity or error rates
// (MMAU, ANLS, VQA accuracy, WER, CER, BLEU, chrF), are never sent: the reference harnesses use no judge there.
//
// The judged score of a task is the task's own metric over its records with the prediction of each
// validly judged record replaced by the judge's answer (judged_prediction); the judge never decides
// correctness itself. A record whose judge output is invalid (garbage) or that has no decision yet
// keeps its judge-free prediction, and is counted and listed by id in the block.
#pragma once

#include "eval/results/results.h"
#include "eval/results/sample_log.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace g4u::runner {

inline constexpr const char* kJudgeLogFile = "judge.jsonl";      // one decision per line
inline constexpr const char* kJudgeConfigFile = "judge.json";    // the judge's config (hashed)
inline constexpr const char* kJudgeConfigSchema = "g4u.judge";

enum class JudgeKind { kChoice, kAnswer };
const char* judge_kind_name(JudgeKind k);  // choice | answer

// How `r` goes to the judge; nullopt when it does not. `parsed` is the record's judge-free
// extraction result (Scorer::score_one).
std::optional<JudgeKind> judge_kind(const SampleRecord& r, bool parsed);

// What a judge output means, after its reasoning trace is stripped.
struct JudgeVerdict {
  bool valid = false;
  std::optional<std::string> answer;  // the option letter or the extracted answer; nullopt: "no answer"
  std::string problem;                // why an output is invalid
};
// choice: one capital letter of the record's options (an optional "Answer:" prefix, brackets or a
// final period allowed), or Z for "none or several". answer: the first non-empty line (an optional
// "Answer:" prefix dropped), NONE for "no answer", at most 200 bytes; an output that hit the judge's
// token limit before that line ended is invalid.
JudgeVerdict parse_judge_output(JudgeKind kind, const std::string& output, size_t choices, bool stopped,
                                const std::string& reasoning_tags);

struct JudgeDecision {
  std::string id, task;
  JudgeKind kind = JudgeKind::kAnswer;
  std::string prompt_version, prompt_hash;  // "fnv1a64:<16 hex>" of the rendered judge prompt
  std::string output;                       // raw judge output (special tokens kept, stop token dropped)
  int64_t new_tokens = 0;
  bool stopped = false;
  std::string error;                        // non-empty: the judge prompt could not be run (e.g. too long)
  JudgeVerdict verdict;
};
nlohmann::json judge_decision_to_json(const JudgeDecision& d);
JudgeDecision judge_decision_from_json(const nlohmann::json& j, const std::string& where);

// The prediction a validly judged record is scored with: the judge's answer (for a choice, the
// option letter, which every choice metric above parses); "" for "no answer".
std::string judged_prediction(const JudgeDecision& d);

// What `g4u judge` left in a results folder: judge.json's object and judge.jsonl's decisions by id
// (a later line of an id replaces an earlier one).
struct JudgeRecords {
  nlohmann::json config;
  std::map<std::string, JudgeDecision> decisions;
};
// nullopt when the folder has no judge.json. InputError naming the file for a bad config or line,
// and for a judge.jsonl without judge.json.
std::optional<JudgeRecords> read_judge_records(const std::string& dir, bool repair = false);

// The "judged" block of a task: null when none of its records goes to the judge; else score,
// stderr, stderr_method, ci95, n (as the judge-free block), sent, judged, no_answer, changed (records
// whose judged score differs from the judge-free one), invalid, invalid_ids, missing, missing_ids
// (ids: the first 20).
nlohmann::json judged_task(const TaskGroup& g, const JudgeRecords& judge, Scorer& scorer);

// Adds the judged blocks to a results object built by build_results from `records`: each task's
// "judged", and the variant's "judge" block (the judge's config and the totals over tasks).
void add_judged_scores(nlohmann::json& results, const std::vector<SampleRecord>& records, const JudgeRecords& judge,
                       Scorer& scorer);

}  // namespace g4u::runner
