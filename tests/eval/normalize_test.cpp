// Normalizer tests. Expected strings are worked out by hand from the reference rules
// (openai/whisper normalizers, EvalAI answer processor; docs/eval-benchmarks.md §2.7, §3.1).
#include "eval/text_normalize.h"
#include "eval/unicode.h"
#include "base/error.h"
#include "eval_test_util.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>

using namespace g4u::eval;

namespace {
std::string basic(const std::string& s) { return utf8_encode(whisper_basic_normalize(u32(s))); }
std::string basic_rd(const std::string& s) {
  BasicNormalizerOptions o;
  o.remove_diacritics = true;
  return utf8_encode(whisper_basic_normalize(u32(s), o));
}
std::string nums(const std::string& s) { return utf8_encode(whisper_english_numbers(u32(s))); }
std::string vqa(const std::string& s) { return utf8_encode(vqa_normalize(u32(s))); }
using g4u::test::spelling_file;
const SpellingMap& spellings() {
  static std::shared_ptr<const SpellingMap> m = load_spelling_map(spelling_file());
  return *m;
}
std::string en(const std::string& s) { return utf8_encode(whisper_english_normalize(u32(s), spellings())); }
}  // namespace

TEST_CASE("Python str semantics: lower/upper/split/strip", "[unit]") {
  CHECK(utf8_encode(py_lower(u32("İ"))) == "i\xCC\x87");  // two code points
  CHECK(py_upper(u32("ß")).size() == 2);
  CHECK(utf8_encode(py_lower(u32("ΟΔΟΣ"))) == "οδος");  // final sigma
  CHECK(py_split(u32("\x1c" "a\u00a0b\u3000 c\t")).size() == 3);
  CHECK(utf8_encode(py_strip(u32("\u2003 x \u2028"))) == "x");
  CHECK(py_isword(U'_'));
  CHECK(py_isword(U'²'));  // No: numeric
  CHECK_FALSE(py_isword(U'-'));
  CHECK(py_isdecimal(U'٣'));
  CHECK_FALSE(py_isdecimal(U'²'));
  CHECK(std::string(py_category(U'é')) == "Ll");
  CHECK(std::string(py_category(U'\u0301')) == "Mn");
  CHECK(std::string(py_category(U'€')) == "Sc");
}

TEST_CASE("UTF-8 decoding is strict", "[unit]") {
  size_t bad = 99;
  CHECK_FALSE(utf8_decode("ab\xC0\x80", &bad).has_value());  // overlong
  CHECK(bad == 2);
  CHECK_FALSE(utf8_decode("\xED\xA0\x80").has_value());  // surrogate
  CHECK_FALSE(utf8_decode("\xF4\x90\x80\x80").has_value());  // > U+10FFFF
  CHECK_FALSE(utf8_decode("\xE2\x82").has_value());  // truncated
  CHECK(utf8_encode(*utf8_decode("a€😀")) == "a€😀");
  CHECK_THROWS_AS(utf8_decode_or_throw("\xff", "x:1"), g4u::InputError);
}

TEST_CASE("whisper-basic: lower, brackets, parentheses, symbols, whitespace", "[unit]") {
  CHECK(basic("Hello, World!") == "hello world ");
  CHECK(basic("keep [noise] this <unk> (aside) too") == "keep this too");
  // "()" does not match \(([^)]+?)\): only the parentheses themselves become spaces
  CHECK(basic("a () b") == "a b");
  // unclosed bracket stays (then '[' is punctuation -> space)
  CHECK(basic("a [b c") == "a b c");
  // diacritics are kept by default (NFKC composes), punctuation -> space
  CHECK(basic("Café—crème") == "café crème");
  // NFKC: ligature and full-width letters decompose compatibly
  CHECK(basic("ﬁne ＡＢ") == "fine ab");
  // symbols (S*) become spaces too
  CHECK(basic("5$ + 3€") == "5 3 ");
  CHECK(basic("  leading") == " leading");
  CHECK(basic("") == "");
}

TEST_CASE("whisper-basic with remove_diacritics", "[unit]") {
  CHECK(basic_rd("Café crème") == "cafe creme");
  CHECK(basic_rd("Łódź straße œuvre") == "lodz strasse oeuvre");
  CHECK(basic_rd("Ærø") == "aero");
}

TEST_CASE("whisper-en number normalizer", "[unit]") {
  CHECK(nums("one hundred and twenty three") == "123");
  CHECK(nums("twenty first") == "21st");
  CHECK(nums("double seven") == "77");
  CHECK(nums("one oh one") == "101");
  CHECK(nums("two point five") == "2.5");
  CHECK(nums("twenty dollars") == "$20");
  CHECK(nums("twenty million dollars") == "$20000000");
  CHECK(nums("fifty percent") == "50%");
  CHECK(nums("five per cent") == "5%");
  CHECK(nums("one") == "one");  // "1" is written back as "one"
  CHECK(nums("ones") == "ones");
  CHECK(nums("two and a half") == "2.5");
  CHECK(nums("half a million") == "500000");
  CHECK(nums("minus three") == "-3");
  CHECK(nums("the 1960s") == "the 1960s");
  CHECK(nums("two dollars and seven cents") == "$2.07");
  CHECK(nums("seven cents") == "¢7");
  CHECK(nums("nineteen eighty four") == "1984");
  CHECK(nums("one decillion") == "1000000000000000000000000000000000");
  CHECK(nums("nineth") == "9th");  // whisper's ordinal table spells nine -> "nineth"
  CHECK(nums("the cat") == "the cat");
}

TEST_CASE("whisper-en full pipeline", "[unit]") {
  CHECK(en("I've got twenty three dollars and fifty cents.") == "i have got $23.50");
  CHECK(en("Mr. Smith's colour is grey") == "mister smith is color is gray");
  CHECK(en("It's 5 per cent") == "it is 5%");
  CHECK(en("won't can't let's") == "will not can not let us");
  CHECK(en("Hmm, um, I see") == "i see");
  CHECK(en("1,000 people") == "1000 people");
  CHECK(en("The organisation's centre") == "the organization is center");
  CHECK(en("He'd been there") == "he had been there");
  CHECK(en("[inaudible] hello (laughs)") == "hello");  // the spelling step re-joins words
  CHECK(en("Dr. Jones") == "doctor jones");
  CHECK(en("cost $ 5") == "cost $5");
  CHECK(en("100 %") == "100%");
  CHECK(en("naïve café") == "naive cafe");
}

TEST_CASE("spelling map file: search and errors", "[unit]") {
  REQUIRE(std::filesystem::exists(spelling_file()));
  CHECK(spellings().size() == 1739);
  CHECK(utf8_encode(spellings().at(u32("colour"))) == "color");
  CHECK_THROWS_AS(find_spelling_file("/nonexistent/spellings.json"), g4u::InputError);
  CHECK(find_spelling_file(spelling_file()) == spelling_file());
  CHECK_THROWS_AS(make_normalizer("whisper-xx"), g4u::InputError);
  try {
    make_normalizer("nope");
  } catch (const g4u::InputError& e) {
    CHECK(std::string(e.what()).find("whisper-basic") != std::string::npos);
  }
}

TEST_CASE("vqa (EvalAI) processor", "[unit]") {
  CHECK(vqa("Two dogs.") == "2 dogs");
  CHECK(vqa("The Answer") == "answer");
  CHECK(vqa("dont know") == "don't know");
  CHECK(vqa("Im here") == "im here");  // capitalised contraction keys never fire after lower()
  CHECK(vqa("1,000") == "1000");
  CHECK(vqa("yes?") == "yes");
  CHECK(vqa("red-blue") == "red blue");    // no space next to '-': replaced by a space
  CHECK(vqa("red - blue") == "red blue");  // space next to '-': deleted
  CHECK(vqa("3.5 cm.") == "3.5 cm");
  CHECK(vqa("it's john's") == "it 's john 's");
  CHECK(vqa("none") == "0");
  CHECK(vqa("  a  b\tc\n") == "b c");
}

TEST_CASE("anls normalisation", "[unit]") {
  CHECK(utf8_encode(anls_normalize(u32("  Hello   World \n"))) == "hello world");
}

namespace {
struct NormalizerCase {
  std::string input, expected;
};
// Hand-written expectations per normalizer record; `idempotent` = normalizing an output again
// changes nothing (true of all four on these inputs).
struct NormalizerCases {
  std::vector<NormalizerCase> cases;
  bool idempotent = true;
};
std::map<std::string, NormalizerCases> normalizer_cases() {
  return {
      {"none", {{{"  Hello, World! ", "  Hello, World! "}, {"", ""}}}},
      {"whisper-basic", {{{"Hello, World!", "hello world "}, {"keep [noise] this <unk> (aside) too", "keep this too"}}}},
      {"whisper-en",
       {{{"I've got twenty three dollars and fifty cents.", "i have got $23.50"},
         {"The organisation's centre", "the organization is center"}}}},
      {"vqa", {{{"Two dogs.", "2 dogs"}, {"The Answer", "answer"}, {"1,000", "1000"}}}},
  };
}
}  // namespace

TEST_CASE("every normalizer record: hand-written cases, idempotence, description", "[unit]") {
  const auto all_cases = normalizer_cases();
  CHECK(all_cases.size() == normalizer_registry().all().size());
  NormalizerOptions options;
  options.spellings_path = spelling_file();
  for (const Normalizer& record : normalizer_registry().all()) {
    INFO(record.name);
    CHECK(!record.description.empty());
    REQUIRE(all_cases.count(record.name) == 1);  // a new normalizer needs cases above
    NormalizeFn normalize = make_normalizer(record.name, options);
    for (const NormalizerCase& c : all_cases.at(record.name).cases) {
      INFO(c.input);
      U32 once = normalize(u32(c.input));
      CHECK(utf8_encode(once) == c.expected);
      if (all_cases.at(record.name).idempotent) CHECK(normalize(once) == once);
    }
  }
}
