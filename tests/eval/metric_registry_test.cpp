// Every record of the metric registry, scored on a tiny hand-made sample. The expected numbers are
// worked out by hand in the comments (from the metric definitions, not from earlier output), so a
// new metric fails here until it gets a case of its own.
#include "eval/metrics.h"
#include "eval_test_util.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <numeric>

using namespace g4u::eval;
using g4u::test::eval_item;

namespace {

struct HandScored {
  std::vector<EvalItem> items;
  double score = 0;
  size_t units = 0;
  size_t parse_failures = 0;
};

EvalItem in_group(EvalItem it, const std::string& group) {
  it.group = group;
  return it;
}
EvalItem mathvista_line(const std::string& prediction, const std::string& answer, const std::string& question_type,
                        const std::string& answer_type, const std::vector<std::string>& choices = {}) {
  EvalItem it = eval_item(prediction, {answer}, choices);
  it.question_type = question_type;
  it.answer_type = answer_type;
  return it;
}

std::map<std::string, HandScored> hand_scored_samples() {
  const std::vector<std::string> animals = {"cat", "dog", "cow"};
  std::vector<std::string> vqa_golds(10, "three");
  vqa_golds[0] = vqa_golds[1] = "two";
  std::map<std::string, HandScored> s;
  // stripped "Paris" equals the second reference; "London" matches nothing: 1/2
  s["exact-match"] = {{eval_item("  Paris ", {"paris", "Paris"}), eval_item("London", {"Paris"})}, 0.5, 2};
  // "(B)" is the bracket rule -> B (right); "A" -> A (wrong); no letter, no option text: unparsed
  s["mmmu-mc"] = {{eval_item("The answer is (B)", {"B"}, animals), eval_item("A", {"C"}, animals),
                   eval_item("I cannot tell", {"A"}, animals)},
                  1.0 / 3, 3, 1};
  // the one option letter after the last "Answer:" -> C (right); "(B)" by the MMMU parser (wrong);
  // no "Answer:", no letter, no option text: unparsed. 1/3
  s["mmmu-pro"] = {{eval_item("The dog sits. Answer: C", {"C"}, animals), eval_item("(B)", {"A"}, animals),
                    eval_item("no idea", {"A"}, animals)},
                   1.0 / 3, 3, 1};
  // the number after the last "is " equals 42; \boxed{\frac{1}{2}} equals 0.5 to 2 decimals; "(C)\n..."
  // is letter C, neither the gold letter B nor its text; an empty output extracts nothing: 2/4
  s["mathvision"] = {{eval_item("The answer is 42.", {"42"}), eval_item("so \\boxed{\\frac{1}{2}}", {"0.5"}),
                      eval_item("(C)\nbecause it is blue", {"B"}, {"red", "green", "blue"}), eval_item("", {"7"})},
                     0.5, 4, 1};
  // 3.5 after the indicator "is" equals the number 3.5; "blue" does not contain "red": 1/2
  s["mmmu-open"] = {{eval_item("The answer is 3.5", {"3.5"}), eval_item("It is blue", {"red"})}, 0.5, 2};
  // letter B (right), letter A (wrong), no letter and no option text (unparsed): 1/3
  s["can-infer"] = {{eval_item("B", {"B"}, animals), eval_item("A", {"B"}, animals),
                     eval_item("I like turtles", {"A"}, animals)},
                    1.0 / 3, 3, 1};
  // every answer token present and no token of the other choice: right; "red" is the other
  // choice: wrong; "..." has no word token: unparsed
  s["mmau"] = {{eval_item("The answer is green", {"green"}, {"red", "green"}),
                eval_item("red", {"green"}, {"red", "green"}), eval_item("...", {"red"}, {"red", "green"})},
               1.0 / 3, 3, 1};
  // integer "42" == "42"; the option text "5" is a choice and the answer; an empty response
  // extracts nothing: 2/3
  s["mathvista"] = {{mathvista_line("42", "42", "free_form", "integer"),
                     mathvista_line("5", "5", "multi_choice", "text", {"3", "5"}),
                     mathvista_line("", "7", "free_form", "integer")},
                    2.0 / 3, 3, 1};
  // |104-100|/100 = 4 % <= 5 %; 6 % > 5 %; "Yes" == "yes" ignoring case: 2/3
  s["relaxed-accuracy"] = {
      {eval_item("104", {"100"}), eval_item("106", {"100"}), eval_item("Yes", {"yes"})}, 2.0 / 3, 3};
  // 1 - 1/3 (one edit in three characters); "xyz" vs "abc" is 1 - 3/3 = 0: mean 1/3
  s["anls"] = {{eval_item("abc", {"abd"}), eval_item("xyz", {"abc"})}, 1.0 / 3, 2};
  // NL exactly 0.5 is not < 0.5 -> 0 (the harness variant would keep 0.5); equal after
  // normalisation -> 1: mean 1/2
  s["anls-official"] = {{eval_item("ac", {"ab"}), eval_item("New  York", {"new york"})}, 0.5, 2};
  // "2" == vqa("two") for 2 of 10 golds: 2 x min(1, 1/3) + 8 x min(1, 2/3) over 10 = 0.6; ten
  // golds "cat": 1. Mean 0.8
  s["vqa-accuracy"] = {{eval_item("2", vqa_golds), eval_item("cat", std::vector<std::string>(10, "cat"))}, 0.8, 2};
  // group 1 all right -> 1, group 2 has one wrong rotation -> 0: 1/2 over 2 groups
  s["mmbench-circular"] = {{in_group(eval_item("A", {"A"}, animals), "1"),
                            in_group(eval_item("B", {"B"}, animals), "1"),
                            in_group(eval_item("A", {"A"}, animals), "2"),
                            in_group(eval_item("C", {"B"}, animals), "2")},
                           0.5, 2};
  // b -> x substituted, d deleted: 2 errors in 4 words; "e f" exact: 0 in 2. Corpus 2/6 (the
  // per-line mean would be 1/4)
  s["wer"] = {{eval_item("a x c", {"a b c d"}), eval_item("e f", {"e f"})}, 2.0 / 6, 2};
  // one substitution in "abc", the space of "a b" deleted: (1 + 1) / (3 + 3)
  s["cer"] = {{eval_item("abd", {"abc"}), eval_item("ab", {"a b"})}, 2.0 / 6, 2};
  // Summed statistics: hyp 6+4, ref 6+6 words; n-gram matches 6+3, 5+1, 4+0, 3+0 of 6+4, 5+3,
  // 4+2, 3+1 ("the cat the cat": the x2 clipped to 2, cat x2 clipped to 1, "the cat" once).
  // BLEU = BP * geometric mean = exp(1 - 12/10) * (9/10 * 6/8 * 4/6 * 3/4)^(1/4) * 100
  s["bleu"] = {{eval_item("the cat sat on the mat", {"the cat sat on the mat"}),
                eval_item("the cat the cat", {"the cat is on the mat"})},
               100 * std::exp(1 - 12.0 / 10) * std::pow(0.9 * 0.75 * (4.0 / 6) * 0.75, 0.25), 2};
  // Character n-grams (spaces removed), summed: 1-grams 2+2 of 2+3 ("ab", "abc" vs "abd"),
  // 2-grams 1+1 of 1+2, 3-grams 0 of 1; higher orders are empty. Precision = recall (same
  // lengths), averaged over the 3 effective orders: (4/5 + 2/3 + 0) / 3, so chrF = 100 x that
  s["chrf"] = {{eval_item("ab", {"a b"}), eval_item("abc", {"abd"})}, 100 * (4.0 / 5 + 2.0 / 3) / 3, 2};
  return s;
}

std::vector<uint32_t> every_index(size_t n) {
  std::vector<uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0u);
  return idx;
}

}  // namespace

TEST_CASE("every metric record scores a hand-made sample", "[unit]") {
  const std::map<std::string, HandScored> samples = hand_scored_samples();
  CHECK(samples.size() == metric_registry().all().size());
  for (const Metric& metric : metric_registry().all()) {
    DYNAMIC_SECTION(metric.name) {
      REQUIRE(samples.count(metric.name) == 1);  // a new metric needs a hand-scored sample above
      const HandScored& want = samples.at(metric.name);
      Evaluation e = evaluate(metric.name, want.items, g4u::test::plain_options());
      CHECK(e.metric == metric.name);
      CHECK(e.score == Catch::Detail::Approx(want.score).epsilon(1e-12));
      CHECK(e.units == want.units);
      CHECK(e.parse_failures == want.parse_failures);
      CHECK(e.items.size() == want.items.size());
      CHECK(e.corpus == metric.corpus);
      // corpus metrics resample summed statistics; accuracy metrics average their units
      CHECK(static_cast<bool>(e.statistic) == metric.corpus);
      if (metric.corpus) CHECK(e.statistic(every_index(want.items.size())) == e.score);
      else CHECK(e.unit_scores.size() == want.units);
      nlohmann::json doc = summarize(e, g4u::test::plain_options(), true);
      CHECK(doc["metric"] == metric.name);
      CHECK(doc["stderr_method"] == (metric.corpus ? "bootstrap" : "clt"));
      CHECK(doc["per_item"].size() == want.items.size());
    }
  }
}

TEST_CASE("every metric record is complete", "[unit]") {
  for (const Metric& metric : metric_registry().all()) {
    INFO(metric.name);
    CHECK(!metric.name.empty());
    CHECK(!metric.description.empty());
    CHECK(static_cast<bool>(metric.score_item));
    CHECK(static_cast<bool>(metric.aggregate));
    CHECK(&find_metric(metric.name) == &metric);
  }
  CHECK(metric_names().rfind("exact-match, mmmu-mc, ", 0) == 0);  // registration order reaches --help
}

TEST_CASE("read_eval_jsonl applies each record's input rules", "[unit]") {
  g4u::test::ScratchDir dir("metric_input");
  std::string no_choices = dir / "no_choices.jsonl";
  g4u::test::write_file(no_choices, R"({"prediction": "A", "references": ["A"]})" "\n");
  for (const Metric& metric : metric_registry().all()) {
    INFO(metric.name);
    if (metric.needs_choices) {
      g4u::test::expect_input_error([&] { read_eval_jsonl(no_choices, metric); }, "field 'choices': missing");
    } else {
      CHECK(read_eval_jsonl(no_choices, metric).size() == 1);
    }
  }
  std::string bad_type = dir / "bad_type.jsonl";
  g4u::test::write_file(bad_type, R"({"prediction": "1", "references": ["1"], "question_type": "essay"})" "\n");
  g4u::test::expect_input_error([&] { read_eval_jsonl(bad_type, find_metric("mathvista")); },
                                "field 'question_type': expected multi_choice or free_form");
  std::string grouped = dir / "grouped.jsonl";
  g4u::test::write_file(grouped, R"({"prediction": "A", "references": ["A"], "choices": ["x", "y"]})" "\n");
  g4u::test::expect_input_error([&] { read_eval_jsonl(grouped, find_metric("mmbench-circular")); },
                                "field 'group': missing");
}

TEST_CASE("letter metrics check every line's references, also where no letter was extracted", "[unit]") {
  for (const char* name : {"mmmu-mc", "can-infer", "mmbench-circular"}) {
    INFO(name);
    EvalItem unparsed = eval_item("zzz", {"q"}, {"p", "r"});
    unparsed.group = "1";
    g4u::test::expect_input_error([&] { evaluate(name, {unparsed}, g4u::test::plain_options()); },
                                  "field 'references': 'q' is neither an option letter (A-B) nor one of the choices");
  }
}
