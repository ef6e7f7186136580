// Hand-written to match the Python answer parsers of MMMU, VLMEvalKit, MathVista and MMAU; a library would not.
// Answer extraction: reasoning-trace stripping and the benchmark-specific parsers, each a
// documented port of the reference rule (docs/eval-benchmarks.md §1.2, §2, §3.4). Every parser
// reports which rule fired, so per-sample logs can show why an answer was (not) extracted.
#pragma once

#include "eval/rng.h"
#include "eval/unicode.h"

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace g4u::eval {

// --- reasoning traces (§1.2) ---------------------------------------------------------------
struct ReasoningTags {
  std::string name;
  U32 open, close;  // empty = no stripping
};
// "gemma4": <|channel>thought ... <channel|>; "think": <think> ... </think>; "none".
ReasoningTags reasoning_tags(const std::string& name);
std::string reasoning_tag_names();

struct StrippedOutput {
  U32 text;
  bool had_reasoning = false;  // an opening or closing tag was seen
  bool truncated = false;      // opened but never closed: the answer is empty
};
// Everything up to and including the last closing tag is dropped (also when only the closing tag
// is present) and the rest is stripped of surrounding whitespace; an opening tag without any
// closing tag means the output was cut inside the trace: text = "" and truncated = true. Output
// without either tag is returned unchanged.
StrippedOutput strip_reasoning(const U32& raw, const ReasoningTags& tags);

// --- MMMU (official parser, §2.1) ----------------------------------------------------------
struct McParse {
  std::string letter;  // "" when nothing was found (and no random fallback)
  std::string rule;    // bracket | letter-space | letter-dot | content | random-fallback | none
};
// choices[i] is option letter 'A'+i. With `fallback` (the official seeded random.choice), a
// response without a candidate gets a random letter, drawn from *fallback in item order.
McParse mmmu_parse_mc(const U32& response, const std::vector<U32>& choices, PyRandom* fallback = nullptr);

using OpenCandidate = std::variant<double, U32>;  // number rounded to 2 decimals, or lower-case text
std::vector<U32> mmmu_extract_numbers(const U32& s);
std::vector<OpenCandidate> mmmu_normalize_str(const U32& s);
std::vector<OpenCandidate> mmmu_parse_open(const U32& response);
bool mmmu_eval_open(const std::vector<U32>& golds, const std::vector<OpenCandidate>& preds);

// --- MMMU-Pro (official mmmu-pro/evaluate.py) ---------------------------------------------
// When the text after the last "Answer:" contains exactly one option letter (a substring test, as
// the official script does it) that letter wins (rule "answer-colon"); otherwise mmmu_parse_mc.
McParse mmmu_pro_parse_mc(const U32& response, const std::vector<U32>& choices, PyRandom* fallback = nullptr);

// --- VLMEvalKit can_infer (§2.6) -----------------------------------------------------------
struct CanInfer {
  std::string letter;  // "" = no match; "Z" = refusal / explicit Z
  std::string rule;    // refusal | letter-token | z-token | answer-is | text | api-failure | none
};
CanInfer can_infer(const U32& answer, const std::vector<U32>& choices);

// --- MMAU official string match (§3.4) -----------------------------------------------------
bool mmau_string_match(const U32& answer, const U32& prediction, const std::vector<U32>& choices);

// --- MathVista (§2.2) ------------------------------------------------------------------------
struct MathVistaProblem {
  bool multi_choice = false;
  std::string answer_type;  // text | integer | float | list
  int precision = 0;
  std::vector<U32> choices;
};
struct MathVistaResult {
  std::optional<U32> extraction;  // nullopt = nothing extracted (parse failure)
  std::string rule;               // empty | choice-text | int | float | quick | can-infer | last-number | last-list | none
  std::optional<U32> prediction;  // normalized answer (None in Python when it fails)
  bool correct = false;
};
// Quick paths of the official evaluator, then (in place of its LLM extractor, which is not
// available offline) rule-based extraction: can_infer letter for multiple choice, the last number
// for integer/float, the last [...] for lists. Then the official normalisation and str equality.
MathVistaResult mathvista_score(const U32& response, const U32& answer, const MathVistaProblem& p);

// --- MATH-Vision (official evaluation/evaluate.py + utils.py of mathllm/MATH-V) -------------
struct MathVisionResult {
  U32 answer;        // the official `model_answer` after extraction and find_math_answer
  std::string rule;  // letter-pattern | is-number | answer-phrase | boxed | whole-response, "empty" when nothing is left
  bool correct = false;
};
// The official chain: an option letter at the start/end (" C.", "(C)\n", ...), a number after the
// last "is ", the text after "the (final|correct) answer is / should be", the last \boxed{...};
// then find_math_answer (LaTeX clean-up) and is_equal against the gold answer and, for multiple
// choice, the gold option's text. `options` are the choices (empty for free-form questions).
MathVisionResult mathvision_score(const U32& response, const U32& answer, const std::vector<U32>& options);
U32 mathvision_find_math_answer(const U32& s);
// is_equal without latex2sympy (not available offline): lower-case string equality, tuples of
// numbers rounded to 2 decimals, and numeric equality to 2 decimals for plain numbers and
// \frac{a}{b} of numbers. Symbolic equivalences (e.g. \sqrt{2}/2 vs \frac{\sqrt{2}}{2}) are not
// recognised: such items score 0 here where the official script may score 1.
bool mathvision_is_equal(const U32& a, const U32& b);

}  // namespace g4u::eval
