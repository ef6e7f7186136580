// Extractor rules (docs/eval-benchmarks.md §1.2, §2.1, §2.2, §2.6, §3.4), one case per rule.
#include "eval/extract.h"

#include <catch2/catch.hpp>

using namespace g4u::eval;

namespace {
std::vector<U32> opts(std::initializer_list<const char*> l) {
  std::vector<U32> v;
  for (auto* s : l) v.push_back(u32(s));
  return v;
}
McParse mc(const std::string& r, std::initializer_list<const char*> o) { return mmmu_parse_mc(u32(r), opts(o)); }
CanInfer ci(const std::string& r, std::initializer_list<const char*> o) { return can_infer(u32(r), opts(o)); }
}  // namespace

TEST_CASE("reasoning stripping: Gemma 4 thought channel", "[unit]") {
  auto g = reasoning_tags("gemma4");
  auto s = strip_reasoning(u32("<|channel>thought\nlet me think<channel|>The answer is B"), g);
  CHECK(utf8_encode(s.text) == "The answer is B");
  CHECK(s.had_reasoning);
  CHECK_FALSE(s.truncated);
  // the empty thought block the 12B emits even with thinking off
  CHECK(utf8_encode(strip_reasoning(u32("<|channel>thought\n<channel|>42"), g).text) == "42");
  // everything up to the LAST closing tag goes
  CHECK(utf8_encode(strip_reasoning(u32("<|channel>thought\na<channel|>x<channel|> y "), g).text) == "y");
  // closing tag only
  CHECK(utf8_encode(strip_reasoning(u32("reasoning...<channel|>C"), g).text) == "C");
  // opened, never closed: truncated -> empty answer
  auto t = strip_reasoning(u32("<|channel>thought\nstill thinking about (A) and (B"), g);
  CHECK(t.truncated);
  CHECK(t.text.empty());
  // no tags: unchanged, whitespace included
  CHECK(utf8_encode(strip_reasoning(u32(" B "), g).text) == " B ");
  CHECK(utf8_encode(strip_reasoning(u32("<think>x</think>A"), reasoning_tags("think")).text) == "A");
  CHECK(utf8_encode(strip_reasoning(u32("<|channel>thought\nx"), reasoning_tags("none")).text) == "<|channel>thought\nx");
}

TEST_CASE("MMMU multiple choice: each rule", "[unit]") {
  // 1. punctuation stripped once per character in order, then padded
  CHECK(mc("B.", {"x", "y", "z"}).letter == "B");
  CHECK(mc("B.", {"x", "y", "z"}).rule == "letter-space");
  // 2. bracketed letters win over everything, last occurrence wins
  CHECK(mc("(A) is wrong, (C) is right", {"x", "y", "z"}).letter == "C");
  CHECK(mc("(A) is wrong, (C) is right", {"x", "y", "z"}).rule == "bracket");
  // 3. "X " fires on upper-case words ending in the letter: "AND " contains "D "
  CHECK(mc("AND so", {"w", "x", "y", "z"}).letter == "D");
  // the article "A" is a false positive of rule 3
  CHECK(mc("A cat sat", {"dog", "cat"}).letter == "A");
  // several plain letters: rfind of " X " decides
  CHECK(mc("B or C", {"x", "y", "z"}).letter == "C");
  // 4. "X." (when no "X " and no "(X)")
  CHECK(mc("see B.x", {"x", "y", "z"}).rule == "letter-dot");
  CHECK(mc("see B.x", {"x", "y", "z"}).letter == "B");
  // 5. option text only with more than 5 words; the latest occurrence wins
  CHECK(mc("i would say the red car not the blue bike", {"blue bike", "red car"}).letter == "A");
  CHECK(mc("i would say the red car not the blue bike", {"blue bike", "red car"}).rule == "content");
  CHECK(mc("red car", {"blue bike", "red car"}).letter.empty());  // only 2 words
  // lower-case letters never match; no fallback by default
  McParse none = mc("b", {"x", "y"});
  CHECK(none.letter.empty());
  CHECK(none.rule == "none");
}

TEST_CASE("MMMU multiple choice: seeded official-compat fallback", "[unit]") {
  // MMMU calls random.seed(42) then random.choice(all_choices) per unparsed response; with
  // choices A-D CPython 3.11 yields A, A, C, B, B for the first five.
  PyRandom rnd(42);
  std::string got;
  for (int i = 0; i < 5; ++i) got += mmmu_parse_mc(u32("no idea"), opts({"w", "x", "y", "z"}), &rnd).letter;
  CHECK(got == "AACBB");
}

TEST_CASE("MMMU open answers", "[unit]") {
  auto c = mmmu_parse_open(u32("The final answer is 1,200."));
  bool has_num = false;
  for (auto& x : c) has_num = has_num || (std::holds_alternative<double>(x) && std::get<double>(x) == 1200.0);
  CHECK(has_num);
  CHECK(mmmu_eval_open({u32("1200")}, c));
  // numbers compare after rounding to 2 decimals
  CHECK(mmmu_eval_open({u32("3.14159")}, mmmu_parse_open(u32("so x = 3.14"))));
  // strings: gold must be a substring of a candidate; single characters are padded
  CHECK(mmmu_eval_open({u32("Paris")}, mmmu_parse_open(u32("The capital is paris, france"))));
  CHECK_FALSE(mmmu_eval_open({u32("b")}, mmmu_parse_open(u32("the answer is abc"))));
  CHECK(mmmu_eval_open({u32("b")}, mmmu_parse_open(u32("the answer is a b c"))));
  // the shortest tail over the indicators is kept
  auto k = mmmu_parse_open(u32("the result is clearly 7"));
  CHECK(std::get<U32>(k[0]) == u32("clearly 7"));
  // number patterns: comma groups, scientific, simple (CPython re.findall gives
  // ["1", "3", "-2.5", "4", "345", "7"] for the simple pattern on this string)
  auto n = mmmu_extract_numbers(u32("1.5e3 -2.5 3,4 12,345 7."));
  std::vector<std::string> got;
  for (auto& x : n) got.push_back(utf8_encode(x));
  CHECK(got == std::vector<std::string>{"12,345", "1.5e3", "1", "3", "-2.5", "4", "345", "7"});
  // normalize_str
  auto a = mmmu_normalize_str(u32(" 2,500.456 "));
  CHECK(std::get<double>(a[0]) == 2500.46);
  auto b = mmmu_normalize_str(u32("X"));
  CHECK(b.size() == 2);
  CHECK(std::get<U32>(b[0]) == u32(" x"));
}

TEST_CASE("can_infer: each rule", "[unit]") {
  CHECK(ci("B", {"x", "y", "z"}).letter == "B");
  CHECK(ci("The answer is (C).", {"x", "y", "z"}).letter == "C");
  // a single letter token outside the last four tokens is not accepted...
  CHECK(ci("B is what I would never pick here today", {"x", "y", "z"}).letter.empty());
  // ...but "answer is **X**" still is (case-insensitive, no word boundary after X)
  CHECK(ci("I think the answer is **b**", {"x", "y", "z"}).letter == "B");
  CHECK(ci("correct answer is Apple, yes", {"Apple", "Pear"}).rule == "answer-is");
  // two letters: no letter rule; text match on the option (answer no longer than 2x the options)
  CHECK(ci("A or B dog", {"cat", "dog"}).letter == "B");
  CHECK(ci("A or B dog", {"cat", "dog"}).rule == "text");
  CHECK(ci("A or B: the dog", {"cat", "dog"}).letter.empty());  // 15 characters > 2 * (3 + 3)
  // text match gives up on long answers (> 2x the summed option lengths)
  CHECK(ci("well, it is definitely the dog over there", {"cat", "dog"}).letter.empty());
  CHECK(ci("Cannot determine the answer", {"x", "y"}).letter == "Z");
  CHECK(ci("Z", {"x", "y"}).letter == "Z");
  CHECK(ci("Failed to obtain answer via API", {"x", "y"}).rule == "api-failure");
  CHECK(ci("b", {"x", "y"}).letter.empty());
}

TEST_CASE("MMAU string match", "[unit]") {
  auto ch = opts({"Man", "Woman", "Child"});
  CHECK(mmau_string_match(u32("Man"), u32("(A) Man"), ch));
  CHECK_FALSE(mmau_string_match(u32("Man"), u32("A"), ch));  // letter only
  CHECK_FALSE(mmau_string_match(u32("Man"), u32("Man or woman"), ch));
  CHECK_FALSE(mmau_string_match(u32("Man"), u32(""), ch));
  // shared words between the answer and another option do not count against it
  auto ch2 = opts({"a dog barking", "a cat meowing"});
  CHECK(mmau_string_match(u32("a dog barking"), u32("A dog barking."), ch2));
}

TEST_CASE("MathVista extraction and normalisation", "[unit]") {
  MathVistaProblem mcp;
  mcp.multi_choice = true;
  mcp.answer_type = "text";
  mcp.choices = opts({"3/11", "8/11", "6/11", "3/5"});
  auto r = mathvista_score(u32("8/11"), u32("8/11"), mcp);
  CHECK(r.correct);
  CHECK(r.rule == "choice-text");
  r = mathvista_score(u32("The correct answer is (B) 8/11."), u32("8/11"), mcp);
  CHECK(r.correct);
  // a letter that is not an option maps to the nearest option by edit distance
  MathVistaProblem mc2 = mcp;
  r = mathvista_score(u32("The answer is \"3/12\"."), u32("3/11"), mc2);
  CHECK(r.rule == "quick");
  CHECK(utf8_encode(*r.prediction) == "3/11");
  CHECK(r.correct);

  MathVistaProblem ip;
  ip.answer_type = "integer";
  CHECK(mathvista_score(u32(" 14 "), u32("14"), ip).rule == "int");
  r = mathvista_score(u32("The missing number is 14.0 I think"), u32("14"), ip);
  CHECK(r.rule == "last-number");
  CHECK(utf8_encode(*r.prediction) == "14");  // str(int(float("14.0")))
  CHECK(r.correct);
  r = mathvista_score(u32("no idea"), u32("14"), ip);
  CHECK_FALSE(r.extraction.has_value());
  CHECK_FALSE(r.correct);

  MathVistaProblem fp;
  fp.answer_type = "float";
  fp.precision = 1;
  r = mathvista_score(u32("It is about 0.25 units"), u32("0.2"), fp);
  CHECK(utf8_encode(*r.prediction) == "0.2");  // round(0.25, 1): exact tie -> even
  CHECK(r.correct);
  fp.precision = 2;
  CHECK(utf8_encode(*mathvista_score(u32("1.5"), u32("1.5"), fp).prediction) == "1.5");  // str(round(1.5, 2))

  MathVistaProblem lp;
  lp.answer_type = "list";
  r = mathvista_score(u32("peaks between [2007, 2008]"), u32("[2007, 2008]"), lp);
  CHECK(r.correct);
}
