// Synthetic suites: determinism (bytes), seed sensitivity, balance, chance level, and that each
// item's media actually shows / says what its answer claims (checked from the pixels and samples).
#include "datasets/manifest/manifest.h"
#include "datasets/synth/synth.h"
#include "datasets_test_util.h"
#include "eval/metrics.h"

#include <sndfile.h>
#include <stb/stb_image.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>

using namespace g4u;
using namespace g4u::datasets;
using g4u::test::ScratchDir;
namespace fs = std::filesystem;

namespace {

using test::folder_files;

std::vector<Sample> synth(const std::string& suite, int64_t n, uint64_t seed, const std::string& out) {
  synthesize({suite, n, seed, out, false});
  ReaderOptions o;
  o.media = MediaCheck::kDecode;
  return read_manifest(out + "/manifest.jsonl", o);
}

struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> px;
  bool is(int x, int y, int r, int g, int b) const {
    const uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 3];
    return p[0] == r && p[1] == g && p[2] == b;
  }
};

Image load_png(const Sample& s) {
  Image im;
  int c = 0;
  uint8_t* p = stbi_load(s.images.at(0).path.c_str(), &im.w, &im.h, &c, 3);
  REQUIRE(p != nullptr);
  im.px.assign(p, p + static_cast<size_t>(im.w) * im.h * 3);
  stbi_image_free(p);
  return im;
}

std::vector<float> load_wav(const Sample& s, int* rate = nullptr) {
  SF_INFO info{};
  SNDFILE* f = sf_open(s.audios.at(0).path.c_str(), SFM_READ, &info);
  REQUIRE(f != nullptr);
  REQUIRE(info.channels == 1);
  if (rate) *rate = info.samplerate;
  std::vector<float> x(static_cast<size_t>(info.frames));
  sf_readf_float(f, x.data(), info.frames);
  sf_close(f);
  return x;
}

// The suite palette by name (RGB of each colour word used in questions).
const std::map<std::string, std::array<int, 3>> kPalette = {{"red", {220, 40, 40}},
                                                           {"green", {40, 160, 60}},
                                                           {"blue", {50, 90, 220}},
                                                           {"yellow", {225, 190, 20}},
                                                           {"purple", {140, 60, 180}}};

// 4-connected components of pixels of exactly `rgb`.
int components(const Image& im, std::array<int, 3> rgb) {
  std::vector<int> seen(static_cast<size_t>(im.w) * im.h, 0);
  int count = 0;
  for (int y = 0; y < im.h; ++y)
    for (int x = 0; x < im.w; ++x) {
      if (seen[static_cast<size_t>(y) * im.w + x] || !im.is(x, y, rgb[0], rgb[1], rgb[2])) continue;
      ++count;
      std::vector<std::pair<int, int>> stack = {{x, y}};
      seen[static_cast<size_t>(y) * im.w + x] = 1;
      while (!stack.empty()) {
        auto [cx, cy] = stack.back();
        stack.pop_back();
        const int dx[] = {1, -1, 0, 0}, dy[] = {0, 0, 1, -1};
        for (int k = 0; k < 4; ++k) {
          int nx = cx + dx[k], ny = cy + dy[k];
          if (nx < 0 || ny < 0 || nx >= im.w || ny >= im.h) continue;
          size_t idx = static_cast<size_t>(ny) * im.w + nx;
          if (seen[idx] || !im.is(nx, ny, rgb[0], rgb[1], rgb[2])) continue;
          seen[idx] = 1;
          stack.push_back({nx, ny});
        }
      }
    }
  return count;
}

// The balanced quantities of a suite's item (one or more class labels).
std::vector<std::string> classes_of(const Sample& s) {
  const std::string& a = s.answers.at(0);
  const std::string& n = s.task->name;
  auto words = [](const std::string& t) {
    std::vector<std::string> w;
    std::istringstream ss(t);
    for (std::string x; ss >> x;) w.push_back(x);
    return w;
  };
  if (n == "read-digits") return {a.substr(0, 1), a.substr(1, 1), a.substr(2, 1), a.substr(3, 1)};
  if (n == "spoken-digits" || n == "spoken-words") return words(a);
  if (n == "spoken-mc") {
    for (size_t i = 0; i < s.choices.size(); ++i)
      if (s.choices[i] == a) return {std::to_string(i)};
    FAIL("answer not among the choices");
  }
  if (n == "sequence") {
    int first = std::stoi(a), second = std::stoi(a.substr(a.find(", ") + 2));
    return {std::to_string(second - first)};
  }
  return {a};
}

// Hand-derived facts about each suite: number of balanced classes and chance level.
struct Expect {
  int classes;
  double chance;  // < 0: none (WER)
};
const std::map<std::string, Expect> kExpected = {
    {"count-shapes", {5, 0.2}},     {"spatial", {4, 0.25}},        {"chart-highest", {4, 0.25}},
    {"chart-value", {9, 1.0 / 9}},  {"read-digits", {10, 1e-4}},   {"diagram-mc", {4, 0.25}},
    {"spoken-digits", {10, -1}},    {"spoken-words", {16, -1}},    {"count-beeps", {5, 0.2}},
    {"tone-compare", {2, 0.5}},     {"spoken-mc", {4, 0.25}},      {"arith", {20, 0.05}},
    {"rule-chain", {24, 1.0 / 24}}, {"sequence", {9, 1.0 / 90}}};

}  // namespace

TEST_CASE("the suite list is the documented one", "[unit]") {
  std::set<std::string> names;
  for (auto& s : suite_registry().all()) names.insert(s.name);
  std::set<std::string> want;
  for (auto& [k, _] : kExpected) want.insert(k);
  CHECK(names == want);
  CHECK_THROWS_AS(find_suite("nope"), InputError);
}

TEST_CASE("every suite record is complete: its task, a scoring metric, classes, chance, a generator", "[unit]") {
  for (const SuiteInfo& suite : suite_registry().all()) {
    INFO(suite.name);
    REQUIRE(suite.task != nullptr);
    CHECK(suite.task == lookup_task(suite.name));  // a suite writes lines of its own task
    const eval::Metric* metric = eval::metric_registry().lookup(suite.task->metric);
    REQUIRE(metric != nullptr);
    CHECK(suite.classes >= 2);
    // a chance level is an expected accuracy; error-rate suites have none
    CHECK(suite.chance.has_value() == !metric->corpus);
    if (suite.chance) CHECK((*suite.chance > 0 && *suite.chance <= 1));
    CHECK(!suite.chance_definition.empty());
    CHECK(static_cast<bool>(suite.make));
    CHECK(suite_json(suite)["metric"] == suite.task->metric);
  }
}

TEST_CASE("every suite: same seed -> identical bytes, other seed -> different; balanced; chance recorded",
          "[integration]") {
  for (auto& suite : suite_registry().all()) {
    DYNAMIC_SECTION(suite.name) {
      const Expect& want = kExpected.at(suite.name);
      CHECK(suite.classes == want.classes);
      // Whole blocks of classes (each class appears exactly n / k times), at least 8 items.
      int64_t k = want.classes, n = (std::max<int64_t>(k, 8) + k - 1) / k * k;
      ScratchDir dir;
      auto a = synth(suite.name, n, 7, dir / "a");
      synthesize({suite.name, n, 7, dir / "b", false});
      synthesize({suite.name, n, 8, dir / "c", false});
      auto fa = folder_files(dir / "a"), fb = folder_files(dir / "b"), fc = folder_files(dir / "c");
      CHECK(fa.size() == fb.size());
      CHECK(fa == fb);
      CHECK(fa.at("manifest.jsonl") != fc.at("manifest.jsonl"));
      if (suite.task->modality != Modality::kText) {
        size_t differ = 0;
        for (auto& [rel, bytes] : fa)
          if (rel.rfind("media/", 0) == 0) {
            std::string other = rel;
            other.replace(other.find("-s7-"), 4, "-s8-");
            differ += fc.count(other) && fc.at(other) != bytes;
          }
        CHECK(differ > 0);
      }
      REQUIRE(a.size() == static_cast<size_t>(n));
      std::map<size_t, std::map<std::string, int>> counts;  // per balanced quantity
      for (auto& s : a) {
        CHECK(s.task->name == suite.name);
        auto cls = classes_of(s);
        for (size_t k = 0; k < cls.size(); ++k) ++counts[k][cls[k]];
        if (want.chance >= 0) CHECK(s.meta.at("chance").get<double>() == Approx(want.chance));
        else CHECK_FALSE(s.meta.contains("chance"));
      }
      for (auto& [k, c] : counts) {
        INFO("quantity " << k);
        CHECK(c.size() == static_cast<size_t>(want.classes));
        for (auto& [label, m] : c) CHECK(m == n / want.classes);
      }
      auto info = nlohmann::json::parse(test::read_file(dir / "a/suite.json"));
      CHECK(info["suite"] == suite.name);
      CHECK(info["n"] == n);
      CHECK(info["seed"] == 7);
      if (want.chance >= 0) CHECK(info["chance"].get<double>() == Approx(want.chance));
      else CHECK(info["chance"].is_null());
    }
  }
}

TEST_CASE("a longer run starts with the items of a shorter one", "[unit]") {
  ScratchDir dir;
  synthesize({"arith", 7, 3, dir / "short", false});
  synthesize({"arith", 20, 3, dir / "long", false});
  std::string s = test::read_file(dir / "short/manifest.jsonl"), l = test::read_file(dir / "long/manifest.jsonl");
  CHECK(l.compare(0, s.size(), s) == 0);
  CHECK(l.find("\"id\":\"arith-s3-000019\"") != std::string::npos);
}

TEST_CASE("synthesize refuses bad options and non-empty output folders", "[unit]") {
  ScratchDir dir;
  CHECK_THROWS_AS(synthesize({"nope", 5, 0, dir / "x", false}), InputError);
  CHECK_THROWS_AS(synthesize({"arith", 0, 0, dir / "x", false}), InputError);
  CHECK_THROWS_AS(synthesize({"arith", 5, 0, dir / "no/such/parent/x", false}), InputError);
  synthesize({"arith", 5, 0, dir / "x", false});
  CHECK_THROWS_WITH(synthesize({"arith", 5, 1, dir / "x", false}), Catch::Contains("--overwrite"));
  synthesize({"arith", 6, 1, dir / "x", true});
  CHECK(nlohmann::json::parse(test::read_file(dir / "x/suite.json"))["n"] == 6);
  // Nothing left behind but the result.
  size_t entries = 0;
  for (auto& e : fs::directory_iterator(dir.path)) entries += e.path().filename() != "x";
  CHECK(entries == 0);
}

TEST_CASE("vision items show what their answers say", "[integration]") {
  ScratchDir dir;
  for (auto& s : synth("count-shapes", 20, 11, dir / "count")) {
    Image im = load_png(s);
    CHECK(im.w == 64);
    CHECK(im.h == 64);
    std::string colour = s.meta.at("colour");
    CHECK(components(im, kPalette.at(colour)) == std::stoi(s.answers[0]));
  }
  std::regex spatial_q("Where is the (\\w+) \\w+ relative to the (\\w+) \\w+\\?");
  for (auto& s : synth("spatial", 16, 11, dir / "spatial")) {
    std::smatch m;
    REQUIRE(std::regex_match(s.question, m, spatial_q));
    Image im = load_png(s);
    auto centroid = [&](const std::string& colour, double& cx, double& cy) {
      auto rgb = kPalette.at(colour);
      double n = 0;
      cx = cy = 0;
      for (int y = 0; y < im.h; ++y)
        for (int x = 0; x < im.w; ++x)
          if (im.is(x, y, rgb[0], rgb[1], rgb[2])) cx += x, cy += y, n += 1;
      REQUIRE(n > 10);
      cx /= n;
      cy /= n;
    };
    double ax, ay, bx, by;
    centroid(m[1], ax, ay);
    centroid(m[2], bx, by);
    std::string rel = std::fabs(ax - bx) > std::fabs(ay - by) ? (ax < bx ? "left" : "right") : (ay < by ? "above" : "below");
    CHECK(rel == s.answers[0]);
  }
  // Bar heights measured on the picture: 8 px per unit above the axis at y = 84, bars 20 px apart.
  auto bar_heights = [](const Image& im) {
    std::vector<int> h;
    for (int j = 0; j < 4; ++j) {
      int x = 14 + 4 + 20 * j + 3, y = 83, n = 0;
      const uint8_t* base = &im.px[(static_cast<size_t>(y) * im.w + x) * 3];
      while (y >= 0 && im.is(x, y, base[0], base[1], base[2])) --y, ++n;
      h.push_back(n);
    }
    return h;
  };
  for (auto& s : synth("chart-value", 18, 5, dir / "value")) {
    Image im = load_png(s);
    CHECK(im.w == 96);
    auto h = bar_heights(im);
    int bar = s.meta.at("bar").get<std::string>()[0] - 'A';
    CHECK(h[static_cast<size_t>(bar)] == 8 * std::stoi(s.answers[0]));
  }
  for (auto& s : synth("chart-highest", 12, 5, dir / "highest")) {
    auto h = bar_heights(load_png(s));
    size_t top = static_cast<size_t>(std::max_element(h.begin(), h.end()) - h.begin());
    CHECK(std::string(1, static_cast<char>('A' + top)) == s.answers[0]);
    CHECK(std::count(h.begin(), h.end(), h[top]) == 1);
  }
  for (auto& s : synth("diagram-mc", 12, 5, dir / "diagram")) {
    REQUIRE(s.choices.size() == 4);
    std::string answer = s.choices[static_cast<size_t>(s.answers[0][0] - 'A')];
    // The colour the question or the answer names is in the picture.
    std::string colour = kPalette.count(answer) ? answer : s.question.substr(s.question.rfind(' ') + 1);
    if (!colour.empty() && colour.back() == '?') colour.pop_back();
    CHECK(components(load_png(s), kPalette.at(colour)) == 1);
  }
  for (auto& s : synth("read-digits", 10, 5, dir / "digits")) {
    CHECK(std::regex_match(s.answers[0], std::regex("[0-9]{4}")));
    Image im = load_png(s);
    int ink = 0;
    for (size_t i = 0; i < im.px.size(); i += 3) ink += im.px[i] < 100;
    CHECK(ink > 40);  // four glyphs at scale 2 have at least 4 * 10 * 4 dark pixels
  }
}

TEST_CASE("audio items: speech is audible with a plausible duration; beeps and tones are as stated",
          "[integration]") {
  ScratchDir dir;
  for (const char* suite : {"spoken-digits", "spoken-words", "spoken-mc"}) {
    for (auto& s : synth(suite, 8, 2, dir / suite)) {
      int rate = 0;
      auto x = load_wav(s, &rate);
      double seconds = static_cast<double>(x.size()) / rate;
      INFO(suite << " " << s.id << " " << s.meta.dump());
      CHECK(rate == 16000);
      CHECK(rms(x) > 0.02);
      CHECK(seconds > 0.4);
      CHECK(seconds < 3.5);
      // Not a constant tone: the loudness varies across 50 ms frames (syllables and pauses).
      std::vector<double> frames;
      for (size_t i = 0; i + 800 <= x.size(); i += 800)
        frames.push_back(rms(std::vector<float>(x.begin() + static_cast<long>(i), x.begin() + static_cast<long>(i + 800))));
      CHECK(*std::max_element(frames.begin(), frames.end()) > 4 * *std::min_element(frames.begin(), frames.end()));
    }
  }
  for (auto& s : synth("count-beeps", 10, 4, dir / "beeps")) {
    auto x = load_wav(s);
    CHECK(x.size() == 32000u);
    int bursts = 0;
    bool on = false;
    for (size_t i = 0; i + 160 <= x.size(); i += 160) {
      bool loud = rms(std::vector<float>(x.begin() + static_cast<long>(i), x.begin() + static_cast<long>(i + 160))) > 0.1;
      bursts += loud && !on;
      on = loud;
    }
    CHECK(bursts == std::stoi(s.answers[0]));
  }
  for (auto& s : synth("tone-compare", 8, 4, dir / "tones")) {
    auto x = load_wav(s);
    auto freq = [&](double t0, double t1) {  // zero crossings per second / 2
      size_t a = static_cast<size_t>(t0 * 16000), b = static_cast<size_t>(t1 * 16000);
      int z = 0;
      for (size_t i = a + 1; i < b; ++i) z += (x[i - 1] < 0) != (x[i] < 0);
      return z / (2 * (t1 - t0));
    };
    double f1 = freq(0.15, 0.40), f2 = freq(0.75, 1.00);
    CHECK(f1 == Approx(s.meta.at("first_hz").get<double>()).epsilon(0.05));
    CHECK(f2 == Approx(s.meta.at("second_hz").get<double>()).epsilon(0.05));
    CHECK((f1 > f2 ? "first" : "second") == s.answers[0]);
  }
}

TEST_CASE("text items: the stated answers follow from the questions", "[unit]") {
  ScratchDir dir;
  for (auto& s : synth("arith", 40, 9, dir / "arith")) {
    std::smatch m;
    REQUIRE(std::regex_match(s.question, m, std::regex("What is (.*)\\?")));
    std::istringstream in(m[1].str());
    int value = 0, v = 0;
    char op = '+';
    in >> value;
    while (in >> op >> v) value += op == '+' ? v : -v;
    CHECK(std::to_string(value) == s.answers[0]);
    CHECK(value >= 0);
    CHECK(value <= 19);
  }
  for (auto& s : synth("rule-chain", 48, 9, dir / "rules")) {
    std::smatch m;
    REQUIRE(std::regex_search(s.question, m, std::regex("Start with the letters ([A-D ]+)\\. Apply these rules in order: (.*)\\. What")));
    std::vector<char> v;
    for (char c : m[1].str())
      if (c != ' ') v.push_back(c);
    std::string rules = m[2].str();
    std::regex step("\\d\\) ([a-z ]+)");
    for (auto it = std::sregex_iterator(rules.begin(), rules.end(), step); it != std::sregex_iterator(); ++it) {
      std::string r = (*it)[1];
      if (r == "swap the first two letters") std::swap(v[0], v[1]);
      else if (r == "swap the last two letters") std::swap(v[2], v[3]);
      else if (r == "reverse the order") std::reverse(v.begin(), v.end());
      else if (r == "move the first letter to the end") std::rotate(v.begin(), v.begin() + 1, v.end());
      else if (r == "move the last letter to the front") std::rotate(v.begin(), v.end() - 1, v.end());
      else if (r == "swap the first and last letters") std::swap(v[0], v[3]);
      else FAIL("unknown rule " << r);
    }
    std::string got = {v[0], ' ', v[1], ' ', v[2], ' ', v[3]};
    CHECK(got == s.answers[0]);
  }
  for (auto& s : synth("sequence", 9, 9, dir / "seq")) {
    std::smatch m;
    REQUIRE(std::regex_search(s.question, m, std::regex("sequence (\\d+), (\\d+), (\\d+), (\\d+) with")));
    int a = std::stoi(m[1]), d = std::stoi(m[2]) - a;
    CHECK(std::stoi(m[4]) == a + 3 * d);
    std::string want;
    for (int k = 4; k < 9; ++k) want += (k > 4 ? ", " : "") + std::to_string(a + k * d);
    CHECK(want == s.answers[0]);
  }
}

TEST_CASE("the resampler keeps in-band tones and removes what the new rate cannot hold", "[unit]") {
  const double kPi = 3.14159265358979323846;
  auto sine = [&](double f, int rate, size_t n) {
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(0.5 * std::sin(2 * kPi * f * i / rate));
    return x;
  };
  // 22050 -> 16000 (espeak-ng's rate to ours): 1 kHz comes out as the same sine sampled at 16 kHz.
  auto y = resample(sine(1000, 22050, 22050), 22050, 16000);
  REQUIRE(y.size() == 16000u);
  double worst = 0;
  for (size_t n = 100; n + 100 < y.size(); ++n)  // away from the edges (zero padding there)
    worst = std::max(worst, std::fabs(y[n] - 0.5 * std::sin(2 * kPi * 1000 * n / 16000)));
  CHECK(worst < 1e-4);
  // 10 kHz is above the 8 kHz Nyquist frequency of the output: (almost) nothing is left.
  auto z = resample(sine(10000, 22050, 22050), 22050, 16000);
  CHECK(rms(std::vector<float>(z.begin() + 100, z.end() - 100)) < 1e-3);
  // Upsampling keeps the tone too.
  auto u = resample(sine(440, 16000, 8000), 16000, 22050);
  CHECK(u.size() == 11025u);
  CHECK(rms(std::vector<float>(u.begin() + 200, u.end() - 200)) == Approx(0.5 / std::sqrt(2.0)).epsilon(0.01));
}
