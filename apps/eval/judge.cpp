// g4u judge: a local judge model reads the unparsed multiple-choice and the free-form answers of a
// finished evaluation -> <run>/judge.jsonl (resumable) and judged scores beside the judge-free ones
// in <run>/results.json.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/model_flags.h"
#include "eval/runner/judge.h"

#include <fmt/format.h>

#include <unistd.h>

namespace g4u::app {
namespace {

struct JudgeFlags {
  ModelFlags model;
  runner::JudgeOptions opt;
  bool json = false;
};

void print_human(const runner::JudgeRun& r) {
  fmt::print(stderr, "{} records to judge: {} decided earlier, {} now, {} invalid judge outputs -> {}\n", r.requests,
             r.resumed, r.judged_now, r.invalid, r.results_path);
  auto num = [](const nlohmann::json& x) { return x.is_number() ? fmt::format("{:.4g}", x.get<double>()) : std::string("n/a"); };
  for (const auto& t : r.results["variants"][0]["tasks"]) {
    if (!t.contains("judged") || t["judged"].is_null()) continue;
    const auto& j = t["judged"];
    fmt::print(stderr, "  {:<20} {:<16} judge-free {} | judged {} (sent {}, changed {}, invalid {}, missing {})\n",
               t["key"].get<std::string>(), t["metric"].get<std::string>(), num(t["score"]), num(j["score"]),
               j["sent"].get<int64_t>(), j["changed"].get<int64_t>(), j["invalid"].get<int64_t>(), j["missing"].get<int64_t>());
  }
}

Command judge_cmd("judge", "Judge unparsed and free-form answers of an evaluation with a local model -> judged scores beside judge-free ones",
                  [](CLI::App& sub) {
  auto f = std::make_shared<JudgeFlags>();
  runner::JudgeOptions& o = f->opt;
  sub.add_option("--run", o.run_dir, "A finished `g4u eval` (or `g4u merge`) output folder")->required();
  add_model_flags(sub, f->model);
  sub.add_option("--data", o.data, "The evaluation's manifest, for the question texts (default: the one it read)");
  sub.add_option("--prompt-version", o.prompt_version, "Judge prompt version: " + runner::judge_prompt_versions())
      ->capture_default_str();
  sub.add_option("--max-new-tokens-choice", o.max_new_tokens_choice, "Judge tokens for a choice decision")->capture_default_str();
  sub.add_option("--max-new-tokens-answer", o.max_new_tokens_answer, "Judge tokens for an extracted answer")->capture_default_str();
  sub.add_option("--batch", o.batch, "Judge prompts per generate() call")->capture_default_str();
  sub.add_option("--limit", o.limit, "Only the first N pending judge prompts (-1: all)")->capture_default_str();
  sub.add_option("--judge-reasoning-tags", o.reasoning, "Reasoning trace stripped from the judge's output")->capture_default_str();
  sub.add_flag("--json", f->json, "Print results.json on stdout");
  return [f]() -> int {
    runner::JudgeOptions o = f->opt;
    o.model = f->model.model;
    o.dtype = f->model.dtype;
    o.seed = f->model.seed;
    parse_dtype_flag(o.dtype);
    bool tty = ::isatty(STDERR_FILENO);
    o.log = [tty](const std::string& line) {
      if (tty || line.rfind("warning", 0) == 0) fmt::print(stderr, "{}\n", line);
    };
    const ModelFlags mf = f->model;
    runner::JudgeRun r = runner::run_judge(o, [mf]() { return load_from_flags(mf); });
    if (f->json) print_json(r.results);
    else print_human(r);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
