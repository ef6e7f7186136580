// The task registry: every task name a manifest line may carry, with what the evaluation runner
// needs to know about it (modality, answer type, metric, normalizer, generation budget, prompt
// template). Synthetic suites (datasets/synth/synth.h) and benchmark adapters (datasets/benchmarks/benchmarks.h)
// write lines for these tasks; the runner looks them up here and knows nothing task-specific.
//
// Prompt templates (rendered by datasets/prompt/prompt.h):
//   {question}     the line's `question`
//   {options}      the line's `choices`, one per line as "A. text" (letters A, B, ...)
//   {meta:KEY}     the string meta[KEY] of the line
//   {{ and }}      literal { and }
// Everything else is literal text. The benchmark templates are the lmms-eval ones described in
// shared/docs/eval-benchmarks.md §2-§3 (see datasets/README.md for the per-task sources).
#pragma once

#include "base/registry.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace g4u::datasets {

enum class Modality { kText, kImage, kAudio };
const char* modality_name(Modality m);  // text | image | audio

// What `answers` holds for a task (validated per line):
//   kText    non-empty strings
//   kNumber  JSON numbers (finite); scored as their canonical strings (see canonical_number)
//   kLetter  single capital letters "A".."Z", within the line's choices when it has choices
//   kChoice  strings, each one of the line's choices (MMAU stores the choice text)
enum class AnswerType { kText, kNumber, kLetter, kChoice };
const char* answer_type_name(AnswerType t);  // text | number | letter | choice

// A per-category breakdown of a task's score (results.json "breakdowns"): the records are grouped
// by the value(s) at `meta_path` of their manifest line's meta ("subject", "metadata.skills"; a
// dot descends into an object). A list value puts the record in one group per element (MathVista
// skills); a number is used as its decimal text (MATH-Vision levels).
struct Breakdown {
  std::string name;       // "subject", "skill", "language", ...
  std::string meta_path;  // where the value is in the line's meta
};

struct TaskInfo {
  std::string name;         // stable: appears in manifests and results
  std::string description;
  std::string source;       // "synthetic" or the benchmark ("mmmu", "chartqa", ...)
  Modality modality = Modality::kText;  // image tasks need >= 1 image, audio tasks >= 1 audio, text none
  AnswerType answer_type = AnswerType::kText;
  std::string metric;       // a name of eval's metric registry (g4u score --metric)
  std::string normalizer = "none";  // default --normalizer for the metric (a line's meta.normalizer overrides)
  int max_new_tokens = 32;
  std::string prompt_template;
  bool needs_choices = false;  // lines must carry `choices` (2..26 of them); the template shows them unless
                               // they are inside the media (MMMU-Pro vision)
  std::vector<Breakdown> breakdowns = {};  // per-category scores computed for the task's benchmark
  bool uses_question() const { return prompt_template.find("{question}") != std::string::npos; }
};

// Adding a task = adding one record in build_task_registry() (datasets/tasks/tasks.cpp); its metric and
// normalizer must name records of eval's registries (checked by tests/datasets/manifest_test.cpp).
const Registry<TaskInfo>& task_registry();
// Shorthands of task_registry(): InputError "unknown task 'x' (known: ...)"; nullptr; the names.
inline const TaskInfo& find_task(const std::string& name) { return task_registry().find(name); }
inline const TaskInfo* lookup_task(const std::string& name) { return task_registry().lookup(name); }
inline std::string task_names() { return task_registry().names(); }
nlohmann::json task_json(const TaskInfo& t);

// The group(s) a line with `meta` falls in for breakdown `b`: a string value, a list of strings
// (one group each), or an integer (its decimal text); empty when the path is absent or null.
// InputError "<where>: field 'meta.<path>': ..." for any other value.
std::vector<std::string> breakdown_values(const nlohmann::json& meta, const Breakdown& b, const std::string& where);

// The string a JSON number answer is scored as: integral values within 2^53 as plain integers
// ("3", "-12"), other values in the shortest form that reads back to the same double ("2.5",
// "0.1", "1e+21"). InputError-free; the caller checks finiteness.
std::string canonical_number(double v);

}  // namespace g4u::datasets
