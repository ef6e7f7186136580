#include "datasets/manifest/manifest.h"

#include "datasets/manifest/markers.h"
#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace g4u::datasets {

std::vector<const MediaRef*> Sample::media() const {
  std::vector<const MediaRef*> out;
  for (auto& m : images) out.push_back(&m);
  for (auto& m : audios) out.push_back(&m);
  for (auto& msg : messages)
    for (auto& part : msg.content)
      if (part.kind != ContentPart::Kind::kText) out.push_back(&part.media);
  return out;
}

std::string Sample::normalizer() const {
  auto it = meta.find("normalizer");
  if (it != meta.end() && it->is_string()) return it->get<std::string>();
  return task ? task->normalizer : "none";
}

namespace {

const std::set<std::string> kKeys = {"id",      "task",    "messages", "question", "images",
                                     "audios",  "choices", "answers",  "meta",     "cluster"};
const std::set<std::string> kRoles = {"system", "user", "assistant"};

[[noreturn]] void bad(const std::string& where, const std::string& field, const std::string& what) {
  throw_input("{}: field '{}': {}", where, field, what);
}

const char* type_of(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

std::string get_string(const json& v, const std::string& where, const std::string& field) {
  if (!v.is_string()) bad(where, field, fmt::format("expected a string, got {}", type_of(v)));
  return v.get<std::string>();
}

std::vector<std::string> get_string_list(const json& v, const std::string& where, const std::string& field,
                                         bool allow_empty_list) {
  if (!v.is_array()) bad(where, field, fmt::format("expected a list of strings, got {}", type_of(v)));
  if (v.empty() && !allow_empty_list) bad(where, field, "the list is empty");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(get_string(v[i], where, fmt::format("{}[{}]", field, i)));
  return out;
}

bool has_control_chars(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return true;
  return false;
}

// The {meta:KEY} names a template refers to.
std::vector<std::string> template_meta_keys(const std::string& t) {
  std::vector<std::string> keys;
  size_t p = 0;
  while ((p = t.find("{meta:", p)) != std::string::npos) {
    size_t q = t.find('}', p);
    if (q == std::string::npos) break;
    keys.push_back(t.substr(p + 6, q - p - 6));
    p = q + 1;
  }
  return keys;
}

void check_answers(Sample& s, const json& v, const std::string& where) {
  const TaskInfo& t = *s.task;
  const std::string field = "answers";
  if (!v.is_array()) bad(where, field, fmt::format("expected a list, got {}", type_of(v)));
  if (v.empty()) bad(where, field, "the list is empty");
  for (size_t i = 0; i < v.size(); ++i) {
    std::string f = fmt::format("answers[{}]", i);
    const json& a = v[i];
    auto wrong = [&](const char* want) {
      bad(where, f,
          fmt::format("expected {} (task {} has {} answers), got {}", want, t.name, answer_type_name(t.answer_type),
                      type_of(a)));
    };
    switch (t.answer_type) {
      case AnswerType::kNumber: {
        if (!a.is_number()) wrong("a JSON number");
        double d = a.get<double>();
        if (!std::isfinite(d)) bad(where, f, "the number is not finite");
        // Integers beyond 2^53 would change on the way through a double.
        if ((a.is_number_integer() || a.is_number_unsigned()) && std::fabs(d) > 9007199254740992.0)
          bad(where, f, "integer answer beyond 2^53");
        s.answers.push_back(canonical_number(d));
        break;
      }
      case AnswerType::kText: {
        if (!a.is_string()) wrong("a string");
        std::string x = a.get<std::string>();
        if (x.empty()) bad(where, f, "empty answer");
        s.answers.push_back(std::move(x));
        break;
      }
      case AnswerType::kLetter: {
        if (!a.is_string()) wrong("a letter string");
        std::string x = a.get<std::string>();
        if (x.size() != 1 || x[0] < 'A' || x[0] > 'Z')
          bad(where, f, fmt::format("expected a single capital letter A-Z (task {} has letter answers), got '{}'",
                                    t.name, x));
        if (!s.choices.empty() && static_cast<size_t>(x[0] - 'A') >= s.choices.size())
          bad(where, f,
              fmt::format("letter '{}' is beyond the {} choices (A-{})", x, s.choices.size(),
                          static_cast<char>('A' + s.choices.size() - 1)));
        s.answers.push_back(std::move(x));
        break;
      }
      case AnswerType::kChoice: {
        if (!a.is_string()) wrong("a string (one of the choices)");
        std::string x = a.get<std::string>();
        bool found = false;
        for (auto& c : s.choices) found = found || c == x;
        if (!found) bad(where, f, fmt::format("'{}' is not one of the choices (task {} answers with the choice text)", x, t.name));
        s.answers.push_back(std::move(x));
        break;
      }
    }
  }
}

void parse_messages(Sample& s, const json& v, const std::string& dir, const std::string& where) {
  if (!v.is_array()) bad(where, "messages", fmt::format("expected a list of messages, got {}", type_of(v)));
  if (v.empty()) bad(where, "messages", "the list is empty");
  bool user = false;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string f = fmt::format("messages[{}]", i);
    const json& m = v[i];
    if (!m.is_object()) bad(where, f, fmt::format("expected an object, got {}", type_of(m)));
    for (auto& [k, _] : m.items())
      if (k != "role" && k != "content") bad(where, f + "." + k, "unknown key (a message has role and content)");
    if (!m.contains("role")) bad(where, f + ".role", "missing");
    if (!m.contains("content")) bad(where, f + ".content", "missing");
    Message msg;
    msg.role = get_string(m["role"], where, f + ".role");
    if (!kRoles.count(msg.role)) bad(where, f + ".role", fmt::format("unknown role '{}' (known: system, user, assistant)", msg.role));
    user = user || msg.role == "user";
    const json& c = m["content"];
    if (c.is_string()) {
      msg.content.push_back({ContentPart::Kind::kText, c.get<std::string>(), {}});
    } else if (c.is_array()) {
      if (c.empty()) bad(where, f + ".content", "the list is empty");
      for (size_t k = 0; k < c.size(); ++k) {
        std::string pf = fmt::format("{}.content[{}]", f, k);
        const json& p = c[k];
        if (!p.is_object()) bad(where, pf, fmt::format("expected an object, got {}", type_of(p)));
        if (!p.contains("type")) bad(where, pf + ".type", "missing");
        std::string type = get_string(p["type"], where, pf + ".type");
        const char* payload = type == "text" ? "text" : "path";
        for (auto& [key, _] : p.items())
          if (key != "type" && key != payload)
            bad(where, pf + "." + key, fmt::format("unknown key (a {} part has type and {})", type, payload));
        ContentPart part;
        if (type == "text") {
          if (!p.contains("text")) bad(where, pf + ".text", "missing");
          part.text = get_string(p["text"], where, pf + ".text");
        } else if (type == "image" || type == "audio") {
          if (!p.contains("path")) bad(where, pf + ".path", "missing");
          part.kind = type == "image" ? ContentPart::Kind::kImage : ContentPart::Kind::kAudio;
          part.media = resolve_media(get_string(p["path"], where, pf + ".path"),
                                     type == "image" ? MediaKind::kImage : MediaKind::kAudio, dir,
                                     fmt::format("{}: field '{}.path'", where, pf));
        } else {
          bad(where, pf + ".type", fmt::format("unknown part type '{}' (known: text, image, audio)", type));
        }
        msg.content.push_back(std::move(part));
      }
    } else {
      bad(where, f + ".content", fmt::format("expected a string or a list of parts, got {}", type_of(c)));
    }
    s.messages.push_back(std::move(msg));
  }
  if (!user) bad(where, "messages", "no user message");
}

}  // namespace

Sample parse_sample(const json& j, const std::string& dir, const std::string& where, MediaCheck check) {
  if (!j.is_object()) throw_input("{}: expected a JSON object, got {}", where, type_of(j));
  for (auto& [k, _] : j.items())
    if (!kKeys.count(k))
      bad(where, k, "unknown key (known: id, task, messages, question, images, audios, choices, answers, meta, cluster)");
  Sample s;
  s.where = where;
  for (const char* k : {"id", "task", "answers"})
    if (!j.contains(k) || j[k].is_null()) bad(where, k, "missing");
  s.id = get_string(j["id"], where, "id");
  if (s.id.empty()) bad(where, "id", "empty id");
  if (s.id.size() > 512) bad(where, "id", "longer than 512 bytes");
  if (has_control_chars(s.id)) bad(where, "id", "contains control characters");
  std::string task = get_string(j["task"], where, "task");
  s.task = lookup_task(task);
  if (!s.task) bad(where, "task", fmt::format("unknown task '{}' (known: {})", task, task_names()));
  const TaskInfo& t = *s.task;

  auto present = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  if (present("messages")) {
    for (const char* k : {"question", "images", "audios"})
      if (present(k)) bad(where, k, "not allowed together with 'messages' (media go inside the messages)");
    parse_messages(s, j["messages"], dir, where);
  } else {
    if (present("question")) s.question = get_string(j["question"], where, "question");
    if (t.uses_question() && s.question.empty())
      bad(where, "question", present("question") ? "empty (task " + t.name + " needs a question)"
                                                  : "missing (a line needs 'question' or 'messages')");
    for (const char* k : {"images", "audios"}) {
      if (!present(k)) continue;
      auto list = get_string_list(j[k], where, k, true);
      MediaKind kind = std::string(k) == "images" ? MediaKind::kImage : MediaKind::kAudio;
      for (size_t i = 0; i < list.size(); ++i)
        (kind == MediaKind::kImage ? s.images : s.audios)
            .push_back(resolve_media(list[i], kind, dir, fmt::format("{}: field '{}[{}]'", where, k, i)));
    }
  }

  if (present("choices")) {
    s.choices = get_string_list(j["choices"], where, "choices", false);
    if (s.choices.size() < 2 || s.choices.size() > 26)
      bad(where, "choices", fmt::format("expected 2 to 26 choices, got {}", s.choices.size()));
    for (size_t i = 0; i < s.choices.size(); ++i)
      if (s.choices[i].empty()) bad(where, fmt::format("choices[{}]", i), "empty choice");
  } else if (t.needs_choices) {
    bad(where, "choices", fmt::format("missing (task {} is multiple choice)", t.name));
  }
  check_answers(s, j["answers"], where);

  if (present("meta")) {
    if (!j["meta"].is_object()) bad(where, "meta", fmt::format("expected an object, got {}", type_of(j["meta"])));
    s.meta = j["meta"];
  }
  for (const std::string& key : template_meta_keys(t.prompt_template)) {
    auto it = s.meta.find(key);
    if (it == s.meta.end() || !it->is_string() || it->get<std::string>().empty())
      bad(where, "meta." + key, fmt::format("missing or not a non-empty string (task {}'s prompt uses it)", t.name));
  }
  if (s.meta.contains("normalizer") && !s.meta["normalizer"].is_string())
    bad(where, "meta.normalizer", "expected a string");
  if (present("cluster")) {
    const json& c = j["cluster"];
    if (c.is_string()) s.cluster = c.get<std::string>();
    else if (c.is_number_integer()) s.cluster = std::to_string(c.get<int64_t>());
    else bad(where, "cluster", fmt::format("expected a string or an integer, got {}", type_of(c)));
  }

  // Image markers must point at an image of the line.
  if (!s.has_messages()) {
    auto check_markers = [&](const std::string& text, const std::string& field) {
      for (auto& m : find_image_markers(text))
        if (static_cast<size_t>(m.index) > s.images.size())
          bad(where, field, fmt::format("<image {}> refers to a missing image (the line has {})", m.index, s.images.size()));
    };
    check_markers(s.question, "question");
    for (size_t i = 0; i < s.choices.size(); ++i) check_markers(s.choices[i], fmt::format("choices[{}]", i));
  }

  // Modality.
  size_t n_images = 0, n_audios = 0;
  for (const MediaRef* m : s.media()) (m->kind == MediaKind::kImage ? n_images : n_audios)++;
  if (t.modality == Modality::kImage && n_images == 0)
    bad(where, s.has_messages() ? "messages" : "images", fmt::format("task {} needs at least one image", t.name));
  if (t.modality == Modality::kAudio && n_audios == 0)
    bad(where, s.has_messages() ? "messages" : "audios", fmt::format("task {} needs at least one audio clip", t.name));
  if (t.modality == Modality::kText && n_images + n_audios > 0)
    bad(where, s.has_messages() ? "messages" : (n_images ? "images" : "audios"),
        fmt::format("task {} is text-only", t.name));

  // Media: existence, header or full decode. Messages name the field and the path.
  if (check != MediaCheck::kNone) {
    if (s.has_messages()) {
      for (size_t i = 0; i < s.messages.size(); ++i)
        for (size_t k = 0; k < s.messages[i].content.size(); ++k) {
          auto& p = s.messages[i].content[k];
          if (p.kind != ContentPart::Kind::kText)
            check_media(p.media, check, fmt::format("{}: field 'messages[{}].content[{}].path'", where, i, k));
        }
    } else {
      for (size_t i = 0; i < s.images.size(); ++i)
        check_media(s.images[i], check, fmt::format("{}: field 'images[{}]'", where, i));
      for (size_t i = 0; i < s.audios.size(); ++i)
        check_media(s.audios[i], check, fmt::format("{}: field 'audios[{}]'", where, i));
    }
  }
  return s;
}

// ------------------------------------------------------------------------------------------------

ManifestReader::ManifestReader(const std::string& path, ReaderOptions options)
    : path_(path), opt_(options), in_(path, std::ios::binary) {
  if (!in_) throw_input("{}: cannot open manifest", path);
  if (fs::is_directory(path)) throw_input("{}: is a directory (pass the manifest.jsonl file)", path);
  dir_ = fs::path(path).parent_path().string();
  if (dir_.empty()) dir_ = ".";
}

std::optional<Sample> ManifestReader::next() {
  std::string line;
  while (!done_) {
    // Bounded: a line is parsed whole, so a 1 GB line is refused, not read.
    if (!getline_bounded(in_, line, kMaxJsonLineBytes, fmt::format("{}:{}", path_, lineno_ + 1))) {
      done_ = true;
      if (in_.bad()) throw_input("{}: read error after line {}", path_, lineno_);
      if (lines_ == 0) throw_input("{}: the manifest is empty", path_);
      break;
    }
    ++lineno_;
    if (lineno_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++lines_;
    std::string where = fmt::format("{}:{}", path_, lineno_);
    std::string id;
    try {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {  // syntax, or a number beyond double's range (1e999)
        // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ..."
        std::string msg = e.what();
        size_t p = msg.find("] ");
        throw_input("{}: invalid JSON: {}", where, p == std::string::npos ? msg : msg.substr(p + 2));
      }
      if (j.is_object() && j.contains("id") && j["id"].is_string()) id = j["id"].get<std::string>();
      if (!id.empty()) {
        auto [it, fresh] = first_line_.emplace(id, lineno_);
        if (!fresh) bad(where, "id", fmt::format("duplicate id '{}' (first on line {})", id, it->second));
        if (!in_shard(id, opt_.shard)) {
          ++other_shards_;
          continue;
        }
      }
      Sample s = parse_sample(j, dir_, where, opt_.media);
      ++samples_;
      ++tasks_[s.task->name];
      return s;
    } catch (const InputError& e) {
      if (!opt_.skip_invalid) throw;
      skipped_.push_back({lineno_, id, e.what()});
    }
  }
  return std::nullopt;
}

json ManifestReader::summary() const {
  json lines = json::array();
  for (auto& s : skipped_) lines.push_back({{"line", s.line}, {"id", s.id}, {"reason", s.reason}});
  return {{"path", path_},
          {"shard", opt_.shard.str()},
          {"media_check", media_check_name(opt_.media)},
          {"lines", lines_},
          {"samples", samples_},
          {"other_shards", other_shards_},
          {"skipped", skipped_.size()},
          {"skipped_lines", lines},
          {"tasks", tasks_}};
}

std::vector<Sample> read_manifest(const std::string& path, ReaderOptions options) {
  ManifestReader r(path, options);
  std::vector<Sample> out;
  while (auto s = r.next()) out.push_back(std::move(*s));
  return out;
}

}  // namespace g4u::datasets
