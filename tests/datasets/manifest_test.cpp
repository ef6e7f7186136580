// Manifest format: parsing, validation of every field, bad inputs, skip-and-count, sharding,
// media checks, prompt rendering.
#include "base/json_util.h"
#include "datasets/manifest/manifest.h"
#include "datasets/prompt/prompt.h"
#include "datasets/manifest/shard.h"
#include "eval/metrics.h"
#include "datasets_test_util.h"

#include <sndfile.h>

#include <cstring>
#include <set>

using namespace g4u;
using namespace g4u::datasets;
using g4u::test::input_error;
using g4u::test::ScratchDir;
using Catch::Matchers::Contains;

namespace {

// A scratch dataset folder with media/a.png, media/b.png, media/c.wav.
struct Dataset {
  ScratchDir dir;
  Dataset() {
    test::write_file(dir / "media/a.png", test::tiny_png());
    test::write_file(dir / "media/b.png", test::tiny_png());
    test::write_file(dir / "media/c.wav", test::tiny_wav());
  }
  std::string write(const std::string& text) {
    std::string p = dir / "manifest.jsonl";
    test::write_file(p, text);
    return p;
  }
  // The error of a manifest holding `line` alone.
  std::string error(const std::string& line, MediaCheck check = MediaCheck::kHeader) {
    std::string p = write(line + "\n");
    ReaderOptions o;
    o.media = check;
    return input_error([&] { read_manifest(p, o); });
  }
};

const char* kGood =
    R"({"id": "q1", "task": "count-shapes", "question": "How many?", "images": ["media/a.png"], "answers": [3]})";

}  // namespace

TEST_CASE("canonical_number writes integers plainly and other values in shortest round-trip form", "[unit]") {
  CHECK(canonical_number(3.0) == "3");
  CHECK(canonical_number(-12.0) == "-12");
  CHECK(canonical_number(-0.0) == "0");
  CHECK(canonical_number(2.5) == "2.5");
  CHECK(canonical_number(0.1) == "0.1");
  CHECK(canonical_number(9007199254740992.0) == "9007199254740992");
  CHECK(canonical_number(1e21) == "1e+21");
}

TEST_CASE("parse_shard accepts i/N with 0 <= i < N only", "[unit]") {
  Shard s = parse_shard("2/5");
  CHECK(s.index == 2);
  CHECK(s.count == 5);
  CHECK(parse_shard("0/1").all());
  for (const char* bad : {"5/5", "1/0", "a/b", "1", "/3", "1/", "-1/3", "1/3x", "0/2000000"})
    CHECK_THROWS_AS(parse_shard(bad), InputError);
}

TEST_CASE("base64 matches the RFC 4648 test vectors", "[unit]") {
  std::vector<std::pair<std::string, std::string>> v = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                        {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                        {"foobar", "Zm9vYmFy"}};
  for (auto& [plain, enc] : v) {
    CHECK(base64_encode(plain) == enc);
    std::string out;
    CHECK(base64_decode(enc, &out));
    CHECK(out == plain);
  }
  std::string out;
  for (const char* bad : {"Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "Zm=v"}) CHECK_FALSE(base64_decode(bad, &out));
}

TEST_CASE("a valid question-form line parses into a Sample", "[unit]") {
  Dataset d;
  std::string p = d.write(std::string(kGood) + "\n\n" +
                          R"({"id": "q2", "task": "diagram-mc", "question": "Which?", "images": ["./media/../media/b.png"],)"
                          R"( "choices": ["red", "green", "blue"], "answers": ["C"], "meta": {"k": 1}, "cluster": 7})" "\n");
  auto samples = read_manifest(p);
  REQUIRE(samples.size() == 2);
  const Sample& a = samples[0];
  CHECK(a.id == "q1");
  CHECK(a.task->name == "count-shapes");
  CHECK(a.answers == std::vector<std::string>{"3"});
  REQUIRE(a.images.size() == 1);
  CHECK(a.images[0].path == (std::filesystem::path(d.dir.path) / "media/a.png").string());
  CHECK(a.where == p + ":1");
  const Sample& b = samples[1];
  CHECK(b.where == p + ":3");  // the blank line still counts
  CHECK(b.choices.size() == 3);
  CHECK(b.answers[0] == "C");
  CHECK(b.meta["k"] == 1);
  CHECK(b.cluster == std::optional<std::string>("7"));
  CHECK(b.images[0].path == (std::filesystem::path(d.dir.path) / "media/b.png").string());
}

TEST_CASE("message-form lines carry media inside the conversation", "[unit]") {
  Dataset d;
  std::string p = d.write(
      R"({"id": "m1", "task": "spoken-digits", "messages": [{"role": "system", "content": "Be brief."},)"
      R"( {"role": "user", "content": [{"type": "audio", "path": "media/c.wav"}, {"type": "text", "text": "Transcribe."}]}],)"
      R"( "answers": ["four two"]})" "\n");
  auto s = read_manifest(p).at(0);
  REQUIRE(s.messages.size() == 2);
  CHECK(s.messages[1].content[0].kind == ContentPart::Kind::kAudio);
  CHECK(s.media().size() == 1);
  auto chat = build_chat(s);
  REQUIRE(chat.size() == 2);
  CHECK(chat[1].content[0].kind == model::ChatItem::Kind::kAudio);
  CHECK(chat[1].content[1].text == "Transcribe.");
}

TEST_CASE("bad lines are InputErrors naming file:line and the field", "[unit]") {
  Dataset d;
  std::string at = d.dir / "manifest.jsonl:1";
  auto check = [&](const std::string& line, const std::string& field, const std::string& what) {
    std::string e = d.error(line);
    INFO(e);
    CHECK_THAT(e, Contains(at));
    if (!field.empty()) CHECK_THAT(e, Contains("field '" + field + "'"));
    CHECK_THAT(e, Contains(what));
  };
  check("{\"id\": \"x\", ", "", "invalid JSON");
  check("[1, 2]", "", "expected a JSON object");
  check(R"({"task": "arith", "question": "q", "answers": [1]})", "id", "missing");
  check(R"({"id": 5, "task": "arith", "question": "q", "answers": [1]})", "id", "expected a string, got integer");
  check(R"({"id": "", "task": "arith", "question": "q", "answers": [1]})", "id", "empty id");
  check(R"({"id": "x", "task": "arith", "question": "q", "answer": [1]})", "answer", "unknown key");
  check(R"({"id": "x", "task": "nope", "question": "q", "answers": [1]})", "task", "unknown task 'nope' (known: count-shapes");
  check(R"({"id": "x", "task": "arith", "question": "q"})", "answers", "missing");
  check(R"({"id": "x", "task": "arith", "question": "q", "answers": 3})", "answers", "expected a list");
  check(R"({"id": "x", "task": "arith", "question": "q", "answers": []})", "answers", "the list is empty");
  // Answers of the wrong type for the task.
  check(R"({"id": "x", "task": "arith", "question": "q", "answers": ["3"]})", "answers[0]",
        "expected a JSON number (task arith has number answers), got string");
  check(R"({"id": "x", "task": "rule-chain", "question": "q", "answers": [3]})", "answers[0]",
        "expected a string (task rule-chain has text answers), got integer");
  check(R"({"id": "x", "task": "diagram-mc", "question": "q", "images": ["media/a.png"], "choices": ["a", "b"], "answers": ["C"]})",
        "answers[0]", "beyond the 2 choices");
  check(R"({"id": "x", "task": "diagram-mc", "question": "q", "images": ["media/a.png"], "choices": ["a", "b"], "answers": ["a"]})",
        "answers[0]", "single capital letter");
  check(R"({"id": "x", "task": "spoken-mc", "question": "q", "audios": ["media/c.wav"], "choices": ["a", "b"], "answers": ["c"]})",
        "answers[0]", "not one of the choices");
  check(R"({"id": "x", "task": "diagram-mc", "question": "q", "images": ["media/a.png"], "answers": ["A"]})", "choices",
        "missing (task diagram-mc is multiple choice)");
  check(R"({"id": "x", "task": "diagram-mc", "question": "q", "images": ["media/a.png"], "choices": ["a"], "answers": ["A"]})",
        "choices", "expected 2 to 26 choices");
  // Question / messages / modality.
  check(R"({"id": "x", "task": "arith", "answers": [1]})", "question", "missing");
  check(R"({"id": "x", "task": "arith", "question": "q", "messages": [], "answers": [1]})", "question",
        "not allowed together with 'messages'");
  check(R"({"id": "x", "task": "count-shapes", "question": "q", "answers": [1]})", "images", "needs at least one image");
  check(R"({"id": "x", "task": "arith", "question": "q", "images": ["media/a.png"], "answers": [1]})", "images", "text-only");
  check(R"({"id": "x", "task": "count-beeps", "question": "q", "images": ["media/a.png"], "answers": [1]})", "audios",
        "needs at least one audio clip");
  check(R"({"id": "x", "task": "spoken-digits", "messages": [{"role": "bot", "content": "hi"}], "answers": ["a"]})",
        "messages[0].role", "unknown role 'bot'");
  check(R"({"id": "x", "task": "spoken-digits", "messages": [{"role": "user", "content": [{"type": "video", "path": "v.mp4"}]}], "answers": ["a"]})",
        "messages[0].content[0].type", "unknown part type 'video'");
  check(R"({"id": "x", "task": "mmmu-val-open", "question": "See <image 2>", "images": ["media/a.png"], "answers": ["a"]})",
        "question", "<image 2> refers to a missing image");
  check(R"({"id": "x", "task": "covost2", "audios": ["media/c.wav"], "answers": ["a"]})", "meta.target_language",
        "missing or not a non-empty string");
  check(R"({"id": "x", "task": "arith", "question": "q", "answers": [1], "meta": [1]})", "meta", "expected an object");
  check(R"({"id": "x", "task": "arith", "question": "q", "answers": [1], "cluster": 1.5})", "cluster",
        "expected a string or an integer");
}

TEST_CASE("media problems: missing files, undecodable data, path traversal", "[unit]") {
  Dataset d;
  test::write_file(d.dir / "media/text.png", "this is not an image at all");
  test::write_file(d.dir / "media/bad_header.png", std::string("\x89PNG\r\n\x1a\n", 8) + "garbage-garbage-garbage");
  std::string png = test::tiny_png();
  test::write_file(d.dir / "media/truncated.png", png.substr(0, png.size() - 20));
  test::write_file(d.dir / "media/noise.wav", "RIFF....WAVEjunkjunkjunk");
  test::write_file(d.dir / "media/empty.png", "");
  auto image_line = [](const std::string& path) {
    return R"({"id": "x", "task": "count-shapes", "question": "q", "images": [")" + path + R"("], "answers": [1]})";
  };
  auto audio_line = [](const std::string& path) {
    return R"({"id": "x", "task": "count-beeps", "question": "q", "audios": [")" + path + R"("], "answers": [1]})";
  };
  CHECK_THAT(d.error(image_line("media/missing.png")), Contains("field 'images[0]'") && Contains("does not exist"));
  CHECK_THAT(d.error(image_line("media")), Contains("not a regular file"));
  CHECK_THAT(d.error(image_line("media/text.png")), Contains("not a supported image"));
  CHECK_THAT(d.error(image_line("media/empty.png")), Contains("not a supported image"));
  CHECK_THAT(d.error(image_line("media/bad_header.png")), Contains("cannot read the png header"));
  CHECK_THAT(d.error(audio_line("media/noise.wav")), Contains("field 'audios[0]'") && Contains("libsndfile"));
  CHECK_THAT(d.error(audio_line("media/a.png")), Contains("libsndfile"));
  // The header of a truncated PNG is intact; only a full decode notices.
  std::string p = d.write(image_line("media/truncated.png") + "\n");
  CHECK_NOTHROW(read_manifest(p));
  ReaderOptions o;
  o.media = MediaCheck::kDecode;
  CHECK_THAT(input_error([&] { read_manifest(p, o); }), Contains("cannot decode the png image"));
  // Path traversal and absolute paths are refused before the file system is touched.
  for (const char* bad : {"../outside.png", "media/../../outside.png", "./../x.png", "/etc/passwd", "media\\\\a.png", "."})
    CHECK_THAT(d.error(image_line(bad), MediaCheck::kNone), Contains("field 'images[0]'"));
  CHECK_THAT(d.error(image_line("../outside.png"), MediaCheck::kNone), Contains("path traversal"));
  CHECK_THAT(d.error(image_line("/etc/passwd"), MediaCheck::kNone), Contains("is absolute"));
  // A symbolic link out of the folder is refused too; one that stays inside is followed.
  std::filesystem::create_symlink("/etc/passwd", d.dir / "media/link.png");
  std::filesystem::create_symlink("text.png", d.dir / "media/inside.png");
  CHECK_THAT(d.error(image_line("media/link.png"), MediaCheck::kNone),
             Contains("field 'images[0]'") && Contains("outside the dataset folder through a symbolic link"));
  CHECK_THAT(d.error(image_line("media/inside.png")), Contains("not a supported image"));
}

TEST_CASE("inline data: URIs are decoded and checked", "[unit]") {
  Dataset d;
  std::string uri = make_data_uri("image/png", test::tiny_png());
  std::string p = d.write(R"({"id": "x", "task": "count-shapes", "question": "q", "images": [")" + uri +
                          R"("], "answers": [1]})" "\n");
  auto s = read_manifest(p).at(0);
  REQUIRE(s.images[0].is_inline());
  CHECK(s.images[0].data == test::tiny_png());
  // Spilled to a file named by content hash when a consumer needs a path.
  std::string f = media_file(s.images[0], d.dir / "spill");
  CHECK(test::read_file(f) == test::tiny_png());
  CHECK(f.size() > 4);
  CHECK(f.substr(f.size() - 4) == ".png");
  auto line = [](const std::string& u) {
    return R"({"id": "x", "task": "count-shapes", "question": "q", "images": [")" + u + R"("], "answers": [1]})";
  };
  CHECK_THAT(d.error(line("data:image/png;base64,@@@@")), Contains("not valid base64"));
  CHECK_THAT(d.error(line("data:image/png,rawtext")), Contains("must be base64"));
  CHECK_THAT(d.error(line(make_data_uri("audio/wav", test::tiny_wav()))), Contains("expected image/"));
  CHECK_THAT(d.error(line(make_data_uri("image/png", "not a png"))), Contains("not a supported image"));
}

TEST_CASE("FLAC and WAV written by libsndfile pass the audio check with their duration", "[unit]") {
  std::vector<float> x;
  add_tone(x, 16000, 0, 0.5, 440, 0.5);
  auto info = check_audio_bytes(encode_wav_pcm16(x, 16000), true, "wav");
  CHECK(info.format == "wav");
  CHECK(info.sample_rate == 16000);
  CHECK(info.frames == 8000);
  CHECK(info.duration_s() == Approx(0.5));
  // FLAC through libsndfile's virtual I/O.
  struct Buf {
    std::string data;
    sf_count_t pos = 0;
  } buf;
  SF_VIRTUAL_IO io{
      [](void* u) -> sf_count_t { return static_cast<sf_count_t>(static_cast<Buf*>(u)->data.size()); },
      [](sf_count_t off, int whence, void* u) -> sf_count_t {
        auto* b = static_cast<Buf*>(u);
        b->pos = (whence == SEEK_SET ? 0 : whence == SEEK_CUR ? b->pos : static_cast<sf_count_t>(b->data.size())) + off;
        return b->pos;
      },
      [](void* p, sf_count_t n, void* u) -> sf_count_t {
        auto* b = static_cast<Buf*>(u);
        sf_count_t k = std::min<sf_count_t>(n, static_cast<sf_count_t>(b->data.size()) - b->pos);
        std::memcpy(p, b->data.data() + b->pos, static_cast<size_t>(k));
        b->pos += k;
        return k;
      },
      [](const void* p, sf_count_t n, void* u) -> sf_count_t {
        auto* b = static_cast<Buf*>(u);
        if (b->pos + n > static_cast<sf_count_t>(b->data.size())) b->data.resize(static_cast<size_t>(b->pos + n));
        std::memcpy(b->data.data() + b->pos, p, static_cast<size_t>(n));
        b->pos += n;
        return n;
      },
      [](void* u) -> sf_count_t { return static_cast<Buf*>(u)->pos; }};
  SF_INFO si{};
  si.samplerate = 16000;
  si.channels = 1;
  si.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open_virtual(&io, SFM_WRITE, &si, &buf);
  REQUIRE(f != nullptr);
  sf_write_float(f, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(f);
  auto flac = check_audio_bytes(buf.data, true, "flac");
  CHECK(flac.format == "flac");
  CHECK(flac.frames == 8000);
}

TEST_CASE("duplicate ids, empty manifests and skip-and-count", "[unit]") {
  Dataset d;
  std::string dup = d.write(std::string(kGood) + "\n" + kGood + "\n");
  CHECK_THAT(input_error([&] { read_manifest(dup); }),
             Contains(":2: field 'id': duplicate id 'q1' (first on line 1)"));
  std::string empty = d.write("\n  \n");
  CHECK_THAT(input_error([&] { read_manifest(empty); }), Contains("the manifest is empty"));

  std::string mixed = d.write(std::string(kGood) + "\n" +                                     // 1 ok
                              "not json\n" +                                                  // 2 bad JSON
                              R"({"id": "q3", "task": "zzz", "question": "q", "answers": [1]})" "\n"  // 3 unknown task
                              + kGood + "\n" +                                                // 4 duplicate
                              R"({"id": "q5", "task": "arith", "question": "1+1", "answers": [2]})" "\n"  // 5 ok
                              R"({"id": "q6", "task": "count-shapes", "question": "q", "images": ["../x.png"], "answers": [1]})" "\n");
  ReaderOptions o;
  o.skip_invalid = true;
  ManifestReader r(mixed, o);
  std::vector<std::string> ids;
  while (auto s = r.next()) ids.push_back(s->id);
  CHECK(ids == std::vector<std::string>{"q1", "q5"});
  CHECK(r.lines() == 6);
  REQUIRE(r.skipped().size() == 4);
  CHECK(r.skipped()[0].line == 2);
  CHECK(r.skipped()[0].id.empty());
  CHECK_THAT(r.skipped()[0].reason, Contains("invalid JSON"));
  CHECK(r.skipped()[1].line == 3);
  CHECK(r.skipped()[1].id == "q3");
  CHECK_THAT(r.skipped()[1].reason, Contains("unknown task"));
  CHECK(r.skipped()[2].line == 4);
  CHECK_THAT(r.skipped()[2].reason, Contains("duplicate id"));
  CHECK(r.skipped()[3].line == 6);
  CHECK_THAT(r.skipped()[3].reason, Contains("path traversal"));
  auto j = r.summary();
  CHECK(j["samples"] == 2);
  CHECK(j["skipped"] == 4);
  CHECK(j["skipped_lines"].size() == 4);
  CHECK(j["tasks"]["arith"] == 1);
}

TEST_CASE("shards cover every id exactly once", "[unit]") {
  Dataset d;
  std::string text;
  for (int i = 0; i < 300; ++i)
    text += R"({"id": "item-)" + std::to_string(i * 7919) + R"(", "task": "arith", "question": "q", "answers": [1]})" "\n";
  std::string p = d.write(text);
  for (uint32_t n : {1u, 2u, 3u, 7u}) {
    std::multiset<std::string> seen;
    for (uint32_t i = 0; i < n; ++i) {
      ReaderOptions o;
      o.shard = {i, n};
      ManifestReader r(p, o);
      size_t got = 0;
      while (auto s = r.next()) {
        seen.insert(s->id);
        CHECK(fnv1a64(s->id) % n == i);
        ++got;
      }
      CHECK(r.other_shards() + got == 300);
      if (n <= 3) CHECK(got > 300 / n / 2);  // roughly even
    }
    CHECK(seen.size() == 300);
    std::set<std::string> unique(seen.begin(), seen.end());
    CHECK(unique.size() == 300);
  }
}

TEST_CASE("prompt templates and media placement", "[unit]") {
  Dataset d;
  std::string p = d.write(
      R"({"id": "v1", "task": "mmmu-val-mc", "question": "Compare <image 2> with <image 1>.", "images": ["media/a.png", "media/b.png"],)"
      R"( "choices": ["same", "<image 1> is larger"], "answers": ["A"]})" "\n"
      R"({"id": "v2", "task": "covost2", "audios": ["media/c.wav"], "answers": ["hallo"], "meta": {"target_language": "German"}})" "\n");
  auto s = read_manifest(p);
  // lmms-eval MMMU: question, "\n", option lines, "\n\n", instruction.
  CHECK(render_prompt_text(s[0]) ==
        "Compare <image 2> with <image 1>.\nA. same\nB. <image 1> is larger\n\n"
        "Answer with the option's letter from the given choices directly.");
  CHECK(render_prompt_text(s[1]) == "Translate the speech into German and only output the translation:");

  auto before = build_chat(s[0]);
  REQUIRE(before.size() == 1);
  REQUIRE(before[0].content.size() == 3);  // image 1, image 2 (sorted, once each), text
  CHECK(before[0].content[0].path == s[0].images[0].path);
  CHECK(before[0].content[1].path == s[0].images[1].path);
  CHECK(before[0].content[2].text ==
        "Compare  with .\nA. same\nB.  is larger\n\nAnswer with the option's letter from the given choices directly.");

  PromptOptions o;
  o.placement = MediaPlacement::kInterleaved;
  o.system_prompt = "You are a helpful assistant.";
  auto inter = build_chat(s[0], o);
  REQUIRE(inter.size() == 2);
  CHECK(inter[0].role == "system");
  auto& c = inter[1].content;
  REQUIRE(c.size() == 7);
  CHECK(c[0].text == "Compare ");
  CHECK(c[1].path == s[0].images[1].path);
  CHECK(c[2].text == " with ");
  CHECK(c[3].path == s[0].images[0].path);
  CHECK(c[4].text == ".\nA. same\nB. ");
  CHECK(c[5].path == s[0].images[0].path);  // repeats allowed
  CHECK(c[6].text == " is larger\n\nAnswer with the option's letter from the given choices directly.");

  auto audio = build_chat(s[1]);
  REQUIRE(audio[0].content.size() == 2);
  CHECK(audio[0].content[0].kind == model::ChatItem::Kind::kAudio);
}

TEST_CASE("every registered task has a known metric, a template and a consistent shape", "[unit]") {
  for (auto& t : task_registry().all()) {
    INFO(t.name);
    const eval::Metric* metric = eval::metric_registry().lookup(t.metric);
    REQUIRE(metric != nullptr);
    CHECK(eval::normalizer_registry().lookup(t.normalizer) != nullptr);
    CHECK(!t.description.empty());
    CHECK(!t.source.empty());
    // choice metrics read the line's choices, so the task must carry them
    if (metric->needs_choices) CHECK(t.needs_choices);
    CHECK(!t.prompt_template.empty());
    CHECK(t.max_new_tokens > 0);
    // a template showing options needs them; choices without {options} only where the image shows
    // the options (MMMU-Pro vision) and the metric parses letters against them
    if (t.prompt_template.find("{options}") != std::string::npos) CHECK(t.needs_choices);
    else if (t.needs_choices) CHECK((metric->needs_choices && t.name == "mmmu-pro-vision"));
    if (t.answer_type == AnswerType::kChoice) CHECK(t.needs_choices);
  }
  CHECK_THAT(input_error([] { find_task("mmmu"); }), Contains("unknown task 'mmmu' (known: "));
}

TEST_CASE("a byte order mark and CRLF line ends are accepted", "[unit]") {
  Dataset d;
  std::string p = d.write("\xEF\xBB\xBF" + std::string(kGood) + "\r\n" +
                          R"({"id": "q2", "task": "arith", "question": "1+1", "answers": [2]})" "\r\n");
  auto s = read_manifest(p);
  REQUIRE(s.size() == 2);
  CHECK(s[0].id == "q1");
  CHECK(s[1].where == p + ":2");
}

TEST_CASE("a manifest line over the JSON Lines limit is refused without being read whole", "[unit]") {
  Dataset d;
  // Line 2 is kMaxJsonLineBytes + 1 bytes of zeros (a sparse file: nothing is written for them).
  std::string p = d.write(std::string(kGood) + "\n");
  std::filesystem::resize_file(p, std::filesystem::file_size(p) + kMaxJsonLineBytes + 1);
  CHECK_THAT(input_error([&] { read_manifest(p); }),
             Contains(p + ":2: a line longer than 67108864 bytes (g4u's limit for one JSON Lines record"));
  // One byte less is read (and then refused as the JSON it is not).
  std::filesystem::resize_file(p, std::filesystem::file_size(p) - 1);
  CHECK_THAT(input_error([&] { read_manifest(p); }), Contains(p + ":2: invalid JSON"));
}
