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
  add({"mmmu-val-mc", "MMMU validation, multiple-choice questions", "mmmu", M::kImage, A::kLetter, "mmmu-mc", "none",
       128, "{question}\n{options}\n\n" + letter, true});
  add({"mmmu-val-open", "MMMU validation, open questions", "mmmu", M::kImage, A::kText, "mmmu-open", "none", 128,
       "{question}\n\n" + phrase});
  add({"mathvista-testmini", "MathVista testmini; prompt = the official `query`", "mathvista", M::kImage, A::kText,
       "mathvista", "none", 16384, "{question}"});
  add({"chartqa", "ChartQA test (human + augmented)", "chartqa", M::kImage, A::kText, "relaxed-accuracy", "none", 16,
       "{question}\nAnswer the question with a single word."});
  add({"docvqa-val", "DocVQA validation", "docvqa", M::kImage, A::kText, "anls", "none", 32, "{question}\n" + phrase});
  add({"ai2d", "AI2D test (diagram multiple choice)", "ai2d", M::kImage, A::kLetter, "can-infer", "none", 16,
       "{question}\n{options}\n" + letter, true});
  add({"textvqa-val", "TextVQA validation (10 human answers)", "textvqa", M::kImage, A::kText, "vqa-accuracy", "none",
       32, "{question}\n" + phrase});
  add({"mmbench-en-dev", "MMBench-EN dev, CircularEval rows (hint folded into the question)", "mmbench", M::kImage,
       A::kLetter, "mmbench-circular", "none", 1024, "{question} There are several options:\n{options}\n" + letter,
       true});
  add({"librispeech", "LibriSpeech test-clean / test-other ASR", "librispeech", M::kAudio, A::kText, "wer",
       "whisper-en", 256, kAsrPrompt});
  add({"fleurs", "FLEURS ASR, word-level languages (WER on `transcription`)", "fleurs", M::kAudio, A::kText, "wer",
       "whisper-basic", 256, kAsrPrompt});
  add({"fleurs-cer", "FLEURS ASR, character-level languages (cmn_hans, yue_hant)", "fleurs", M::kAudio, A::kText,
       "cer", "whisper-basic", 256, kAsrPrompt});
  add({"covost2", "CoVoST 2 speech translation (sacreBLEU)", "covost2", M::kAudio, A::kText, "bleu", "none", 256,
       "Translate the speech into {meta:target_language} and only output the translation:"});
  add({"mmau-test-mini", "MMAU test-mini audio multiple choice (answer = choice text)", "mmau", M::kAudio,
       A::kChoice, "mmau", "none", 128, "{question}\n{options}\n" + letter, true});
  return r;
}

}  // namespace

const Registry<TaskInfo>& task_registry() {
  static const Registry<TaskInfo> registry = build_task_registry();
  return registry;
}

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
          {"needs_choices", t.needs_choices}};
}

std::string canonical_number(double v) {
  if (std::floor(v) == v && std::fabs(v) <= 9007199254740992.0) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);  // fmt's default for double is the shortest round-trip form
}

}  // namespace g4u::datasets
