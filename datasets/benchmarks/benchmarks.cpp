#include "datasets/benchmarks/benchmarks.h"

#include "datasets/manifest/manifest.h"
#include "datasets/manifest/markers.h"
#include "datasets/manifest/out_folder.h"
#include "base/error.h"
#include "base/utf8.h"
#include "base/hash.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <cmath>

namespace fs = std::filesystem;
using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace g4u::datasets {

// ------------------------------------------------------------------------------------------------
// Python string lists
// ------------------------------------------------------------------------------------------------


bool parse_python_string_list(const std::string& t, std::vector<std::string>* out) {
  out->clear();
  size_t i = 0;
  auto ws = [&]() {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  };
  ws();
  if (i >= t.size() || t[i] != '[') return false;
  ++i;
  ws();
  if (i < t.size() && t[i] == ']') {
    ++i;
    ws();
    return i == t.size();
  }
  for (;;) {
    ws();
    if (i >= t.size() || (t[i] != '\'' && t[i] != '"')) return false;
    char q = t[i++];
    std::string s;
    for (;;) {
      if (i >= t.size()) return false;
      char c = t[i++];
      if (c == q) break;
      if (c == '\n') return false;
      if (c != '\\') {
        s += c;
        continue;
      }
      if (i >= t.size()) return false;
      char e = t[i++];
      auto hex = [&](int n, uint32_t* v) {
        if (i + n > t.size()) return false;
        *v = 0;
        for (int k = 0; k < n; ++k) {
          char h = t[i + k];
          int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
          if (d < 0) return false;
          *v = *v * 16 + static_cast<uint32_t>(d);
        }
        i += n;
        return true;
      };
      uint32_t v = 0;
      switch (e) {
        case '\\': s += '\\'; break;
        case '\'': s += '\''; break;
        case '"': s += '"'; break;
        case 'n': s += '\n'; break;
        case 't': s += '\t'; break;
        case 'r': s += '\r'; break;
        case 'x': if (!hex(2, &v)) return false; utf8_append(s, static_cast<char32_t>(v)); break;
        case 'u': if (!hex(4, &v)) return false; utf8_append(s, static_cast<char32_t>(v)); break;
        case 'U': if (!hex(8, &v) || v > 0x10FFFF) return false; utf8_append(s, static_cast<char32_t>(v)); break;
        default: s += '\\'; s += e; break;  // Python keeps unknown escapes verbatim
      }
    }
    out->push_back(std::move(s));
    ws();
    if (i < t.size() && t[i] == ',') {
      ++i;
      ws();
      if (i < t.size() && t[i] == ']') {  // trailing comma
        ++i;
        break;
      }
      continue;
    }
    if (i < t.size() && t[i] == ']') {
      ++i;
      break;
    }
    return false;
  }
  ws();
  return i == t.size();
}

// ------------------------------------------------------------------------------------------------
// Row context
// ------------------------------------------------------------------------------------------------

struct BenchmarkRow {
  const json& row;
  std::string where;  // "<input>/rows.jsonl:<line>"
  int64_t index = 0;  // 0-based row number
  const json& export_info;
  std::function<std::string(const json&, MediaKind, const std::string&, MediaInfo*)> media;

  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    throw_input("{}: field '{}': {}", where, field, what);
  }
  bool has(const std::string& k) const {
    auto it = row.find(k);
    return it != row.end() && !it->is_null();
  }
  const json& need(const std::string& k) const {
    if (!has(k)) bad(k, "missing");
    return row[k];
  }
  std::string str(const std::string& k) const {
    const json& v = need(k);
    if (!v.is_string()) bad(k, fmt::format("expected a string, got {}", v.type_name()));
    return v.get<std::string>();
  }
  std::string opt_str(const std::string& k) const { return has(k) ? str(k) : std::string(); }
  // A string, or an integer written in decimal.
  std::string id_str(const std::string& k) const {
    const json& v = need(k);
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
    bad(k, fmt::format("expected a string or an integer, got {}", v.type_name()));
  }
  std::vector<std::string> str_list(const std::string& k) const {
    const json& v = need(k);
    if (!v.is_array()) bad(k, fmt::format("expected a list of strings, got {}", v.type_name()));
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) bad(fmt::format("{}[{}]", k, i), fmt::format("expected a string, got {}", v[i].type_name()));
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }
  std::string add_media(const std::string& k, MediaKind kind, MediaInfo* info = nullptr) {
    return media(need(k), kind, k, info);
  }
  // The row's fields `keys` that are present (not null), copied into `meta`.
  void copy_present(ojson& meta, std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (has(k)) meta[k] = row[k];
  }
  std::string export_str(const std::string& k) const {
    auto it = export_info.find(k);
    return it != export_info.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
};

namespace {

std::string letter(size_t i) { return std::string(1, static_cast<char>('A' + i)); }

// "nan" / NaN-as-null / empty values of pandas-exported TSVs (MMBench hint and options).
bool missing_text(const json& v) {
  if (v.is_null()) return true;
  if (v.is_number_float() && std::isnan(v.get<double>())) return true;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    return s.empty() || s == "nan" || s == "NaN";
  }
  return false;
}

std::string source_stem(const json& media_value) {
  if (media_value.is_object()) {
    auto it = media_value.find("source_path");
    if (it != media_value.end() && it->is_string() && !it->get<std::string>().empty())
      return fs::path(it->get<std::string>()).stem().string();
  }
  return "";
}

double round3(double x) { return std::round(x * 1000) / 1000; }

void add_duration(ojson& meta, const MediaInfo& audio) {
  if (audio.sample_rate) meta["duration_s"] = round3(audio.duration_s());
}

// The start of a line with one image (the row's `image`) and a question (the row's `question`).
ojson image_question_line(BenchmarkRow& r, const std::string& id, const char* task) {
  ojson line;
  line["id"] = id;
  line["task"] = task;
  line["question"] = r.str("question");
  line["images"] = ojson::array({r.add_media("image", MediaKind::kImage)});
  return line;
}

// --- MMMU (validation) ---------------------------------------------------------------------------
const std::map<std::string, std::string>& mmmu_disciplines() {
  static const std::map<std::string, std::string> m = [] {
    std::map<std::string, std::string> d;
    auto add = [&](const char* disc, std::initializer_list<const char*> subs) {
      for (auto* s : subs) d[s] = disc;
    };
    add("Art & Design", {"Art", "Art_Theory", "Design", "Music"});
    add("Business", {"Accounting", "Economics", "Finance", "Manage", "Marketing"});
    add("Science", {"Biology", "Chemistry", "Geography", "Math", "Physics"});
    add("Health & Medicine", {"Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                              "Pharmacy", "Public_Health"});
    add("Humanities & Social Science", {"History", "Literature", "Sociology", "Psychology"});
    add("Tech & Engineering", {"Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                               "Energy_and_Power", "Materials", "Mechanical_Engineering"});
    return d;
  }();
  return m;
}

// MMMU's `options`: a Python list literal in a string (as the release stores it) or a JSON list.
std::vector<std::string> mmmu_options(BenchmarkRow& r) {
  std::vector<std::string> options;
  if (!r.has("options")) return options;
  const json& o = r.row["options"];
  if (o.is_array()) return r.str_list("options");
  if (!o.is_string() || !parse_python_string_list(o.get<std::string>(), &options))
    r.bad("options", "expected a Python list literal of strings (e.g. \"['a', 'b']\")");
  return options;
}

// Images image_1..image_7 of an MMMU-style row; <image k> refers to images[k-1], so the list has no
// holes. `referenced` gets the k of every <image k> in the question and options.
ojson mmmu_numbered_images(BenchmarkRow& r, const std::string& question, const std::vector<std::string>& options,
                           std::set<int>* referenced) {
  for (auto& m : find_image_markers(question)) referenced->insert(m.index);
  for (auto& o : options)
    for (auto& m : find_image_markers(o)) referenced->insert(m.index);
  int max_present = 0;
  for (int k = 1; k <= 7; ++k)
    if (r.has(fmt::format("image_{}", k))) max_present = k;
  for (int k : *referenced)
    if (k > 7 || !r.has(fmt::format("image_{}", k)))
      r.bad(fmt::format("image_{}", k), fmt::format("null, but the text refers to <image {}>", k));
  ojson images = ojson::array();
  for (int k = 1; k <= max_present; ++k) {
    std::string key = fmt::format("image_{}", k);
    if (!r.has(key)) r.bad(key, fmt::format("null while image_{} is present (image k must be entry k)", max_present));
    images.push_back(r.add_media(key, MediaKind::kImage));
  }
  if (images.empty()) r.bad("image_1", "the row has no image");
  return images;
}

// The discipline of an MMMU subject ("" when unknown).
std::string mmmu_discipline(const std::string& subject) {
  auto d = mmmu_disciplines().find(subject);
  return d == mmmu_disciplines().end() ? "" : d->second;
}

// The option letter `answer` checked against the number of options.
std::string option_letter(BenchmarkRow& r, const std::string& key, size_t options) {
  std::string a = r.str(key);
  if (a.size() != 1 || a[0] < 'A' || static_cast<size_t>(a[0] - 'A') >= options)
    r.bad(key, fmt::format("expected an option letter A-{}, got '{}'", letter(options == 0 ? 0 : options - 1), a));
  return a;
}

ojson convert_mmmu(BenchmarkRow& r) {
  ojson line;
  std::string id = r.str("id");
  // "validation_Art_Theory_12" -> "Art_Theory": drop the split prefix and the numeric suffix.
  std::string subject = id;
  size_t us = subject.find('_');
  if (us != std::string::npos) subject = subject.substr(us + 1);
  size_t last = subject.rfind('_');
  if (last != std::string::npos && last + 1 < subject.size() &&
      subject.find_first_not_of("0123456789", last + 1) == std::string::npos)
    subject = subject.substr(0, last);
  std::string qtype = r.str("question_type");
  if (qtype != "multiple-choice" && qtype != "open")
    r.bad("question_type", fmt::format("expected multiple-choice or open, got '{}'", qtype));
  bool mc = qtype == "multiple-choice";
  std::string question = r.str("question");
  std::vector<std::string> options = mmmu_options(r);
  std::set<int> referenced;
  ojson images = mmmu_numbered_images(r, question, options, &referenced);
  line["id"] = id;
  line["task"] = mc ? "mmmu-val-mc" : "mmmu-val-open";
  line["question"] = question;
  line["images"] = images;
  std::string answer = r.str("answer");
  if (mc) {
    line["choices"] = options;
    line["answers"] = ojson::array({answer});
  } else {
    line["answers"] = ojson::array({answer});
  }
  ojson meta = {{"benchmark", "mmmu"}, {"subject", subject}, {"discipline", mmmu_discipline(subject)},
                {"question_type", qtype}};
  r.copy_present(meta, {"subfield", "img_type", "topic_difficulty"});
  meta["images_referenced"] = std::vector<int>(referenced.begin(), referenced.end());
  line["meta"] = meta;
  return line;
}

// --- MMMU-Pro (test; standard 10 options and vision) --------------------------------------------
// One export holds one setting (its config): standard rows have `question`, `options` and
// image_1..image_7; vision rows have one `image` (a screenshot or photo holding the question and the
// options) and `options` (for the number of letters).
ojson convert_mmmu_pro(BenchmarkRow& r) {
  ojson line;
  std::string config = r.export_str("config");
  bool vision = !r.has("question") && r.has("image");
  if (!config.empty() && (config == "vision") != vision)
    r.bad(vision ? "question" : "image", fmt::format("the row does not look like the export's config '{}' (standard "
                                                     "rows have `question` and image_1..image_7, vision rows `image`)",
                                                     config));
  std::string id = r.str("id"), subject = r.str("subject");
  std::vector<std::string> options = mmmu_options(r);
  if (options.size() < 2) r.bad("options", fmt::format("expected at least 2 options, got {}", options.size()));
  line["id"] = id;
  line["task"] = vision ? "mmmu-pro-vision" : "mmmu-pro-standard";
  std::set<int> referenced;
  if (vision) {
    line["images"] = ojson::array({r.add_media("image", MediaKind::kImage)});
  } else {
    std::string question = r.str("question");
    line["question"] = question;
    line["images"] = mmmu_numbered_images(r, question, options, &referenced);
  }
  line["choices"] = options;
  line["answers"] = ojson::array({option_letter(r, "answer", options.size())});
  ojson meta = {{"benchmark", "mmmu-pro"}, {"setting", vision ? "vision" : config.empty() ? "standard" : config},
                {"subject", subject}, {"discipline", mmmu_discipline(subject)}};
  r.copy_present(meta, {"topic_difficulty", "img_type"});
  if (!vision) meta["images_referenced"] = std::vector<int>(referenced.begin(), referenced.end());
  line["meta"] = meta;
  return line;
}

// --- MATH-Vision (test / testmini) ---------------------------------------------------------------
// Rows of the HF release (MathLLMs/MathVision) or of the repository's data/test.jsonl (same
// fields): the image is `decoded_image` (an export's media cell) or `image` (the release's relative
// path "images/<id>.jpg"). Options present = multiple choice with a letter answer.
ojson convert_mathvision(BenchmarkRow& r) {
  ojson line;
  line["id"] = r.id_str("id");
  line["question"] = r.str("question");
  line["images"] = ojson::array({r.has("decoded_image") ? r.add_media("decoded_image", MediaKind::kImage)
                                                        : r.add_media("image", MediaKind::kImage)});
  std::vector<std::string> options = r.has("options") ? r.str_list("options") : std::vector<std::string>();
  bool mc = !options.empty();
  line["task"] = mc ? "mathvision-mc" : "mathvision-free";
  if (mc) line["choices"] = options;
  line["answers"] = ojson::array({mc ? option_letter(r, "answer", options.size()) : r.str("answer")});
  const json& level = r.need("level");
  if (!level.is_number_integer()) r.bad("level", fmt::format("expected an integer, got {}", level.dump()));
  line["meta"] = {{"benchmark", "mathvision"}, {"subject", r.str("subject")}, {"level", level.get<int64_t>()}};
  return line;
}

// --- MathVista (testmini) ------------------------------------------------------------------------
ojson convert_mathvista(BenchmarkRow& r) {
  ojson line;
  line["id"] = r.id_str("pid");
  line["task"] = "mathvista-testmini";
  line["question"] = r.str("query");
  line["images"] = ojson::array({r.has("decoded_image") ? r.add_media("decoded_image", MediaKind::kImage)
                                                        : r.add_media("image", MediaKind::kImage)});
  std::string qtype = r.str("question_type");
  std::string atype = r.str("answer_type");
  if (qtype != "multi_choice" && qtype != "free_form")
    r.bad("question_type", fmt::format("expected multi_choice or free_form, got '{}'", qtype));
  static const std::set<std::string> kTypes = {"text", "integer", "float", "list"};
  if (!kTypes.count(atype)) r.bad("answer_type", fmt::format("expected text, integer, float or list, got '{}'", atype));
  if (r.has("choices")) {
    auto choices = r.str_list("choices");
    if (!choices.empty()) line["choices"] = choices;
  }
  if (qtype == "multi_choice" && !line.contains("choices")) r.bad("choices", "missing for a multi_choice question");
  line["answers"] = ojson::array({r.str("answer")});
  ojson meta = {{"benchmark", "mathvista"}, {"question_type", qtype}, {"answer_type", atype}};
  if (r.has("precision")) {
    const json& p = r.row["precision"];
    if (!p.is_number()) r.bad("precision", "expected a number");
    meta["precision"] = static_cast<int>(p.get<double>());
  }
  if (r.has("unit")) meta["unit"] = r.row["unit"];
  meta["question"] = r.str("question");
  if (r.has("metadata")) {
    if (!r.row["metadata"].is_object()) r.bad("metadata", "expected an object");
    meta["metadata"] = r.row["metadata"];
  }
  line["meta"] = meta;
  return line;
}

// --- ChartQA (test) --------------------------------------------------------------------------------
ojson convert_chartqa(BenchmarkRow& r) {
  std::string type = r.opt_str("type");
  ojson line = image_question_line(r, fmt::format("chartqa-{:05d}", r.index), "chartqa");
  const json& a = r.need("answer");
  if (a.is_array()) line["answers"] = r.str_list("answer");
  else line["answers"] = ojson::array({r.str("answer")});
  line["meta"] = {{"benchmark", "chartqa"}, {"type", type}};
  return line;
}

// --- DocVQA (validation) and TextVQA (validation) ---------------------------------------------------
// A question on one image with a list of human answers; questions on the same image (the row's
// `cluster_key`) form a cluster.
ojson vqa_line(BenchmarkRow& r, const char* id_key, const char* task, const char* benchmark,
               std::initializer_list<const char*> meta_keys, const char* cluster_key) {
  ojson line = image_question_line(r, r.id_str(id_key), task);
  line["answers"] = r.str_list("answers");
  ojson meta = {{"benchmark", benchmark}};
  r.copy_present(meta, meta_keys);
  line["meta"] = meta;
  if (r.has(cluster_key)) line["cluster"] = r.id_str(cluster_key);
  return line;
}

ojson convert_docvqa(BenchmarkRow& r) {
  return vqa_line(r, "questionId", "docvqa-val", "docvqa",
                  {"question_types", "docId", "ucsf_document_id", "ucsf_document_page_no"}, "docId");
}

// InfographicVQA (lmms-lab/DocVQA config InfographicVQA): questions on the same infographic
// (`image_url`) form a cluster.
ojson convert_infovqa(BenchmarkRow& r) {
  return vqa_line(r, "questionId", "infovqa-val", "infovqa", {"answer_type", "operation/reasoning", "image_url"},
                  "image_url");
}

ojson convert_textvqa(BenchmarkRow& r) {
  return vqa_line(r, "question_id", "textvqa-val", "textvqa", {"image_id", "ocr_tokens", "image_classes", "set_name"},
                  "image_id");
}

// --- AI2D (test) -----------------------------------------------------------------------------------
ojson convert_ai2d(BenchmarkRow& r) {
  ojson line = image_question_line(r, fmt::format("ai2d-{:05d}", r.index), "ai2d");
  auto options = r.str_list("options");
  line["choices"] = options;
  std::string a = r.id_str("answer");
  if (a.empty() || a.find_first_not_of("0123456789") != std::string::npos || a.size() > 2)
    r.bad("answer", fmt::format("expected an option index such as \"0\", got '{}'", a));
  size_t idx = static_cast<size_t>(std::stoi(a));
  if (idx >= options.size()) r.bad("answer", fmt::format("index {} is beyond the {} options", idx, options.size()));
  line["answers"] = ojson::array({letter(idx)});
  line["meta"] = {{"benchmark", "ai2d"}, {"answer_index", idx}};
  return line;
}

// --- MMBench-EN (dev) ------------------------------------------------------------------------------
ojson convert_mmbench(BenchmarkRow& r) {
  ojson line;
  const json& idx = r.need("index");
  if (!idx.is_number_integer() || idx.get<int64_t>() < 0) r.bad("index", "expected a non-negative integer");
  int64_t index = idx.get<int64_t>();
  std::vector<std::string> choices;
  bool ended = false;
  for (const char* l : {"A", "B", "C", "D", "E", "F", "G", "H"}) {
    bool missing = !r.row.contains(l) || missing_text(r.row[l]);
    if (missing) {
      ended = true;
      continue;
    }
    if (ended) r.bad(l, "option present after a missing one");
    choices.push_back(r.str(l));
  }
  std::string hint = r.row.contains("hint") && !missing_text(r.row["hint"]) ? r.str("hint") : "";
  std::string question = r.str("question");
  line["id"] = std::to_string(index);
  line["task"] = "mmbench-en-dev";
  line["question"] = hint.empty() ? question : hint + " " + question;
  line["images"] = ojson::array({r.add_media("image", MediaKind::kImage)});
  line["choices"] = choices;
  line["answers"] = ojson::array({r.str("answer")});
  std::string group = std::to_string(index % 1000000);
  ojson meta = {{"benchmark", "mmbench"}, {"index", index}, {"group", group}, {"hint", hint}, {"question", question}};
  r.copy_present(meta, {"category", "l2-category", "source", "split"});
  line["meta"] = meta;
  line["cluster"] = group;
  return line;
}

// --- LibriSpeech ---------------------------------------------------------------------------------
ojson convert_librispeech(BenchmarkRow& r) {
  ojson line;
  MediaInfo info;
  std::string audio = r.add_media("audio", MediaKind::kAudio, &info);
  std::string stem = source_stem(r.row["audio"]);
  line["id"] = stem.empty() ? fmt::format("librispeech-{:05d}", r.index) : stem;
  line["task"] = "librispeech";
  line["audios"] = ojson::array({audio});
  line["answers"] = ojson::array({r.str("gt")});
  std::string task = r.opt_str("task");
  ojson meta = {{"benchmark", "librispeech"}, {"split", r.export_str("split")}};
  if (!task.empty()) meta["task"] = task;
  if (task.size() > 4) meta["language"] = task.substr(4);  // "asr_en" -> "en"
  if (r.has("source")) meta["source"] = r.row["source"];
  add_duration(meta, info);
  line["meta"] = meta;
  return line;
}

// --- FLEURS ----------------------------------------------------------------------------------------
ojson convert_fleurs(BenchmarkRow& r) {
  ojson line;
  std::string lang = r.str("lang_id");
  MediaInfo info;
  std::string audio = r.add_media("audio", MediaKind::kAudio, &info);
  std::string stem = r.has("path") ? fs::path(r.str("path")).stem().string() : source_stem(r.row["audio"]);
  line["id"] = lang + "-" + (stem.empty() ? fmt::format("{:05d}", r.index) : stem);
  bool chars = lang.rfind("cmn_hans", 0) == 0 || lang.rfind("yue_hant", 0) == 0;
  line["task"] = chars ? "fleurs-cer" : "fleurs";
  line["audios"] = ojson::array({audio});
  line["answers"] = ojson::array({r.str("transcription")});
  ojson meta = {{"benchmark", "fleurs"}, {"lang_id", lang}};
  if (lang.rfind("en_", 0) == 0) meta["normalizer"] = "whisper-en";
  if (r.has("id")) meta["sentence_id"] = r.row["id"];
  r.copy_present(meta, {"language", "gender", "raw_transcription", "lang_group_id"});
  add_duration(meta, info);
  line["meta"] = meta;
  return line;
}

// --- CoVoST 2 --------------------------------------------------------------------------------------
std::string language_name(const std::string& code) {
  static const std::map<std::string, std::string> m = {
      {"en", "English"},   {"zh", "Chinese"},    {"zh-CN", "Chinese"},   {"de", "German"},    {"ja", "Japanese"},
      {"fr", "French"},    {"es", "Spanish"},    {"it", "Italian"},      {"ca", "Catalan"},   {"fa", "Persian"},
      {"et", "Estonian"},  {"mn", "Mongolian"},  {"ta", "Tamil"},        {"lv", "Latvian"},   {"sl", "Slovenian"},
      {"sv-SE", "Swedish"}, {"sv", "Swedish"},   {"id", "Indonesian"},   {"ar", "Arabic"},    {"cy", "Welsh"},
      {"tr", "Turkish"},   {"ru", "Russian"},    {"pt", "Portuguese"},   {"nl", "Dutch"}};
  auto it = m.find(code);
  return it == m.end() ? "" : it->second;
}

ojson convert_covost2(BenchmarkRow& r) {
  ojson line;
  std::string src = r.export_str("source_language"), tgt = r.export_str("target_language");
  if (tgt.empty()) {
    // "en_zh-CN" style config names.
    std::string config = r.export_str("config");
    size_t us = config.find('_');
    if (us != std::string::npos) {
      src = config.substr(0, us);
      tgt = config.substr(us + 1);
    }
  }
  std::string name = language_name(tgt);
  if (name.empty())
    throw_input("{}: export.json: target_language '{}' unknown (set source_language / target_language, e.g. en / zh-CN)",
                r.where, tgt);
  MediaInfo info;
  line["id"] = r.id_str("id");
  line["task"] = "covost2";
  line["audios"] = ojson::array({r.add_media("audio", MediaKind::kAudio, &info)});
  std::string ref = r.has("translation") ? r.str("translation") : r.str("gt");
  line["answers"] = ojson::array({ref});
  ojson meta = {{"benchmark", "covost2"},    {"source_language", src},         {"target_code", tgt},
                {"target_language", name}, {"direction", src + "-" + tgt}};
  r.copy_present(meta, {"sentence", "client_id", "file"});
  add_duration(meta, info);
  line["meta"] = meta;
  return line;
}

// --- MMAU (test-mini) ------------------------------------------------------------------------------
ojson convert_mmau(BenchmarkRow& r) {
  ojson line;
  MediaInfo info;
  line["id"] = r.id_str("id");
  line["task"] = "mmau-test-mini";
  line["question"] = r.str("question");
  std::string audio_id = r.str("audio_id");
  line["audios"] = ojson::array({r.add_media("audio_id", MediaKind::kAudio, &info)});
  auto choices = r.str_list("choices");
  std::string answer = r.str("answer");
  bool found = false;
  for (auto& c : choices) found = found || c == answer;
  if (!found) r.bad("answer", fmt::format("'{}' is not one of the choices", answer));
  line["choices"] = choices;
  line["answers"] = ojson::array({answer});
  ojson meta = {{"benchmark", "mmau"}, {"audio_id", audio_id}};
  r.copy_present(meta, {"dataset", "task", "split", "category", "sub-category", "difficulty"});
  add_duration(meta, info);
  line["meta"] = meta;
  line["cluster"] = audio_id;
  return line;
}

Registry<BenchmarkInfo> build_benchmark_registry() {
  Registry<BenchmarkInfo> r("benchmark");
  r.add({"mmmu", "MMMU validation (30 subjects; multiple-choice + open)", "lmms-lab/MMMU", "validation", 900,
        {"mmmu-val-mc", "mmmu-val-open"}, convert_mmmu});
  r.add({"mathvista", "MathVista testmini (prompt = official query)", "AI4Math/MathVista", "testmini", 1000,
        {"mathvista-testmini"}, convert_mathvista});
  r.add({"mmmu-pro", "MMMU-Pro test, one setting per export: standard (10 options) or vision", "MMMU/MMMU_Pro",
        "test", 1730, {"mmmu-pro-standard", "mmmu-pro-vision"}, convert_mmmu_pro});
  r.add({"mathvision", "MATH-Vision test (3,040; testmini 304), multiple choice + free form", "MathLLMs/MathVision",
        "test", 3040, {"mathvision-mc", "mathvision-free"}, convert_mathvision});
  r.add({"chartqa", "ChartQA test (human + augmented)", "lmms-lab/ChartQA", "test", 2500, {"chartqa"}, convert_chartqa});
  r.add({"docvqa", "DocVQA validation", "lmms-lab/DocVQA (config DocVQA)", "validation", 5349, {"docvqa-val"},
        convert_docvqa});
  r.add({"infovqa", "InfographicVQA validation", "lmms-lab/DocVQA (config InfographicVQA)", "validation", 2801,
        {"infovqa-val"}, convert_infovqa});
  r.add({"ai2d", "AI2D test", "lmms-lab/ai2d", "test", 3088, {"ai2d"}, convert_ai2d});
  r.add({"textvqa", "TextVQA validation", "lmms-lab/textvqa", "validation", 5000, {"textvqa-val"}, convert_textvqa});
  r.add({"mmbench", "MMBench-EN dev (circular rows)", "lmms-lab/MMBench (config en)", "dev", 4377, {"mmbench-en-dev"},
        convert_mmbench});
  r.add({"librispeech", "LibriSpeech test-clean (2,620) / test-other (2,939)", "lmms-lab-audio/librispeech",
        "librispeech_test_clean", 0, {"librispeech"}, convert_librispeech});
  r.add({"fleurs", "FLEURS (per language; WER, CER for cmn_hans / yue_hant)", "google/fleurs", "test", 0,
        {"fleurs", "fleurs-cer"}, convert_fleurs});
  r.add({"covost2", "CoVoST 2 speech translation (per direction)", "facebook/covost2 or lmms-lab-audio/covost2_en-zh",
        "test", 0, {"covost2"}, convert_covost2});
  r.add({"mmau", "MMAU test-mini (v05.15.25)", "Sakshi113/MMAU mmau-test-mini.json + audio", "test-mini", 1000,
        {"mmau-test-mini"}, convert_mmau});
  return r;
}

}  // namespace

const Registry<BenchmarkInfo>& benchmark_registry() {
  static const Registry<BenchmarkInfo> registry = build_benchmark_registry();
  return registry;
}

namespace {

// The checked export folder of `o`: its absolute path and export.json.
std::pair<fs::path, json> open_export(const ImportOptions& o, const BenchmarkInfo& bench) {
  if (o.input.empty()) throw_input("--input: missing export folder");
  fs::path input = fs::absolute(o.input).lexically_normal();
  if (!fs::is_directory(input)) throw_input("--input: '{}' is not a folder", o.input);
  std::string export_path = (input / "export.json").string();
  std::string rows_path = (input / "rows.jsonl").string();
  if (!fs::exists(export_path) || !fs::exists(rows_path))
    throw_input("--input: '{}' is not an export folder (needs export.json and rows.jsonl; see datasets/convert/README.md)",
                o.input);
  json export_info = read_json_file(export_path);
  if (!export_info.is_object()) throw_input("{}: expected a JSON object", export_path);
  if (!export_info.contains("benchmark") || !export_info["benchmark"].is_string())
    throw_input("{}: field 'benchmark': missing", export_path);
  if (export_info["benchmark"].get<std::string>() != bench.name)
    throw_input("{}: field 'benchmark': the export is of '{}', not '{}'", export_path,
                export_info["benchmark"].get<std::string>(), bench.name);
  return {input, export_info};
}

// Converts every row of the export. `tmp` set: writes manifest.jsonl and links the media there
// (the import); null: writes nothing and collects the lines with their media headers in
// `preview->lines` (a dry run). Returns the import.json content.
ojson convert_export(const ImportOptions& o, const BenchmarkInfo& bench, const fs::path& input, const json& export_info,
                    const fs::path* tmp, ImportPreview* preview) {
  const std::string rows_path = (input / "rows.jsonl").string();
  std::ifstream rows(rows_path, std::ios::binary);
  if (!rows) throw_input("{}: cannot open", rows_path);
  std::ofstream manifest;
  if (tmp) manifest.open(*tmp / "manifest.jsonl", std::ios::binary);
  std::set<std::string> linked;
  std::map<std::string, int64_t> tasks;
  json skipped = json::array();
  int64_t n_rows = 0, n_lines = 0, n_media = 0;
  std::string text;
  size_t lineno = 0;
  std::vector<MediaInfo> row_media;  // the headers of the current row's media (preview)
  auto media_fn = [&](const std::string& where) {
    return [&, where](const json& v, MediaKind kind, const std::string& field, MediaInfo* info) -> std::string {
      std::string fw = fmt::format("{}: field '{}'", where, field);
      std::string src;
      if (v.is_string()) src = v.get<std::string>();
      else if (v.is_object() && v.contains("path") && v["path"].is_string()) src = v["path"].get<std::string>();
      else throw_input("{}: expected a media path or {{\"path\": ...}}, got {}", fw, v.type_name());
      MediaRef ref = resolve_media(src, kind, input.string(), fw);
      MediaInfo mi = check_media(ref, o.media, fw);
      if (info) *info = mi;
      row_media.push_back(mi);
      std::string rel;
      if (ref.is_inline()) {
        std::string ext = sniff_extension(ref.data);
        rel = fmt::format("media/inline/{:016x}.{}", fnv1a64(ref.data), ext.empty() ? "bin" : ext);
      } else {
        // The export's own relative path (media/..., images/..., test-mini-audios/...).
        rel = fs::path(ref.path).lexically_relative(input).generic_string();
        static const std::set<std::string> kReserved = {"manifest.jsonl", "import.json", "export.json", "rows.jsonl"};
        if (kReserved.count(rel)) throw_input("{}: '{}' is not a media file", fw, src);
      }
      if (linked.insert(rel).second) {
        if (tmp) {
          fs::path dst = *tmp / rel;
          fs::create_directories(dst.parent_path());
          if (ref.is_inline()) {
            std::ofstream f(dst, std::ios::binary);
            f.write(ref.data.data(), static_cast<std::streamsize>(ref.data.size()));
          } else {
            std::error_code lec;
            fs::create_hard_link(ref.path, dst, lec);
            if (lec) fs::copy_file(ref.path, dst, fs::copy_options::overwrite_existing);
          }
        }
        ++n_media;
      }
      return rel;
    };
  };
  std::set<std::string> ids;
  while (std::getline(rows, text)) {
    ++lineno;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    int64_t row_index = n_rows++;
    std::string where = fmt::format("{}:{}", rows_path, lineno);
    row_media.clear();
    try {
      json row = parse_json_object_line(text, where);
      BenchmarkRow r{row, where, row_index, export_info, media_fn(where)};
      ojson line = bench.convert(r);
      // Validate what we wrote exactly as a reader of the manifest will (a preview: the media
      // were checked above, at the requested level, in the export folder).
      std::string id = line["id"].get<std::string>();
      if (!ids.insert(id).second) throw_input("{}: converts to duplicate id '{}'", where, id);
      json plain = json::parse(line.dump());
      Sample s = tmp ? parse_sample(plain, tmp->string(), where + " (converted line)", MediaCheck::kExists)
                     : parse_sample(plain, input.string(), where + " (converted line)", MediaCheck::kNone);
      ++tasks[s.task->name];
      if (tmp) manifest << line.dump() << "\n";
      else preview->lines.push_back({std::move(plain), row_media});
      ++n_lines;
    } catch (const InputError& e) {
      if (!o.skip_invalid) throw;
      skipped.push_back({{"line", lineno}, {"row", row_index}, {"reason", e.what()}});
    }
  }
  if (tmp) {
    manifest.close();
    if (!manifest) throw_input("{}/manifest.jsonl: write failed", tmp->string());
  }
  if (n_rows == 0) throw_input("{}: no rows", rows_path);
  if (n_lines == 0) throw_input("{}: no row converted ({} skipped)", rows_path, skipped.size());
  json count = {{"expected", bench.expected_rows}, {"got", n_rows}, {"matches", bench.expected_rows == 0 || bench.expected_rows == n_rows}};
  if (o.strict_count && !count["matches"].get<bool>())
    throw_input("{}: {} rows, but {} {} has {} (--strict-count)", rows_path, n_rows, bench.name, bench.split,
                bench.expected_rows);
  ojson info;
  info["format"] = "g4u-benchmark-import/1";
  info["benchmark"] = bench.name;
  info["export"] = export_info;
  info["rows"] = n_rows;
  info["lines"] = n_lines;
  info["media_files"] = n_media;
  info["media_check"] = media_check_name(o.media);
  info["tasks"] = tasks;
  info["row_count"] = count;
  info["skipped"] = skipped.size();
  info["skipped_rows"] = skipped;
  return info;
}

}  // namespace

json import_benchmark(const ImportOptions& o) {
  const BenchmarkInfo& bench = find_benchmark(o.benchmark);
  auto [input, export_info] = open_export(o, bench);
  if (o.out.empty()) throw_input("--out: missing output folder");
  OutputFolder folder(o.out, o.overwrite);
  fs::path tmp(folder.tmp());
  ojson info = convert_export(o, bench, input, export_info, &tmp, nullptr);
  write_file_atomic((tmp / "import.json").string(), info.dump(2) + "\n");
  folder.commit();
  json result = json::parse(info.dump());
  result["out"] = folder.final_path();
  return result;
}

ImportPreview preview_import(const ImportOptions& o) {
  const BenchmarkInfo& bench = find_benchmark(o.benchmark);
  auto [input, export_info] = open_export(o, bench);
  ImportPreview p;
  p.dir = input.string();
  p.info = json::parse(convert_export(o, bench, input, export_info, nullptr, &p).dump());
  return p;
}

}  // namespace g4u::datasets
