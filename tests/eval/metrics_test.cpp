// Metrics on small corpora computed by hand (docs/eval-benchmarks.md §1.3, §2.3-2.7, §3.1, §3.3).
#include "eval/edit_distance.h"
#include "eval/metrics.h"
#include "eval/sacrebleu.h"
#include "base/error.h"
#include "eval_test_util.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace g4u::eval;
using Catch::Detail::Approx;

namespace {
using g4u::test::eval_item;
EvalItem item(const std::string& pred, std::vector<std::string> refs, std::vector<std::string> choices = {}) {
  return eval_item(pred, refs, choices);
}
ScoreOptions plain() { return g4u::test::plain_options(); }
std::string tok(const std::string& s) { return utf8_encode(tokenize_13a(u32(s))); }
}  // namespace

TEST_CASE("registry: names and unknown metric", "[unit]") {
  CHECK(metric_registry().all().size() == 17);
  CHECK(metric_info("bleu").corpus);
  CHECK(metric_info("mmmu-mc").needs_choices);
  try {
    metric_info("accuracy");
    FAIL("no throw");
  } catch (const g4u::InputError& e) {
    std::string m = e.what();
    CHECK(m.find("unknown metric 'accuracy'") != std::string::npos);
    CHECK(m.find("mmbench-circular") != std::string::npos);
  }
}

TEST_CASE("Levenshtein and alignment counts", "[unit]") {
  CHECK(levenshtein(u32("kitten"), u32("sitting")) == 3);
  CHECK(levenshtein(u32(""), u32("abc")) == 3);
  EditCounts c = align({u32("the"), u32("cat"), u32("sat"), u32("on"), u32("the"), u32("mat")},
                       {u32("the"), u32("cat"), u32("sit"), u32("on"), u32("mat")});
  CHECK(c.substitutions == 1);
  CHECK(c.deletions == 1);
  CHECK(c.insertions == 0);
  CHECK(c.hits == 4);
  EditCounts e = align({u32("a"), u32("b")}, {});
  CHECK(e.deletions == 2);  // empty hypothesis = all deletions
}

TEST_CASE("corpus WER sums edits before dividing", "[unit]") {
  std::vector<EvalItem> items = {item("the cat sit on mat", {"the cat sat on the mat"}),
                                 item("hello there world", {"hello world"})};
  Evaluation e = evaluate("wer", items, plain());
  CHECK(e.score == Approx(3.0 / 8));  // (S1 + D1 + I1) / (6 + 2); per-utterance mean would be 0.4167
  CHECK(e.extras["substitutions"] == 1);
  CHECK(e.extras["deletions"] == 1);
  CHECK(e.extras["insertions"] == 1);
  CHECK(e.extras["hits"] == 6);
  CHECK(*e.items[0].score == Approx(2.0 / 6));
  CHECK(*e.items[1].score == Approx(0.5));
}

TEST_CASE("corpus CER keeps spaces as characters", "[unit]") {
  std::vector<EvalItem> items = {item("abd", {"abc"}), item("abcd", {"ab cd"})};
  Evaluation e = evaluate("cer", items, plain());
  CHECK(e.score == Approx(2.0 / 8));
  CHECK(e.extras["ref_chars"] == 8);
}

TEST_CASE("WER after the whisper-basic normalizer", "[unit]") {
  ScoreOptions o = plain();
  o.normalizer = "whisper-basic";
  o.normalize = make_normalizer("whisper-basic");
  Evaluation e = evaluate("wer", {item("Hello, World!", {"hello world"})}, o);
  CHECK(e.score == 0.0);
}

TEST_CASE("13a tokenizer", "[unit]") {
  CHECK(tok("Hello, world! It's 3.5-4 (approx.)") == "Hello , world ! It's 3.5 - 4 ( approx . )");
  CHECK(tok("a.b,c 1,000.50 U.S.A.") == "a . b , c 1,000.50 U . S . A .");
  CHECK(tok("x&amp;y &lt;tag&gt; <skipped>z") == "x & y < tag > z");
  CHECK(tok("end...") == "end . . .");
  CHECK(tok("co-\noperate 2-3 a-b") == "cooperate 2 - 3 a-b");
}

TEST_CASE("BLEU by hand", "[unit]") {
  BleuStats s1 = bleu_segment_stats(u32("the cat sat on the mat"), {u32("the cat sat on the mat")});
  CHECK(bleu_from_stats(s1).score == Approx(100.0));
  BleuStats s2 = bleu_segment_stats(u32("the cat the cat"), {u32("the cat is on the mat")});
  CHECK(s2.correct[0] == 3);  // clipped: the x2, cat x1
  CHECK(s2.total[0] == 4);
  CHECK(s2.correct[1] == 1);
  CHECK(s2.total[1] == 3);
  CHECK(s2.correct[2] == 0);
  // BP = exp(1 - 6/4); p = 75, 33.33, 100/(2*2), 100/(4*1) (exp smoothing)
  BleuScore b2 = bleu_from_stats(s2);
  CHECK(b2.bp == Approx(std::exp(-0.5)));
  CHECK(b2.precisions[2] == Approx(25.0));
  CHECK(b2.precisions[3] == Approx(25.0));
  CHECK(b2.score == Approx(21.444097124017667));
  // corpus: statistics summed, then one BLEU (not the mean of 100 and 21.4)
  std::vector<EvalItem> items = {item("the cat sat on the mat", {"the cat sat on the mat"}),
                                 item("the cat the cat", {"the cat is on the mat"})};
  Evaluation e = evaluate("bleu", items, plain());
  CHECK(e.score == Approx(62.40358613403181));
  CHECK(e.extras["sys_len"] == 10);
  CHECK(e.extras["ref_len"] == 12);
  // no 4-gram at all in the corpus: the 4-gram precision stays 0 and BLEU is 0
  CHECK(bleu_from_stats(bleu_segment_stats(u32("a b c"), {u32("a b c")})).score == 0.0);
  // ... but with effective order (sentence BLEU) it is 100
  CHECK(bleu_from_stats(bleu_segment_stats(u32("a b c"), {u32("a b c")}), true).score == Approx(100.0));
  // closest reference length, ties -> shorter
  BleuStats m = bleu_segment_stats(u32("a b c d"), {u32("a b c"), u32("a b c d e")});
  CHECK(m.ref_len == 3);
  // case-sensitive
  CHECK(bleu_segment_stats(u32("The"), {u32("the")}).correct[0] == 0);
}

TEST_CASE("chrF by hand", "[unit]") {
  CHECK(chrf_from_stats(chrf_segment_stats(u32("ab"), {u32("a b")})) == Approx(100.0));  // whitespace removed
  // 1-grams 2/3, 2-grams 1/2, 3-grams 0/1; orders 4-6 have no n-grams: P = R = 0.38889
  CHECK(chrf_from_stats(chrf_segment_stats(u32("abc"), {u32("abd")})) == Approx(100 * (2.0 / 3 + 0.5) / 3));
  // best reference by segment F-score
  CHECK(chrf_from_stats(chrf_segment_stats(u32("abc"), {u32("xyz"), u32("abc")})) == Approx(100.0));
  CHECK(chrf_from_stats(chrf_segment_stats(u32("zzz"), {u32("abc")})) == 0.0);
}

TEST_CASE("ANLS: harness vs official", "[unit]") {
  CHECK(anls_harness(u32("abc"), {u32("abd")}) == Approx(2.0 / 3));
  CHECK(anls_official(u32("abc"), {u32("abd")}) == Approx(2.0 / 3));
  // NL exactly 0.5: harness keeps 0.5, official awards 0
  CHECK(anls_harness(u32("ac"), {u32("ab")}) == Approx(0.5));
  CHECK(anls_official(u32("ac"), {u32("ab")}) == 0.0);
  // raw-length denominator in the harness: 1 - 1/7
  CHECK(anls_harness(u32("  abc  "), {u32("abd")}) == Approx(1 - 1.0 / 7));
  CHECK(anls_official(u32("  abc  "), {u32("abd")}) == Approx(2.0 / 3));
  // max over golds, normalisation (case, spaces)
  CHECK(anls_harness(u32("New  York"), {u32("boston"), u32("new york")}) == 1.0);
  CHECK(anls_official(u32("New  York"), {u32("boston"), u32("new york")}) == 1.0);
  CHECK(anls_harness(u32(""), {u32("")}) == 1.0);
  CHECK(anls_official(u32("xyz"), {u32("abc")}) == 0.0);
}

TEST_CASE("VQA accuracy: 10 annotators, closed form", "[unit]") {
  auto golds = [](int k) {
    std::vector<U32> g;
    for (int i = 0; i < 10; ++i) g.push_back(i < k ? U32(U"two") : U32(U"three"));
    return g;
  };
  // k golds equal to the (normalized) prediction -> 0, 0.3, 0.6, 0.9, 1.0 (CPython gives exactly these)
  CHECK(vqa_accuracy(u32("2"), golds(0)) == 0.0);
  CHECK(vqa_accuracy(u32("2"), golds(1)) == 0.3);
  CHECK(vqa_accuracy(u32("Two."), golds(2)) == 0.6);
  CHECK(vqa_accuracy(u32("2"), golds(3)) == 0.9);
  CHECK(vqa_accuracy(u32("2"), golds(4)) == 1.0);
  CHECK(vqa_accuracy(u32("the 2"), golds(10)) == 1.0);
}

TEST_CASE("relaxed accuracy (ChartQA)", "[unit]") {
  CHECK(relaxed_correctness(u32("45%"), u32("0.45")));
  CHECK_FALSE(relaxed_correctness(u32("0.45"), u32("45")));
  CHECK(relaxed_correctness(u32("2008"), u32("2010")));  // years are numbers: 0.1 % off
  CHECK(relaxed_correctness(u32("104"), u32("100")));
  CHECK_FALSE(relaxed_correctness(u32("106"), u32("100")));
  CHECK_FALSE(relaxed_correctness(u32("0.0"), u32("0")));  // gold 0 only matches the string "0"
  CHECK(relaxed_correctness(u32("0"), u32("0")));
  CHECK_FALSE(relaxed_correctness(u32("1,000"), u32("1000")));
  CHECK(relaxed_correctness(u32("Yes"), u32("yes")));
  CHECK_FALSE(relaxed_correctness(u32(" yes"), u32("yes")));  // the prediction is not stripped
}

TEST_CASE("accuracy metrics: scores, stderr, parse failures", "[unit]") {
  std::vector<EvalItem> items = {item("B", {"B"}, {"x", "y"}), item("(A)", {"B"}, {"x", "y"}),
                                 item("I cannot tell", {"A"}, {"x", "y"}), item("A", {"A"}, {"x", "y"})};
  Evaluation e = evaluate("mmmu-mc", items, plain());
  CHECK(e.score == 0.5);
  CHECK(e.parse_failures == 1);
  CHECK(e.items[2].extracted.is_null());
  nlohmann::json j = summarize(e, plain(), true);
  CHECK(j["n"] == 4);
  CHECK(j["stderr"].get<double>() == Approx(std::sqrt(1.0 / 3) / 2));  // sample std sqrt(1/3), n = 4
  CHECK(j["parse_failure_rate"] == 0.25);
  CHECK(j["per_item"].size() == 4);
  CHECK(j["per_item"][1]["extracted"] == "A");
  // references may name the option text instead of the letter
  CHECK(evaluate("can-infer", {item("B", {"y"}, {"x", "y"})}, plain()).score == 1.0);
  CHECK_THROWS_AS(evaluate("can-infer", {item("B", {"q"}, {"x", "y"})}, plain()), g4u::InputError);
  // a normalizer applies to predictions and choices; letter references are taken as written
  ScoreOptions o = plain();
  o.normalizer = "whisper-basic";
  o.normalize = make_normalizer("whisper-basic");
  CHECK(evaluate("can-infer", {item("Dog!", {"B"}, {"Cat", "Dog"}), item("x", {"Dog"}, {"Cat", "Dog"})}, o).score == 0.5);
}

TEST_CASE("reasoning traces are stripped and truncations counted", "[unit]") {
  ScoreOptions o;  // gemma4 by default
  std::vector<EvalItem> items = {item("<|channel>thought\nhmm<channel|>Paris", {"paris"}),
                                 item("<|channel>thought\nParis? or", {"paris"})};
  Evaluation e = evaluate("relaxed-accuracy", items, o);
  CHECK(e.score == 0.5);
  CHECK(e.truncated_reasoning == 1);
}

TEST_CASE("MMBench CircularEval over groups", "[unit]") {
  std::vector<EvalItem> items;
  auto add = [&](const std::string& pred, const std::string& gold, const std::string& group) {
    EvalItem it = item(pred, {gold}, {"p", "q", "r", "s"});
    it.group = group;
    items.push_back(it);
  };
  add("A", "A", "1");
  add("B", "B", "1");
  add("C", "C", "1");
  add("A", "A", "2");
  add("D", "B", "2");  // one rotation wrong -> the whole group is wrong
  add("C", "C", "2");
  Evaluation e = evaluate("mmbench-circular", items, plain());
  CHECK(e.units == 2);
  CHECK(e.score == 0.5);
  CHECK(e.extras["vanilla_accuracy"].get<double>() == Approx(5.0 / 6));
}

TEST_CASE("clustered stderr reported when every item has a cluster", "[unit]") {
  std::vector<EvalItem> items = {item("a", {"a"}), item("a", {"a"}), item("b", {"a"}), item("b", {"a"})};
  items[0].cluster = items[1].cluster = "img1";
  items[2].cluster = items[3].cluster = "img2";
  nlohmann::json j = summarize(evaluate("exact-match", items, plain()), plain(), false);
  CHECK(j["stderr_clustered"].get<double>() == Approx(0.38188130791298667));
  CHECK(j["clusters"] == 2);
}

TEST_CASE("paired comparison: t test for accuracy, bootstrap for corpus metrics", "[unit]") {
  std::vector<EvalItem> sys, base;
  int a[] = {1, 1, 1, 0, 1}, b[] = {0, 1, 0, 0, 1};
  for (int i = 0; i < 5; ++i) {
    sys.push_back(item(a[i] ? "x" : "y", {"x"}));
    base.push_back(item(b[i] ? "x" : "y", {"x"}));
  }
  ScoreOptions o = plain();
  nlohmann::json p = compare(evaluate("exact-match", sys, o), evaluate("exact-match", base, o), o);
  CHECK(p["mean_diff"].get<double>() == Approx(0.4));
  CHECK(p["p_value"].get<double>() == Approx(0.17780780835622137).epsilon(1e-9));
  CHECK(p["ci95"][0].get<double>() == Approx(0.4 - 0.68008738065825592).epsilon(1e-9));
  // identical systems under the paired bootstrap: p = 1 / (B + 1)
  o.bootstrap_samples = 99;
  std::vector<EvalItem> t = {item("a b c d", {"a b c d"}), item("a b x d", {"a b c d"})};
  nlohmann::json q = compare(evaluate("bleu", t, o), evaluate("bleu", t, o), o);
  CHECK(q["p_value"].get<double>() == Approx(0.01));
  CHECK(q["mean_diff"].get<double>() == 0.0);
}
