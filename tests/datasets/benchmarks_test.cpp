// Benchmark adapters on hand-made fixtures of each release's layout (tests/fixtures/benchmarks).
// Expected prompts are written out from shared/docs/eval-benchmarks.md §2-§3 (lmms-eval formats).
#include "datasets/benchmarks/benchmarks.h"
#include "datasets/manifest/manifest.h"
#include "datasets/prompt/prompt.h"
#include "test_paths.h"
#include "datasets_test_util.h"

#include <algorithm>
#include <map>

using namespace g4u;
using namespace g4u::datasets;
using Catch::Matchers::Contains;
using g4u::test::input_error;
using g4u::test::ScratchDir;
namespace fs = std::filesystem;

namespace {

const std::string& kFixtures = test::kBenchmarkFixtures;
const std::string kLetter = "Answer with the option's letter from the given choices directly.";
const std::string kPhrase = "Answer the question using a single word or phrase.";
const std::string kAsr = "Please recognize the speech and only output the recognized content:";

struct Imported {
  nlohmann::json info;
  std::map<std::string, Sample> by_id;
  std::vector<std::string> order;
};

Imported import(const std::string& bench, const std::string& out, const std::string& input = "") {
  ImportOptions o;
  o.benchmark = bench;
  o.input = input.empty() ? kFixtures + bench : input;
  o.out = out;
  o.media = MediaCheck::kDecode;
  Imported r;
  r.info = import_benchmark(o);
  ReaderOptions ro;
  ro.media = MediaCheck::kDecode;
  for (auto& s : read_manifest(out + "/manifest.jsonl", ro)) {
    r.order.push_back(s.id);
    r.by_id.emplace(s.id, std::move(s));
  }
  return r;
}

// A writable copy of a fixture whose rows.jsonl line `line` (1-based) is replaced.
std::string patched_fixture(const ScratchDir& dir, const std::string& bench, int line, const std::string& text) {
  std::string name = bench;
  std::replace(name.begin(), name.end(), '/', '-');  // fixtures in subfolders ("mmmu-pro/vision")
  std::string copy = dir / ("in-" + name + "-" + std::to_string(line));
  fs::copy(kFixtures + bench, copy, fs::copy_options::recursive);
  std::istringstream in(test::read_file(copy + "/rows.jsonl"));
  std::string out, l;
  for (int k = 1; std::getline(in, l); ++k) out += (k == line ? text : l) + "\n";
  test::write_file(copy + "/rows.jsonl", out);
  return copy;
}

}  // namespace

TEST_CASE("the adapter list covers the fourteen benchmarks", "[unit]") {
  std::vector<std::string> names;
  for (auto& b : benchmark_registry().all()) {
    names.push_back(b.name);
    for (auto& t : b.tasks) CHECK(lookup_task(t) != nullptr);
    CHECK(fs::exists(kFixtures + b.name + "/rows.jsonl"));
  }
  CHECK(names == std::vector<std::string>{"mmmu", "mathvista", "mmmu-pro", "mathvision", "chartqa", "docvqa",
                                          "infovqa", "ai2d", "textvqa", "mmbench", "librispeech", "fleurs", "covost2",
                                          "mmau"});
  CHECK_THAT(input_error([] { find_benchmark("vqav2"); }), Contains("known: mmmu, mathvista"));
}

TEST_CASE("MMMU Python option lists parse like Python literals", "[unit]") {
  std::vector<std::string> v;
  REQUIRE(parse_python_string_list("['a', \"b's\", 'c\\'d', 'e\\\\f', '\\u00e9', 'x\\ny']", &v));
  CHECK(v == std::vector<std::string>{"a", "b's", "c'd", "e\\f", "\xC3\xA9", "x\ny"});
  REQUIRE(parse_python_string_list(" [ ] ", &v));
  CHECK(v.empty());
  REQUIRE(parse_python_string_list("['only',]", &v));
  CHECK(v == std::vector<std::string>{"only"});
  for (const char* bad : {"", "['a'", "['a' 'b']", "[a]", "['a'] x", "[1, 2]", "['unterminated]"})
    CHECK_FALSE(parse_python_string_list(bad, &v));
}

TEST_CASE("MMMU: options, markers, tasks by question type, subject and discipline", "[integration]") {
  ScratchDir dir;
  auto r = import("mmmu", dir / "out");
  CHECK(r.info["rows"] == 3);
  CHECK(r.info["row_count"]["expected"] == 900);
  CHECK(r.info["row_count"]["matches"] == false);
  const Sample& mc = r.by_id.at("validation_Art_Theory_1");
  CHECK(mc.task->name == "mmmu-val-mc");
  CHECK(render_prompt_text(mc) ==
        "Which animal is shown in <image 1>?\nA. A cat\nB. A dog\nC. It's <image 2>\nD. None of them\n\n" + kLetter);
  CHECK(mc.images.size() == 2);
  CHECK(mc.answers == std::vector<std::string>{"B"});
  CHECK(mc.meta["subject"] == "Art_Theory");
  CHECK(mc.meta["discipline"] == "Art & Design");
  CHECK(mc.task->max_new_tokens == 128);
  const Sample& open = r.by_id.at("validation_Math_7");
  CHECK(open.task->name == "mmmu-val-open");
  CHECK(render_prompt_text(open) == "<image 1> What is the value of x?\n\n" + kPhrase);
  CHECK(open.choices.empty());
  CHECK(open.answers == std::vector<std::string>{"42"});
  CHECK(open.meta["discipline"] == "Science");
  const Sample& med = r.by_id.at("validation_Clinical_Medicine_30");
  CHECK(med.meta["subject"] == "Clinical_Medicine");
  CHECK(med.meta["discipline"] == "Health & Medicine");
  CHECK(med.choices.size() == 3);
  // Media were copied next to the manifest and are the fixture's bytes.
  CHECK(test::read_file(mc.images[1].path) == test::read_file(kFixtures + "mmmu/media/000000_image_2.png"));
  CHECK(mc.images[1].path.rfind(fs::absolute(dir / "out").string(), 0) == 0);
}

TEST_CASE("MathVista: the official query is the prompt; answer metadata is kept", "[integration]") {
  ScratchDir dir;
  auto r = import("mathvista", dir / "out");
  const Sample& mc = r.by_id.at("1");
  CHECK(render_prompt_text(mc) ==
        "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
        "Question: Which colour is the largest region?\nChoices:\n(A) red\n(B) green\n(C) blue");
  CHECK(mc.choices == std::vector<std::string>{"red", "green", "blue"});
  CHECK(mc.answers == std::vector<std::string>{"green"});
  CHECK(mc.meta["question_type"] == "multi_choice");
  CHECK(mc.meta["answer_type"] == "text");
  const Sample& f = r.by_id.at("3");
  CHECK(f.meta["answer_type"] == "float");
  CHECK(f.meta["precision"] == 1);
  CHECK(f.meta["unit"] == "cm");
  CHECK(f.meta["metadata"]["skills"].size() == 2);
  CHECK(f.choices.empty());
  CHECK(f.images[0].path.size() > 0);  // from the `image` path (decoded_image is null)
  CHECK(r.by_id.at("2").answers == std::vector<std::string>{"4"});
}

TEST_CASE("MMMU-Pro standard: ten options, the official direct prompt, subject and discipline", "[integration]") {
  ScratchDir dir;
  auto r = import("mmmu-pro", dir / "out");
  CHECK(r.info["rows"] == 3);
  CHECK(r.info["row_count"]["expected"] == 1730);
  const Sample& a = r.by_id.at("test_Accounting_12");
  CHECK(a.task->name == "mmmu-pro-standard");
  CHECK(a.task->metric == "mmmu-pro");
  CHECK(render_prompt_text(a) ==
        "<image 1> Which account balances the ledger?\nA. Cash\nB. Inventory\nC. Retained earnings\nD. Sales\n"
        "E. Rent\nF. Wages\nG. Interest\nH. Tax payable\nI. Goodwill\nJ. Dividends\n"
        "Answer with the option letter from the given choices directly.");
  CHECK(a.choices.size() == 10);
  CHECK(a.answers == std::vector<std::string>{"C"});
  CHECK(a.meta["subject"] == "Accounting");
  CHECK(a.meta["discipline"] == "Business");
  CHECK(a.meta["setting"] == "standard (10 options)");
  const Sample& p = r.by_id.at("test_Physics_40");
  CHECK(p.images.size() == 2);
  CHECK(p.answers == std::vector<std::string>{"J"});
  CHECK(p.meta["discipline"] == "Science");
  CHECK(r.by_id.at("test_History_3").choices.back() == "Han's");
  CHECK(r.by_id.at("test_History_3").meta["discipline"] == "Humanities & Social Science");
}

TEST_CASE("MMMU-Pro vision: the question is in the image, the prompt is the instruction alone", "[integration]") {
  ScratchDir dir;
  auto r = import("mmmu-pro", dir / "out", kFixtures + "mmmu-pro/vision");
  const Sample& a = r.by_id.at("test_Accounting_12");
  CHECK(a.task->name == "mmmu-pro-vision");
  CHECK(render_prompt_text(a) ==
        "Answer with the option letter from the given choices directly. The last line of your response should be of "
        "the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of options.");
  CHECK(a.images.size() == 1);
  CHECK(a.question.empty());
  CHECK(a.choices.size() == 10);
  CHECK(a.answers == std::vector<std::string>{"C"});
  const Sample& m = r.by_id.at("test_Music_5");
  CHECK(m.choices.size() == 4);
  CHECK(m.meta["discipline"] == "Art & Design");
  CHECK(m.meta["setting"] == "vision");
  // A standard row in a vision export, and a letter beyond the options, are errors naming the row.
  std::string mixed = patched_fixture(dir, "mmmu-pro/vision", 2,
      R"({"id": "x", "question": "q", "image_1": {"path": "media/000001_image.png"}, "options": "['a', 'b']", "answer": "A", "subject": "Music"})");
  ImportOptions o;
  o.benchmark = "mmmu-pro";
  o.input = mixed;
  o.out = dir / "bad";
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:2: field 'image'") && Contains("'vision'"));
  o.input = patched_fixture(dir, "mmmu-pro", 1,
      R"({"id": "y", "question": "q", "image_1": {"path": "media/000000_image_1.png"}, "options": "['a', 'b']", "answer": "C", "subject": "Art"})");
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:1: field 'answer': expected an option letter A-B, got 'C'"));
}

TEST_CASE("MATH-Vision: multiple choice and free form, the lmms-eval prompt, subject and level", "[integration]") {
  ScratchDir dir;
  auto r = import("mathvision", dir / "out");
  const std::string instruction = "Please solve the problem step by step and put your answer in one \"\\boxed{}\".";
  const Sample& f = r.by_id.at("4");
  CHECK(f.task->name == "mathvision-free");
  CHECK(f.task->metric == "mathvision");
  CHECK(render_prompt_text(f) == instruction + "How many different digits can you see in the picture?\n<image1>");
  CHECK(f.answers == std::vector<std::string>{"6"});
  CHECK(f.choices.empty());
  CHECK(f.meta["subject"] == "counting");
  CHECK(f.meta["level"] == 1);
  const Sample& mc = r.by_id.at("27");
  CHECK(mc.task->name == "mathvision-mc");
  CHECK(render_prompt_text(mc) == instruction +
                                      "In which order does the pencil pass the shapes?\n<image1>\nChoices: "
                                      "A. $\\Delta, \\square, \\bullet$\nB. $\\Delta, \\bullet, \\square$\n"
                                      "C. $\\bullet, \\Delta, \\square$\nD. $\\square, \\Delta, \\bullet$\n"
                                      "E. $\\square, \\bullet, \\Delta$");
  CHECK(mc.answers == std::vector<std::string>{"A"});
  CHECK(r.by_id.at("6").choices == std::vector<std::string>{"A", "B", "C", "D", "E"});
  // The repository's data/test.jsonl form: no decoded_image, the image at its release path.
  const Sample& repo = r.by_id.at("1001");
  CHECK(repo.answers == std::vector<std::string>{"\\frac{3}{8}"});
  CHECK(check_media(repo.images[0], MediaCheck::kDecode, "jpeg").format == "jpeg");
  ImportOptions o;
  o.benchmark = "mathvision";
  o.out = dir / "bad";
  o.input = patched_fixture(dir, "mathvision", 1,
      R"({"id": "4", "question": "q", "options": [], "image": "images/4.jpg", "answer": "6", "subject": "counting"})");
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:1: field 'level': missing"));
  o.input = patched_fixture(dir, "mathvision", 2,
      R"({"id": "6", "question": "q", "options": ["A", "B"], "image": "images/missing.jpg", "answer": "A", "level": 1, "subject": "logic"})");
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:2: field 'image'"));
}

TEST_CASE("InfoVQA: the DocVQA prompt, ANLS, questions on one infographic form a cluster", "[integration]") {
  ScratchDir dir;
  auto r = import("infovqa", dir / "out");
  CHECK(r.info["row_count"]["expected"] == 2801);
  const Sample& a = r.by_id.at("98313");
  CHECK(a.task->name == "infovqa-val");
  CHECK(a.task->metric == "anls");
  CHECK(a.task->max_new_tokens == 32);
  CHECK(render_prompt_text(a) == "Which country has the highest share of solar power?\n" + kPhrase);
  CHECK(a.answers == std::vector<std::string>{"germany", "Germany"});
  CHECK(a.cluster == std::optional<std::string>("https://example.invalid/infographics/energy-37.jpeg"));
  CHECK(r.by_id.at("98314").cluster == a.cluster);
  CHECK(r.by_id.at("98402").cluster != a.cluster);
  CHECK(r.by_id.at("98402").meta["operation/reasoning"][0] == "counting");
}

TEST_CASE("ChartQA, DocVQA, AI2D, TextVQA: prompts, answers, clusters", "[integration]") {
  ScratchDir dir;
  auto chart = import("chartqa", dir / "chartqa");
  REQUIRE(chart.order.size() == 2);
  const Sample& c0 = chart.by_id.at(chart.order[0]);
  CHECK(render_prompt_text(c0) == "What is the highest value in the chart?\nAnswer the question with a single word.");
  CHECK(c0.answers == std::vector<std::string>{"45"});
  CHECK(c0.meta["type"] == "human_test");
  CHECK(chart.by_id.at(chart.order[1]).meta["type"] == "augmented_test");
  CHECK(c0.task->metric == "relaxed-accuracy");

  auto doc = import("docvqa", dir / "docvqa");
  const Sample& d = doc.by_id.at("49153");
  CHECK(render_prompt_text(d) == "What is the date mentioned in this letter?\n" + kPhrase);
  CHECK(d.answers == std::vector<std::string>{"1/8/93", "January 8, 1993"});
  CHECK(d.cluster == std::optional<std::string>("14465"));
  CHECK(doc.by_id.at("49154").cluster == d.cluster);
  CHECK(d.task->metric == "anls");

  auto ai2d = import("ai2d", dir / "ai2d");
  const Sample& a = ai2d.by_id.at(ai2d.order[0]);
  CHECK(render_prompt_text(a) ==
        "Which stage comes after the egg?\nA. adult\nB. larva\nC. pupa\nD. nymph\n" + kLetter);
  CHECK(a.answers == std::vector<std::string>{"B"});  // answer index "1"
  CHECK(ai2d.by_id.at(ai2d.order[1]).answers == std::vector<std::string>{"A"});

  auto tv = import("textvqa", dir / "textvqa");
  const Sample& t = tv.by_id.at("34602");
  CHECK(render_prompt_text(t) == "what is the brand of this camera?\n" + kPhrase);
  CHECK(t.answers.size() == 10);
  CHECK(t.cluster == std::optional<std::string>("003a8ae2ef43b901"));
  CHECK(t.meta["ocr_tokens"].size() == 3);
  CHECK(check_media(t.images[0], MediaCheck::kDecode, "jpeg").format == "jpeg");
}

TEST_CASE("MMBench: hint folded into the question, circular groups, missing options", "[integration]") {
  ScratchDir dir;
  auto r = import("mmbench", dir / "out");
  const Sample& a = r.by_id.at("5");
  CHECK(render_prompt_text(a) ==
        "The object is a fruit. What is the main colour of the object? There are several options:\n"
        "A. red\nB. green\nC. blue\nD. purple\n" + kLetter);
  const Sample& rot = r.by_id.at("1000005");
  CHECK(rot.answers == std::vector<std::string>{"D"});
  CHECK(rot.cluster == std::optional<std::string>("5"));
  CHECK(rot.meta["group"] == "5");
  CHECK(a.cluster == rot.cluster);
  const Sample& two = r.by_id.at("7");
  CHECK(two.choices == std::vector<std::string>{"yes", "no"});
  CHECK(render_prompt_text(two) == "Is the sky visible? There are several options:\nA. yes\nB. no\n" + kLetter);
  CHECK(two.meta["hint"] == "");
}

TEST_CASE("LibriSpeech, FLEURS, CoVoST 2, MMAU: audio tasks", "[integration]") {
  ScratchDir dir;
  auto ls = import("librispeech", dir / "ls");
  const Sample& l = ls.by_id.at("1089-134686-0000");
  CHECK(render_prompt_text(l) == kAsr);
  CHECK(l.answers == std::vector<std::string>{"HE HOPED THERE WOULD BE STEW FOR DINNER"});
  CHECK(l.meta["language"] == "en");
  CHECK(l.meta["duration_s"].get<double>() == Approx(0.05));
  CHECK(l.normalizer() == "whisper-en");
  CHECK(l.task->max_new_tokens == 256);

  auto fl = import("fleurs", dir / "fleurs");
  const Sample& en = fl.by_id.at("en_us-10004088536354799741");
  CHECK(en.task->name == "fleurs");
  CHECK(en.task->metric == "wer");
  CHECK(en.normalizer() == "whisper-en");
  CHECK(en.answers == std::vector<std::string>{"the dog barked at the mail carrier"});
  const Sample& zh = fl.by_id.at("cmn_hans_cn-1159291411338826436");
  CHECK(zh.task->name == "fleurs-cer");
  CHECK(zh.task->metric == "cer");
  CHECK(zh.normalizer() == "whisper-basic");

  auto cv = import("covost2", dir / "covost2");
  const Sample& c = cv.by_id.at("common_voice_en_19664034");
  CHECK(render_prompt_text(c) == "Translate the speech into Chinese and only output the translation:");
  CHECK(c.answers == std::vector<std::string>{"今天天气很好。"});
  CHECK(c.task->metric == "bleu");

  auto mm = import("mmau", dir / "mmau");
  const Sample& m = mm.by_id.at("a1b2c3d4-0001");
  CHECK(render_prompt_text(m) ==
        "What is the primary sound source in the recording?\nA. Man\nB. Woman\nC. Dog\nD. Car\n" + kLetter);
  CHECK(m.answers == std::vector<std::string>{"Man"});
  CHECK(m.cluster == std::optional<std::string>("./test-mini-audios/5a6b1c2d.wav"));
  CHECK(m.meta["difficulty"] == "easy");
  CHECK(mm.by_id.at("a1b2c3d4-0002").choices.size() == 2);
}

TEST_CASE("import: bad exports are clear errors; skip-and-count reports the rows", "[integration]") {
  ScratchDir dir;
  ImportOptions o;
  o.out = dir / "out";
  // Export of another benchmark, or not an export at all.
  o.benchmark = "docvqa";
  o.input = kFixtures + "chartqa";
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("the export is of 'chartqa', not 'docvqa'"));
  o.input = dir.path;
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("not an export folder"));
  o.benchmark = "mmmu";
  o.input = kFixtures + "mmmu";
  o.strict_count = true;
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("3 rows, but mmmu validation has 900"));
  o.strict_count = false;

  // A broken options literal on row 2.
  std::string bad = patched_fixture(dir, "mmmu", 2,
      R"({"id": "validation_Math_7", "question": "q <image 1>", "options": "['a', 'b'", "image_1": {"path": "media/000001_image_1.png"}, "answer": "A", "question_type": "multiple-choice"})");
  o.input = bad;
  std::string e = input_error([&] { import_benchmark(o); });
  CHECK_THAT(e, Contains("rows.jsonl:2: field 'options'"));
  CHECK_FALSE(fs::exists(dir / "out"));  // nothing half-written
  o.skip_invalid = true;
  auto info = import_benchmark(o);
  CHECK(info["lines"] == 2);
  CHECK(info["skipped"] == 1);
  CHECK(info["skipped_rows"][0]["line"] == 2);
  CHECK_THAT(info["skipped_rows"][0]["reason"].get<std::string>(), Contains("field 'options'"));
  o.skip_invalid = false;
  o.overwrite = true;

  // Media paths that leave the export folder, and media that do not decode.
  std::string trav = patched_fixture(dir, "chartqa", 1,
      R"({"type": "human_test", "question": "q", "answer": "1", "image": {"path": "../../etc/passwd"}})");
  o.benchmark = "chartqa";
  o.input = trav;
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:1: field 'image'") && Contains("path traversal"));
  std::string corrupt = dir / "in-corrupt";
  fs::copy(kFixtures + "chartqa", corrupt, fs::copy_options::recursive);
  test::write_file(corrupt + "/media/000001_image.png", "not a png");
  o.input = corrupt;
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:2: field 'image'") && Contains("not a supported image"));
  // Wrong answer type in the release: an AI2D answer index beyond the options.
  std::string ai2d = patched_fixture(dir, "ai2d", 2,
      R"({"question": "q", "options": ["sun", "moon"], "answer": "5", "image": {"path": "media/000001_image.png"}})");
  o.benchmark = "ai2d";
  o.input = ai2d;
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("rows.jsonl:2: field 'answer': index 5 is beyond the 2 options"));
  // MMAU answer that is not one of the choices.
  std::string mmau = patched_fixture(dir, "mmau", 1,
      R"({"id": "x", "audio_id": "./test-mini-audios/5a6b1c2d.wav", "question": "q", "choices": ["a", "b"], "answer": "c"})");
  o.benchmark = "mmau";
  o.input = mmau;
  CHECK_THAT(input_error([&] { import_benchmark(o); }), Contains("field 'answer': 'c' is not one of the choices"));
}

TEST_CASE("the Python converter's export layout is what the adapters read", "[integration]") {
  if (std::system("python3 -c 'import json' >/dev/null 2>&1") != 0) {
    WARN("python3 not available; converter layout not checked");
    return;
  }
  ScratchDir dir;
  std::string convert = fs::path(G4U_FIXTURES_DIR).parent_path().parent_path().string() + "/datasets/convert";
  // Rows as the `datasets` library yields them with Image(decode=False): {"bytes", "path"} cells.
  std::string script = dir / "export.py";
  test::write_file(script,
                   "import json, os, sys\n"
                   "sys.path.insert(0, sys.argv[1])\n"
                   "import export_benchmark as eb\n"
                   "png = open(sys.argv[2], 'rb').read()\n"
                   "out = sys.argv[3]\n"
                   "os.makedirs(out)\n"
                   "rows = [{'questionId': 7, 'question': 'Who?', 'question_types': ['layout'], 'docId': 3,\n"
                   "         'image': {'bytes': png, 'path': 'page_3.png'}, 'answers': ['Ann', 'ann'],\n"
                   "         'ucsf_document_id': float('nan')}]\n"
                   "n = eb.export_rows(rows, 'docvqa', {'image'}, set(), out)\n"
                   "json.dump({'format': 'g4u-benchmark-export/1', 'benchmark': 'docvqa', 'rows': n},\n"
                   "          open(os.path.join(out, 'export.json'), 'w'))\n");
  std::string cmd = "python3 " + script + " " + convert + " " + kFixtures + "docvqa/media/000000_image.png " +
                    (dir / "export") + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto row = nlohmann::json::parse(test::read_file(dir / "export/rows.jsonl"));
  CHECK(row["image"]["path"] == "media/000000_image.png");
  CHECK(row["image"]["source_path"] == "page_3.png");
  CHECK(row["ucsf_document_id"].is_null());  // NaN -> null
  auto r = import("docvqa", dir / "out", dir / "export");
  const Sample& s = r.by_id.at("7");
  CHECK(s.answers == std::vector<std::string>{"Ann", "ann"});
  CHECK(s.cluster == std::optional<std::string>("3"));
  CHECK(test::read_file(s.images[0].path) == test::read_file(kFixtures + "docvqa/media/000000_image.png"));
}

TEST_CASE("preview_import: the lines and import.json an import writes, with media headers, writing nothing",
          "[integration]") {
  ScratchDir d("bench_preview");
  const std::vector<std::pair<std::string, std::string>> exports = {
      {"mmmu", "mmmu"},         {"mmmu-pro", "mmmu-pro"}, {"mmmu-pro", "mmmu-pro/vision"}, {"mathvision", "mathvision"},
      {"docvqa", "docvqa"},     {"infovqa", "infovqa"},   {"fleurs", "fleurs"},            {"covost2", "covost2"},
      {"mmau", "mmau"},         {"mathvista", "mathvista"}};
  for (const auto& [bench, folder] : exports) {
    INFO(folder);
    ImportOptions o;
    o.benchmark = bench;
    o.input = kFixtures + folder;
    const std::string out = d / "out";
    const ImportPreview preview = preview_import(o);  // o.out unset: nothing is written
    CHECK(d.count() == 0);
    o.out = out;
    const nlohmann::json info = import_benchmark(o);
    const std::vector<nlohmann::json> lines = test::read_jsonl(out + "/manifest.jsonl");
    REQUIRE(preview.lines.size() == lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      CHECK(preview.lines[i].line == lines[i]);
      // One header per media file of the line, read (header level): images with a size, audio with a length.
      CHECK_FALSE(preview.lines[i].media.empty());
      for (const auto& m : preview.lines[i].media) CHECK((m.width > 0 || m.frames > 0));
    }
    nlohmann::json without_out = info;
    without_out.erase("out");
    CHECK(preview.info == without_out);
    fs::remove_all(out);
  }
}
