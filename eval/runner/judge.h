// `g4u judge`: judged scores beside judge-free ones. A local model that g4u loads (any preset,
// checkpoint or GGUF) reads the records of a finished evaluation that the rule-based extraction could
// not settle (eval/results/judge_log.h says which and how they are scored) and answers a versioned
// prompt; each decision is appended to <run>/judge.jsonl as it is made (resumable, like
// samples.jsonl), and results.json gets a "judged" block per judged task beside the judge-free score,
// plus the variant's "judge" block. The judge-free numbers are never changed.
//
// The reference harnesses use an API model (GPT-4 for MathVista's answer extraction, ChatGPT for
// MMBench's choice extraction); here the judge is whatever the user can load locally, so the judge
// model and the prompt version are part of every judged number (judge.json, hashed).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace g4u::model {
struct LoadedModel;
}

namespace g4u::runner {

// The judge prompts of one version. Placeholders: {question}, {options} (choice only: "A. text"
// lines) and {response} (the evaluated model's output, reasoning trace stripped).
struct JudgePrompts {
  std::string version, choice, answer;
};
const JudgePrompts& judge_prompts(const std::string& version);  // InputError naming the known versions
std::string judge_prompt_versions();

struct JudgeOptions {
  std::string run_dir;                 // an eval output folder (run.json, samples.jsonl, results.json) or a merged one
  std::string data;                    // the manifest, for question texts; empty: run.json's config.data.manifest
  std::string model, dtype = "fp32";   // the judge (recorded in judge.json)
  uint64_t seed = 0;
  std::string prompt_version = "v1";
  int64_t max_new_tokens_choice = 8;
  int64_t max_new_tokens_answer = 48;
  int64_t batch = 8;                   // judge prompts per generate() call
  int64_t limit = -1;                  // only the first N pending prompts (by id); < 0: all
  std::string reasoning = "gemma4";    // reasoning tags stripped from the judge's own output
  std::function<void(const std::string&)> log;
};

// The judge's config as written to judge.json (schema g4u.judge, with its config_hash).
nlohmann::json judge_config(const JudgeOptions& o, const std::string& results_config_hash);

struct JudgeRun {
  nlohmann::json results;   // results.json with the judged blocks
  std::string results_path;
  size_t requests = 0;      // records that go to the judge
  size_t resumed = 0;       // decided by an earlier call (judge.jsonl)
  size_t judged_now = 0;
  size_t invalid = 0;       // decisions whose output was not usable (all calls)
};

// `load` is called only when there is something left to judge, after every file was checked.
JudgeRun run_judge(const JudgeOptions& options, const std::function<model::LoadedModel()>& load);

}  // namespace g4u::runner
