#include "datasets/tasks/tasks.h"

#include "base/error.h"

#include <fmt/format.h>

#include <cmath>

namespace g4u::datasets {

const char* modality_name(Modality m) {
  switch (m) {
    case Modality::kText: return "text";
    case Modality::kImage: return "image";
    case Modality::kAudio: return "audio";
  }
  return "?";
}

const char* answer_type_name(AnswerType t) {
  switch (t) {
    case AnswerType::kText: return "text";
    case AnswerType::kNumber: return "number";
    case AnswerType::kLetter: return "letter";
    case AnswerType::kChoice: return "choice";
  }
  return "?";
}

namespace {

// Instructions of the reference harnesses (eval-benchmarks.md), shared by the tasks that use them.
constexpr const char* kLetterInstruction = "Answer with the option's letter from the given choices directly.";
constexpr const char* kShortPhrase = "Answer the question using a single word or phrase.";
constexpr const char* kMmmuProDirect = "Answer with the option letter from the given choices directly.";
constexpr const char* kMmmuProAnswerLine =
    "The last line of your response should be of the following format: 'Answer: $LETTER' (without quotes) where "
    "LETTER is one of options.";
constexpr const char* kMathVisionPrompt = "Please solve the problem step by step and put your answer in one \"\\boxed{{}}\".";
constexpr const char* kAsrPrompt = "Please recognize the speech and only output the recognized content:";

Registry<TaskInfo> build_task_registry() {
  using M = Modality;
  using A = AnswerType;
  const std::string letter = kLetterInstruction;
  const std::string phrase = kShortPhrase;
  Registry<TaskInfo> r("task");
  auto add = [&](TaskInfo t) { r.add(std::move(t)); };

  // --- synthetic suites (datasets/synth/synth.cpp) ------------------------------------------------------
  add({"count-shapes", "count the shapes of one colour in a 64x64 image (1-5)", "synthetic", M::kImage, A::kNumber,
       "exact-match", "none", 4, "{question}\nAnswer with a single number."});
  add({"spatial", "where one shape is relative to another (left/right/above/below), 64x64", "synthetic", M::kImage,
       A::kText, "exact-match", "none", 4, "{question}\nAnswer with one word: left, right, above or below."});
  add({"chart-highest", "which of four lettered bars is highest, 96x96 bar chart (ChartQA-like)", "synthetic",
       M::kImage, A::kLetter, "relaxed-accuracy", "none", 16, "{question}\nAnswer the question with a single word."});
  add({"chart-value", "read the value (1-9) of one bar of a 96x96 bar chart with grid lines (ChartQA-like)",
       "synthetic", M::kImage, A::kNumber, "relaxed-accuracy", "none", 16,
       "{question}\nAnswer the question with a single word."});
  add({"read-digits", "read a 4-digit string drawn with a 5x7 bitmap font, 64x64 (DocVQA-like)", "synthetic",
       M::kImage, A::kText, "exact-match", "none", 16, "{question}\n" + phrase});
  add({"diagram-mc", "multiple choice over a diagram of four coloured shapes (MMMU-like letters)", "synthetic",
       M::kImage, A::kLetter, "mmmu-mc", "none", 16, "{question}\n{options}\n\n" + letter, true});
  add({"spoken-digits", "ASR of three spoken digits (espeak-ng, several voices and speeds)", "synthetic", M::kAudio,
       A::kText, "wer", "whisper-basic", 32, kAsrPrompt});
  add({"spoken-words", "ASR of two spoken words from a 16-word vocabulary (espeak-ng)", "synthetic", M::kAudio,
       A::kText, "wer", "whisper-basic", 32, kAsrPrompt});
  add({"count-beeps", "count the beeps (1-5) in a 2 s clip", "synthetic", M::kAudio, A::kNumber, "exact-match", "none",
       4, "{question}\nAnswer with a single number."});
  add({"tone-compare", "which of two tones is higher (first/second)", "synthetic", M::kAudio, A::kText, "exact-match",
       "none", 4, "{question}\nAnswer with one word: first or second."});
  add({"spoken-mc", "spoken phrase, multiple-choice question about it (MMAU-like, answer = choice text)",
       "synthetic", M::kAudio, A::kChoice, "mmau", "none", 16,
       "{question}\n{options}\nAnswer with the text of the correct option.", true});
  add({"arith", "short arithmetic chains with single-digit operands, answer 0-19", "synthetic", M::kText,
       A::kNumber, "exact-match", "none", 8, "{question}\nAnswer with a single number."});
  add({"rule-chain", "apply 2-4 list rules (swap, reverse, rotate) to four letters", "synthetic", M::kText, A::kText,
       "exact-match", "none", 16, "{question}\nAnswer with the four letters separated by spaces."});
  add({"sequence", "continue an arithmetic sequence by five terms (long predictable answers, for MTP studies)",
       "synthetic", M::kText, A::kText, "exact-match", "none", 32, "{question}"});

  // --- public benchmarks (datasets/benchmarks/benchmarks.cpp; prompts as lmms-eval builds them) -------------
  const std::vector<Breakdown> by_subject = {{"subject", "subject"}, {"discipline", "discipline"}};
  add({"mmmu-val-mc", "MMMU validation, multiple-choice questions", "mmmu", M::kImage, A::kLetter, "mmmu-mc", "none",
       128, "{question}\n{options}\n\n" + letter, true, by_subject});
  add({"mmmu-val-open", "MMMU validation, open questions", "mmmu", M::kImage, A::kText, "mmmu-open", "none", 128,
       "{question}\n\n" + phrase, false, by_subject});
  // MMMU-Pro: the official direct prompts (MMMU-Benchmark/MMMU mmmu-pro/prompts.yaml); in the vision
  // setting the question and options are inside the one image and the prompt is the instruction alone.
  add({"mmmu-pro-standard", "MMMU-Pro standard (10 options), official direct prompt", "mmmu-pro", M::kImage,
       A::kLetter, "mmmu-pro", "none", 128, "{question}\n{options}\n" + std::string(kMmmuProDirect), true,
       by_subject});
  add({"mmmu-pro-vision", "MMMU-Pro vision (question and options inside the image), official direct prompt",
       "mmmu-pro", M::kImage, A::kLetter, "mmmu-pro", "none", 128,
       std::string(kMmmuProDirect) + " " + kMmmuProAnswerLine, true, by_subject});
  add({"mathvista-testmini", "MathVista testmini; prompt = the official `query`", "mathvista", M::kImage, A::kText,
       "mathvista", "none", 16384, "{question}", false,
       {{"skill", "metadata.skills"}, {"task_type", "metadata.task"}}});
  // MATH-Vision: lmms-eval's prompt (no space after the instruction, as there); the official
  // evaluator's answer extraction.
  const std::vector<Breakdown> by_math_subject = {{"subject", "subject"}, {"level", "level"}};
  add({"mathvision-mc", "MATH-Vision multiple choice (answer = option letter)", "mathvision", M::kImage, A::kLetter,
       "mathvision", "none", 16384, std::string(kMathVisionPrompt) + "{question}\nChoices: {options}", true,
       by_math_subject});
  add({"mathvision-free", "MATH-Vision free-form answers", "mathvision", M::kImage, A::kText, "mathvision", "none",
       16384, std::string(kMathVisionPrompt) + "{question}", false, by_math_subject});
  add({"chartqa", "ChartQA test (human + augmented)", "chartqa", M::kImage, A::kText, "relaxed-accuracy", "none", 16,
       "{question}\nAnswer the question with a single word."});
  add({"docvqa-val", "DocVQA validation", "docvqa", M::kImage, A::kText, "anls", "none", 32, "{question}\n" + phrase});
  add({"infovqa-val", "InfographicVQA validation", "infovqa", M::kImage, A::kText, "anls", "none", 32,
       "{question}\n" + phrase});
  add({"ai2d", "AI2D test (diagram multiple choice)", "ai2d", M::kImage, A::kLetter, "can-infer", "none", 16,
       "{question}\n{options}\n" + letter, true});
  add({"textvqa-val", "TextVQA validation (10 human answers)", "textvqa", M::kImage, A::kText, "vqa-accuracy", "none",
       32, "{question}\n" + phrase});
  add({"mmbench-en-dev", "MMBench-EN dev, CircularEval rows (hint folded into the question)", "mmbench", M::kImage,
       A::kLetter, "mmbench-circular", "none", 1024, "{question} There are several options:\n{options}\n" + letter,
       true, {{"category", "category"}, {"l2_category", "l2-category"}}});
  add({"librispeech", "LibriSpeech test-clean / test-other ASR", "librispeech", M::kAudio, A::kText, "wer",
       "whisper-en", 256, kAsrPrompt});
  add({"fleurs", "FLEURS ASR, word-level languages (WER on `transcription`)", "fleurs", M::kAudio, A::kText, "wer",
       "whisper-basic", 256, kAsrPrompt, false, {{"language", "lang_id"}}});
  add({"fleurs-cer", "FLEURS ASR, character-level languages (cmn_hans, yue_hant)", "fleurs", M::kAudio, A::kText,
       "cer", "whisper-basic", 256, kAsrPrompt, false, {{"language", "lang_id"}}});
  add({"covost2", "CoVoST 2 speech translation (sacreBLEU)", "covost2", M::kAudio, A::kText, "bleu", "none", 256,
       "Translate the speech into {meta:target_language} and only output the translation:", false,
       {{"direction", "direction"}}});
  add({"mmau-test-mini", "MMAU test-mini audio multiple choice (answer = choice text)", "mmau", M::kAudio,
       A::kChoice, "mmau", "none", 128, "{question}\n{options}\n" + letter, true});
  return r;
}

}  // namespace

const Registry<TaskInfo>& task_registry() {
  static const Registry<TaskInfo> registry = build_task_registry();
  return registry;
}

namespace {
nlohmann::json breakdowns_json(const std::vector<Breakdown>& breakdowns) {
  nlohmann::json out = nlohmann::json::array();
  for (const Breakdown& b : breakdowns) out.push_back({{"name", b.name}, {"meta_path", b.meta_path}});
  return out;
}
}  // namespace

nlohmann::json task_json(const TaskInfo& t) {
  return {{"name", t.name},
          {"description", t.description},
          {"source", t.source},
          {"modality", modality_name(t.modality)},
          {"answer_type", answer_type_name(t.answer_type)},
          {"metric", t.metric},
          {"normalizer", t.normalizer},
          {"max_new_tokens", t.max_new_tokens},
          {"prompt_template", t.prompt_template},
          {"needs_choices", t.needs_choices},
          {"breakdowns", breakdowns_json(t.breakdowns)}};
}

std::vector<std::string> breakdown_values(const nlohmann::json& meta, const Breakdown& b, const std::string& where) {
  const nlohmann::json* v = &meta;
  size_t start = 0;
  while (start <= b.meta_path.size()) {
    size_t dot = b.meta_path.find('.', start);
    std::string key = b.meta_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!v->is_object() || !v->contains(key)) return {};
    v = &(*v)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  auto bad = [&]() -> std::vector<std::string> {
    throw_input("{}: field 'meta.{}': expected a string, a list of strings or an integer (breakdown '{}'), got {}",
                where, b.meta_path, b.name, v->dump());
  };
  if (v->is_null()) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (v->is_number_integer()) return {std::to_string(v->get<int64_t>())};
  if (!v->is_array()) return bad();
  std::vector<std::string> out;
  for (const auto& x : *v) {
    if (!x.is_string()) return bad();
    out.push_back(x.get<std::string>());
  }
  return out;
}

std::string canonical_number(double v) {
  if (std::floor(v) == v && std::fabs(v) <= 9007199254740992.0) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);  // fmt's default for double is the shortest round-trip form
}

}  // namespace g4u::datasets
