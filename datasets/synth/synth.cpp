#include "datasets/synth/synth.h"

#include "datasets/synth/audio_synth.h"
#include "datasets/manifest/out_folder.h"
#include "datasets/synth/raster.h"
#include "base/rng.h"
#include "datasets/manifest/shard.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace g4u::datasets {

std::string synth_id(const std::string& suite, uint64_t seed, int64_t index) {
  return fmt::format("{}-s{}-{:06d}", suite, seed, index);
}

namespace {

// ------------------------------------------------------------------------------------------------
// Shared helpers
// ------------------------------------------------------------------------------------------------

Rng item_rng(const std::string& suite, uint64_t seed, int64_t index) {
  return Rng(mix_seed(mix_seed(seed, fnv1a64(suite)), static_cast<uint64_t>(index)));
}

// Class of item `index` among k, balanced per block of k items. `stream` separates independent
// balanced quantities of one suite (e.g. the digit at each position).
int balanced_class(const std::string& suite, uint64_t seed, int64_t index, int k, uint64_t stream = 0) {
  uint64_t base = mix_seed(mix_seed(seed, fnv1a64(suite) ^ 0xA5A5A5A5ull), stream);
  Rng r(mix_seed(base, static_cast<uint64_t>(index / k)));
  std::vector<int> perm(static_cast<size_t>(k));
  std::iota(perm.begin(), perm.end(), 0);
  r.shuffle(perm);
  return perm[static_cast<size_t>(index % k)];
}

struct NamedColour {
  const char* name;
  Rgb rgb;
};
const std::vector<NamedColour>& colours() {
  static const std::vector<NamedColour> c = {{"red", {220, 40, 40}},
                                             {"green", {40, 160, 60}},
                                             {"blue", {50, 90, 220}},
                                             {"yellow", {225, 190, 20}},
                                             {"purple", {140, 60, 180}}};
  return c;
}

enum Shape { kCircle, kSquare, kTriangle, kDiamond, kNumShapes };
const char* shape_name(int s) {
  static const char* n[] = {"circle", "square", "triangle", "diamond"};
  return n[s];
}

void draw_shape(Canvas& c, int shape, int cx, int cy, int r, Rgb col) {
  switch (shape) {
    case kCircle: c.fill_circle(cx, cy, r, col); break;
    case kSquare: c.fill_rect(cx - r, cy - r, cx + r + 1, cy + r + 1, col); break;
    case kTriangle: c.fill_triangle(cx - r, cy - r, 2 * r + 1, col); break;
    case kDiamond: c.fill_diamond(cx, cy, r, col); break;
    default: G4U_CHECK(false, "shape {}", shape);
  }
}

Rgb light_background(Rng& r) {
  uint8_t v = static_cast<uint8_t>(r.range(232, 255));
  return {v, v, v};
}

const char* kLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
std::string letter(int i) { return std::string(1, kLetters[i]); }

const std::vector<std::string>& digit_words() {
  static const std::vector<std::string> w = {"zero", "one", "two",   "three", "four",
                                             "five", "six", "seven", "eight", "nine"};
  return w;
}

// Multiple-choice options: `correct` at position `pos`, the others drawn from `pool` (without the
// correct one) in random order.
std::vector<std::string> make_choices(Rng& r, const std::vector<std::string>& pool, const std::string& correct,
                                      int n, int pos) {
  std::vector<std::string> others;
  for (auto& p : pool)
    if (p != correct) others.push_back(p);
  r.shuffle(others);
  others.resize(static_cast<size_t>(n - 1));
  others.insert(others.begin() + pos, correct);
  return others;
}

// An item's first keys: id, task and (when given) the question.
SynthItem base_item(const SuiteInfo& s, uint64_t seed, int64_t index, const std::string& question = "") {
  SynthItem it;
  it.line["id"] = synth_id(s.name, seed, index);
  it.line["task"] = s.name;
  if (!question.empty()) it.line["question"] = question;
  return it;
}

std::string media_path(const SynthItem& it, const char* ext) {
  return fmt::format("media/{}.{}", it.line["id"].get<std::string>(), ext);
}

void attach_image(SynthItem& it, const Canvas& c) {
  std::string p = media_path(it, "png");
  it.line["images"] = ojson::array({p});
  it.files.push_back({p, c.encode_png()});
}

void attach_audio(SynthItem& it, const std::vector<float>& samples) {
  std::string p = media_path(it, "wav");
  it.line["audios"] = ojson::array({p});
  it.files.push_back({p, encode_wav_pcm16(samples, kSynthSampleRate)});
}

// An item's last keys: its answers and metadata (with the suite's chance level).
SynthItem finish(SynthItem it, const SuiteInfo& s, ojson answers, ojson meta) {
  it.line["answers"] = std::move(answers);
  if (s.chance) meta["chance"] = *s.chance;
  it.line["meta"] = std::move(meta);
  return it;
}

// ------------------------------------------------------------------------------------------------
// Vision
// ------------------------------------------------------------------------------------------------

SynthItem make_count_shapes(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int count = 1 + balanced_class(s.name, seed, i, 5);
  int target = static_cast<int>(r.below(colours().size()));
  int distractors = r.range(0, 3);
  Canvas c(64, 64, light_background(r));
  std::vector<int> cells(16);
  std::iota(cells.begin(), cells.end(), 0);
  r.shuffle(cells);
  for (int k = 0; k < count + distractors; ++k) {
    int col = target;
    if (k >= count) {
      col = static_cast<int>(r.below(colours().size() - 1));
      if (col >= target) ++col;
    }
    int cx = (cells[static_cast<size_t>(k)] % 4) * 16 + 8 + r.range(-1, 1);
    int cy = (cells[static_cast<size_t>(k)] / 4) * 16 + 8 + r.range(-1, 1);
    draw_shape(c, static_cast<int>(r.below(kNumShapes)), cx, cy, r.range(4, 6), colours()[static_cast<size_t>(col)].rgb);
  }
  SynthItem it = base_item(s, seed, i,
                           fmt::format("How many {} shapes are there in the image?",
                                       colours()[static_cast<size_t>(target)].name));
  attach_image(it, c);
  return finish(std::move(it), s, ojson::array({count}),
                {{"colour", colours()[static_cast<size_t>(target)].name}, {"distractors", distractors}});
}

SynthItem make_spatial(const SuiteInfo& s, uint64_t seed, int64_t i) {
  static const char* kRel[] = {"left", "right", "above", "below"};
  Rng r = item_rng(s.name, seed, i);
  int rel = balanced_class(s.name, seed, i, 4);
  int ca = static_cast<int>(r.below(colours().size()));
  int cb = static_cast<int>(r.below(colours().size() - 1));
  if (cb >= ca) ++cb;
  int sa = static_cast<int>(r.below(kNumShapes)), sb = static_cast<int>(r.below(kNumShapes));
  // Two distinct grid positions along one axis; A is at the smaller one for left/above.
  int p1 = r.range(0, 3), p2 = r.range(0, 2);
  if (p2 >= p1) ++p2;
  int lo = std::min(p1, p2), hi = std::max(p1, p2), other = r.range(0, 3);
  int a_pos = (rel == 0 || rel == 2) ? lo : hi, b_pos = (rel == 0 || rel == 2) ? hi : lo;
  bool horizontal = rel < 2;
  auto centre = [&](int pos, int& x, int& y) {
    int col = horizontal ? pos : other, row = horizontal ? other : pos;
    x = col * 16 + 8 + r.range(-1, 1);
    y = row * 16 + 8 + r.range(-1, 1);
  };
  Canvas c(64, 64, light_background(r));
  int ax, ay, bx, by;
  centre(a_pos, ax, ay);
  centre(b_pos, bx, by);
  draw_shape(c, sa, ax, ay, r.range(5, 6), colours()[static_cast<size_t>(ca)].rgb);
  draw_shape(c, sb, bx, by, r.range(5, 6), colours()[static_cast<size_t>(cb)].rgb);
  SynthItem it = base_item(s, seed, i,
                           fmt::format("Where is the {} {} relative to the {} {}?",
                                       colours()[static_cast<size_t>(ca)].name, shape_name(sa),
                                       colours()[static_cast<size_t>(cb)].name, shape_name(sb)));
  attach_image(it, c);
  return finish(std::move(it), s, ojson::array({kRel[rel]}), ojson::object());
}

// A 96x96 bar chart of four bars labelled A-D with values 1..9 (8 px per unit, grid line at every
// unit, axis labels 0, 3, 6, 9).
Canvas bar_chart(Rng& r, const std::vector<int>& values) {
  Canvas c(96, 96, {255, 255, 255});
  const int base = 84, unit = 8, left = 14;
  for (int v = 1; v <= 9; ++v) c.fill_rect(left, base - unit * v, 94, base - unit * v + 1, {215, 215, 215});
  c.fill_rect(left - 1, base - unit * 9 - 2, left, base + 1, {0, 0, 0});
  c.fill_rect(left - 1, base, 94, base + 1, {0, 0, 0});
  for (int v = 0; v <= 9; v += 3) c.draw_text(left - 8, base - unit * v - 3, std::to_string(v), 1, {0, 0, 0});
  for (size_t j = 0; j < values.size(); ++j) {
    int x0 = left + 4 + static_cast<int>(j) * 20;
    Rgb col = colours()[r.below(colours().size())].rgb;
    c.fill_rect(x0, base - unit * values[j], x0 + 14, base, col);
    c.draw_text(x0 + 5, base + 3, letter(static_cast<int>(j)), 1, {0, 0, 0});
  }
  return c;
}

SynthItem make_chart_highest(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int top = balanced_class(s.name, seed, i, 4);
  std::vector<int> pool = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  r.shuffle(pool);
  pool.resize(4);
  std::sort(pool.begin(), pool.end());
  std::vector<int> rest(pool.begin(), pool.end() - 1);
  r.shuffle(rest);
  std::vector<int> values;
  for (int j = 0, k = 0; j < 4; ++j) values.push_back(j == top ? pool.back() : rest[static_cast<size_t>(k++)]);
  Canvas c = bar_chart(r, values);
  SynthItem it = base_item(s, seed, i, "Which bar is the highest?");
  attach_image(it, c);
  return finish(std::move(it), s, ojson::array({letter(top)}), {{"values", values}});
}

SynthItem make_chart_value(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int value = 1 + balanced_class(s.name, seed, i, 9);
  int bar = r.range(0, 3);
  std::vector<int> values;
  for (int j = 0; j < 4; ++j) values.push_back(j == bar ? value : r.range(1, 9));
  Canvas c = bar_chart(r, values);
  SynthItem it = base_item(s, seed, i, fmt::format("What is the value of bar {}?", letter(bar)));
  attach_image(it, c);
  return finish(std::move(it), s, ojson::array({value}), {{"values", values}, {"bar", letter(bar)}});
}

SynthItem make_read_digits(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  std::string digits;
  for (int p = 0; p < 4; ++p) digits += static_cast<char>('0' + balanced_class(s.name, seed, i, 10, static_cast<uint64_t>(p)));
  uint8_t bg = static_cast<uint8_t>(r.range(200, 255));
  Canvas c(64, 64, {bg, bg, bg});
  Rgb ink{static_cast<uint8_t>(r.range(0, 80)), static_cast<uint8_t>(r.range(0, 80)), static_cast<uint8_t>(r.range(0, 80))};
  int w = Canvas::text_width(digits, 2);
  c.draw_text(r.range(2, 62 - w), r.range(4, 64 - 14 - 4), digits, 2, ink);
  SynthItem it = base_item(s, seed, i, "What number is written in the image?");
  attach_image(it, c);
  return finish(std::move(it), s, ojson::array({digits}), ojson::object());
}

SynthItem make_diagram_mc(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int pos = balanced_class(s.name, seed, i, 4);
  std::vector<int> quadrant_shape = {kCircle, kSquare, kTriangle, kDiamond};
  r.shuffle(quadrant_shape);
  std::vector<int> cols(colours().size());
  std::iota(cols.begin(), cols.end(), 0);
  r.shuffle(cols);
  Canvas c(64, 64, light_background(r));
  std::vector<std::string> colour_of(kNumShapes);
  for (int q = 0; q < 4; ++q) {
    int shape = quadrant_shape[static_cast<size_t>(q)];
    const auto& col = colours()[static_cast<size_t>(cols[static_cast<size_t>(q)])];
    colour_of[static_cast<size_t>(shape)] = col.name;
    draw_shape(c, shape, (q % 2) * 32 + 16 + r.range(-3, 3), (q / 2) * 32 + 16 + r.range(-3, 3), r.range(7, 9), col.rgb);
  }
  int shape = static_cast<int>(r.below(kNumShapes));
  SynthItem it = base_item(s, seed, i);
  std::vector<std::string> choices;
  if (r.coin()) {
    std::vector<std::string> pool;
    for (auto& col : colours()) pool.push_back(col.name);
    it.line["question"] = fmt::format("What colour is the {} in the diagram?", shape_name(shape));
    choices = make_choices(r, pool, colour_of[static_cast<size_t>(shape)], 4, pos);
  } else {
    std::vector<std::string> pool = {"circle", "square", "triangle", "diamond"};
    it.line["question"] = fmt::format("Which shape in the diagram is {}?", colour_of[static_cast<size_t>(shape)]);
    choices = make_choices(r, pool, shape_name(shape), 4, pos);
  }
  attach_image(it, c);
  it.line["choices"] = choices;
  return finish(std::move(it), s, ojson::array({letter(pos)}), ojson::object());
}

// ------------------------------------------------------------------------------------------------
// Audio
// ------------------------------------------------------------------------------------------------

SpeechOptions random_speech(Rng& r) {
  SpeechOptions o;
  o.voice = r.pick(synth_voices());
  o.rate_wpm = r.range(130, 190);
  o.pitch = r.range(35, 65);
  o.noise_seed = static_cast<unsigned>(r.next_u64() & 0x7FFFFFFF);
  return o;
}

ojson speech_meta(const SpeechOptions& o, const std::vector<float>& x) {
  return {{"voice", o.voice},
          {"rate_wpm", o.rate_wpm},
          {"pitch", o.pitch},
          {"duration_s", std::round(static_cast<double>(x.size()) / kSynthSampleRate * 1000) / 1000}};
}

SynthItem make_spoken_digits(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  std::string text;
  for (int p = 0; p < 3; ++p) {
    if (p) text += ' ';
    text += digit_words()[static_cast<size_t>(balanced_class(s.name, seed, i, 10, static_cast<uint64_t>(p)))];
  }
  SpeechOptions o = random_speech(r);
  std::vector<float> x = speak(text, o);
  SynthItem it = base_item(s, seed, i);
  attach_audio(it, x);
  return finish(std::move(it), s, ojson::array({text}), speech_meta(o, x));
}

const std::vector<std::string>& word_vocabulary() {
  static const std::vector<std::string> w = {"apple",  "river",  "garden", "yellow", "window", "basket",
                                             "pencil", "rocket", "spider", "guitar", "tomato", "candle",
                                             "monkey", "button", "castle", "dragon"};
  return w;
}

SynthItem make_spoken_words(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  const auto& v = word_vocabulary();
  int a = balanced_class(s.name, seed, i, 16, 0);
  int b = balanced_class(s.name, seed, i, 16, 1);
  std::string text = v[static_cast<size_t>(a)] + " " + v[static_cast<size_t>(b)];
  SpeechOptions o = random_speech(r);
  std::vector<float> x = speak(text, o);
  SynthItem it = base_item(s, seed, i);
  attach_audio(it, x);
  return finish(std::move(it), s, ojson::array({text}), speech_meta(o, x));
}

void add_noise(Rng& r, std::vector<float>& x, double amplitude) {
  for (auto& v : x) v += static_cast<float>((r.uniform() * 2 - 1) * amplitude);
}

SynthItem make_count_beeps(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int beeps = 1 + balanced_class(s.name, seed, i, 5);
  double freq = r.range(500, 1500);
  std::vector<float> x(static_cast<size_t>(2 * kSynthSampleRate), 0.0f);
  double t = 0.1 + 0.01 * r.range(0, 20);
  for (int k = 0; k < beeps; ++k) {
    add_tone(x, kSynthSampleRate, t, 0.12, freq, 0.5);
    t += 0.12 + 0.01 * r.range(8, 20);
  }
  x.resize(static_cast<size_t>(2 * kSynthSampleRate));
  add_noise(r, x, 0.01);
  SynthItem it = base_item(s, seed, i, "How many beeps are there in the audio?");
  attach_audio(it, x);
  return finish(std::move(it), s, ojson::array({beeps}), {{"freq_hz", freq}});
}

SynthItem make_tone_compare(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  bool first_higher = balanced_class(s.name, seed, i, 2) == 0;
  // Lower tone 250..1000 Hz (log-uniform), the higher one 4 to 12 semitones above.
  double low = 250.0 * std::pow(4.0, r.uniform());
  int semitones = r.range(4, 12);
  double high = low * std::pow(2.0, semitones / 12.0);
  low = std::round(low);
  high = std::round(high);
  std::vector<float> x;
  add_tone(x, kSynthSampleRate, 0.1, 0.35, first_higher ? high : low, 0.5);
  add_tone(x, kSynthSampleRate, 0.7, 0.35, first_higher ? low : high, 0.5);
  x.resize(static_cast<size_t>(1.2 * kSynthSampleRate), 0.0f);
  add_noise(r, x, 0.01);
  SynthItem it = base_item(s, seed, i, "Which of the two tones is higher in pitch, the first or the second?");
  attach_audio(it, x);
  return finish(std::move(it), s, ojson::array({first_higher ? "first" : "second"}),
                {{"first_hz", first_higher ? high : low},
                 {"second_hz", first_higher ? low : high},
                 {"semitones", semitones}});
}

SynthItem make_spoken_mc(const SuiteInfo& s, uint64_t seed, int64_t i) {
  static const std::vector<std::string> kColours = {"red", "green", "blue", "yellow", "black", "white"};
  static const std::vector<std::string> kAnimals = {"cat", "dog", "horse", "bird", "fish", "cow"};
  Rng r = item_rng(s.name, seed, i);
  int pos = balanced_class(s.name, seed, i, 4);
  const std::string& colour = r.pick(kColours);
  const std::string& animal = r.pick(kAnimals);
  std::string text = "the " + colour + " " + animal;
  SpeechOptions o = random_speech(r);
  std::vector<float> x = speak(text, o);
  SynthItem it = base_item(s, seed, i);
  std::string correct;
  std::vector<std::string> choices;
  if (r.coin()) {
    it.line["question"] = "Which animal is mentioned in the recording?";
    correct = animal;
    choices = make_choices(r, kAnimals, animal, 4, pos);
  } else {
    it.line["question"] = "Which colour is mentioned in the recording?";
    correct = colour;
    choices = make_choices(r, kColours, colour, 4, pos);
  }
  attach_audio(it, x);
  it.line["choices"] = choices;
  ojson meta = speech_meta(o, x);
  meta["text"] = text;
  return finish(std::move(it), s, ojson::array({correct}), meta);
}

// ------------------------------------------------------------------------------------------------
// Text
// ------------------------------------------------------------------------------------------------

SynthItem make_arith(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int target = balanced_class(s.name, seed, i, 20);
  int terms = r.range(3, 4);
  std::string expr;
  for (int attempt = 0;; ++attempt) {
    G4U_CHECK(attempt < 100000, "arith: no expression found for {}", target);
    int value = r.range(1, 9);
    expr = std::to_string(value);
    for (int k = 1; k < terms - 1; ++k) {
      int v = r.range(1, 9);
      bool plus = r.coin();
      value += plus ? v : -v;
      expr += fmt::format(" {} {}", plus ? '+' : '-', v);
    }
    int last = target - value;  // value + last == target
    if (last >= 1 && last <= 9) {
      expr += fmt::format(" + {}", last);
      break;
    }
    if (-last >= 1 && -last <= 9) {
      expr += fmt::format(" - {}", -last);
      break;
    }
  }
  SynthItem it = base_item(s, seed, i, fmt::format("What is {}?", expr));
  return finish(std::move(it), s, ojson::array({target}), ojson::object());
}

struct ListRule {
  const char* text;
  void (*apply)(std::vector<char>&);
  int inverse;  // index of the inverse rule
};
const std::vector<ListRule>& list_rules() {
  static const std::vector<ListRule> rules = {
      {"swap the first two letters", [](std::vector<char>& v) { std::swap(v[0], v[1]); }, 0},
      {"swap the last two letters", [](std::vector<char>& v) { std::swap(v[2], v[3]); }, 1},
      {"reverse the order", [](std::vector<char>& v) { std::reverse(v.begin(), v.end()); }, 2},
      {"move the first letter to the end", [](std::vector<char>& v) { std::rotate(v.begin(), v.begin() + 1, v.end()); }, 4},
      {"move the last letter to the front", [](std::vector<char>& v) { std::rotate(v.begin(), v.end() - 1, v.end()); }, 3},
      {"swap the first and last letters", [](std::vector<char>& v) { std::swap(v[0], v[3]); }, 5},
  };
  return rules;
}

std::string join_letters(const std::vector<char>& v) {
  std::string s;
  for (size_t k = 0; k < v.size(); ++k) {
    if (k) s += ' ';
    s += v[k];
  }
  return s;
}

SynthItem make_rule_chain(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  // The answer: permutation number `cls` of A B C D in lexicographic order.
  int cls = balanced_class(s.name, seed, i, 24);
  std::vector<char> target = {'A', 'B', 'C', 'D'};
  for (int k = 0; k < cls; ++k) std::next_permutation(target.begin(), target.end());
  int n_rules = r.range(2, 4);
  std::vector<int> rules;
  for (int k = 0; k < n_rules; ++k) rules.push_back(static_cast<int>(r.below(list_rules().size())));
  // Start = the inverse rules applied to the target in reverse order.
  std::vector<char> start = target;
  for (int k = n_rules - 1; k >= 0; --k) list_rules()[static_cast<size_t>(list_rules()[static_cast<size_t>(rules[static_cast<size_t>(k)])].inverse)].apply(start);
  std::vector<char> check = start;
  std::string steps;
  for (int k = 0; k < n_rules; ++k) {
    const ListRule& rule = list_rules()[static_cast<size_t>(rules[static_cast<size_t>(k)])];
    rule.apply(check);
    steps += fmt::format("{}{}) {}", k ? "; " : "", k + 1, rule.text);
  }
  G4U_CHECK(check == target, "rule-chain: inverse rules do not round-trip");
  SynthItem it = base_item(
      s, seed, i,
      fmt::format("Start with the letters {}. Apply these rules in order: {}. What are the letters now?",
                  join_letters(start), steps));
  return finish(std::move(it), s, ojson::array({join_letters(target)}), {{"rules", n_rules}});
}

SynthItem make_sequence(const SuiteInfo& s, uint64_t seed, int64_t i) {
  Rng r = item_rng(s.name, seed, i);
  int step = 1 + balanced_class(s.name, seed, i, 9);
  int start = r.range(0, 9);
  auto term = [&](int k) { return std::to_string(start + step * k); };
  std::string shown = fmt::format("{}, {}, {}, {}", term(0), term(1), term(2), term(3));
  std::string next = fmt::format("{}, {}, {}, {}, {}", term(4), term(5), term(6), term(7), term(8));
  SynthItem it = base_item(
      s, seed, i,
      fmt::format("Continue the sequence {} with its next five numbers, separated by a comma and a space.", shown));
  return finish(std::move(it), s, ojson::array({next}), {{"start", start}, {"step", step}});
}

Registry<SuiteInfo> build_suite_registry() {
  Registry<SuiteInfo> r("suite");
  // A suite writes lines of the task of the same name.
  auto add = [&](const char* name, int classes, std::optional<double> chance, std::string chance_definition,
                 SynthItem (*make)(const SuiteInfo&, uint64_t, int64_t)) {
    r.add({name, &find_task(name), classes, chance, std::move(chance_definition), make});
  };
  const std::string uniform = "expected exact-match accuracy of a uniform guess among the answers the generator produces";
  add("count-shapes", 5, 1.0 / 5, uniform + " (1-5)", make_count_shapes);
  add("spatial", 4, 1.0 / 4, uniform + " (left, right, above, below)", make_spatial);
  add("chart-highest", 4, 1.0 / 4, uniform + " (A-D)", make_chart_highest);
  add("chart-value", 9, 1.0 / 9,
      "expected relaxed accuracy of a uniform guess among the values 1-9 (5 % tolerance admits only the exact integer)",
      make_chart_value);
  add("read-digits", 10, 1e-4, uniform + " (10^4 digit strings; each position balanced over 0-9)", make_read_digits);
  add("diagram-mc", 4, 1.0 / 4, "one letter of four (A-D)", make_diagram_mc);
  add("spoken-digits", 10, std::nullopt,
      "none: scored by WER (an empty output has WER 1.0); each digit position balanced over 0-9", make_spoken_digits);
  add("spoken-words", 16, std::nullopt,
      "none: scored by WER (an empty output has WER 1.0); each word position balanced over the 16 words",
      make_spoken_words);
  add("count-beeps", 5, 1.0 / 5, uniform + " (1-5)", make_count_beeps);
  add("tone-compare", 2, 1.0 / 2, uniform + " (first, second)", make_tone_compare);
  add("spoken-mc", 4, 1.0 / 4, "one choice of four (correct position balanced over A-D)", make_spoken_mc);
  add("arith", 20, 1.0 / 20, uniform + " (0-19)", make_arith);
  add("rule-chain", 24, 1.0 / 24, uniform + " (the 24 orders of A B C D)", make_rule_chain);
  add("sequence", 9, 1.0 / 90, uniform + " (90 = 10 starts x 9 steps; the step is balanced)", make_sequence);
  return r;
}

}  // namespace

const Registry<SuiteInfo>& suite_registry() {
  static const Registry<SuiteInfo> registry = build_suite_registry();
  return registry;
}

nlohmann::json suite_json(const SuiteInfo& s) {
  nlohmann::json j = {{"name", s.name},
                      {"task", s.task->name},
                      {"modality", modality_name(s.task->modality)},
                      {"metric", s.task->metric},
                      {"answer_type", answer_type_name(s.task->answer_type)},
                      {"classes", s.classes},
                      {"chance", s.chance ? nlohmann::json(*s.chance) : nlohmann::json(nullptr)},
                      {"chance_definition", s.chance_definition},
                      {"description", s.task->description}};
  return j;
}

nlohmann::json synthesize(const SynthOptions& o) {
  const SuiteInfo& suite = find_suite(o.suite);
  if (o.n < 1 || o.n > 10000000) throw_input("--n: expected 1 to 10000000 items, got {}", o.n);
  auto t0 = std::chrono::steady_clock::now();
  OutputFolder folder(o.out, o.overwrite);
  fs::path tmp(folder.tmp());
  fs::create_directories(tmp / "media");

  std::ofstream manifest(tmp / "manifest.jsonl", std::ios::binary);
  if (!manifest) throw_input("--out: cannot write in {}", tmp.string());
  std::map<std::string, int64_t> answer_counts;
  int64_t bytes = 0, files = 0;
  for (int64_t i = 0; i < o.n; ++i) {
    SynthItem it = suite.make(suite, o.seed, i);
    for (auto& [rel, data] : it.files) {
      std::ofstream f(tmp / rel, std::ios::binary);
      f.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!f) throw_input("{}: write failed", (tmp / rel).string());
      bytes += static_cast<int64_t>(data.size());
      ++files;
    }
    const auto& a = it.line["answers"][0];
    ++answer_counts[a.is_string() ? a.get<std::string>() : a.dump()];
    std::string line = it.line.dump() + "\n";
    manifest << line;
    bytes += static_cast<int64_t>(line.size());
  }
  manifest.close();
  if (!manifest) throw_input("{}/manifest.jsonl: write failed", tmp.string());

  ojson info;
  info["format"] = "g4u-synth-suite/1";
  info["suite"] = suite.name;
  info["task"] = suite.task->name;
  info["modality"] = modality_name(suite.task->modality);
  info["metric"] = suite.task->metric;
  info["n"] = o.n;
  info["seed"] = o.seed;
  info["chance"] = suite.chance ? ojson(*suite.chance) : ojson(nullptr);
  info["chance_definition"] = suite.chance_definition;
  info["classes"] = suite.classes;
  if (answer_counts.size() <= 64) info["answer_counts"] = answer_counts;
  info["distinct_answers"] = answer_counts.size();
  info["files"] = files + 2;
  std::string info_text = info.dump(2) + "\n";
  write_file_atomic((tmp / "suite.json").string(), info_text);
  info["bytes"] = bytes + static_cast<int64_t>(info_text.size());

  folder.commit();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json result = nlohmann::json::parse(info.dump());
  result["out"] = folder.final_path();
  result["seconds"] = seconds;
  return result;
}

}  // namespace g4u::datasets
