#include "datasets/prompt/prompt.h"

#include "datasets/manifest/markers.h"
#include "base/error.h"

#include <fmt/format.h>

#include <set>

namespace g4u::datasets {

std::string format_options(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i) out += '\n';
    out += static_cast<char>('A' + i);
    out += ". ";
    out += choices[i];
  }
  return out;
}

std::string render_prompt_text(const Sample& s) {
  G4U_CHECK(s.task != nullptr, "sample {} has no task", s.id);
  if (s.has_messages()) throw_input("{}: sample '{}' is in message form; it has no template prompt", s.where, s.id);
  const std::string& t = s.task->prompt_template;
  std::string out;
  size_t p = 0;
  while (p < t.size()) {
    size_t open = t.find_first_of("{}", p);
    if (open == std::string::npos) {
      out.append(t, p, std::string::npos);
      break;
    }
    out.append(t, p, open - p);
    // "{{" and "}}" stand for literal braces (MATH-Vision's "\boxed{}"); a lone '}' is literal too.
    if (t[open] == '}' || (open + 1 < t.size() && t[open + 1] == '{')) {
      out += t[open];
      p = open + (open + 1 < t.size() && t[open + 1] == t[open] ? 2 : 1);
      continue;
    }
    size_t close = t.find('}', open);
    G4U_CHECK(close != std::string::npos, "task {}: unterminated placeholder in its template", s.task->name);
    std::string name = t.substr(open + 1, close - open - 1);
    if (name == "question") {
      out += s.question;
    } else if (name == "options") {
      out += format_options(s.choices);
    } else if (name.rfind("meta:", 0) == 0) {
      auto it = s.meta.find(name.substr(5));
      if (it == s.meta.end() || !it->is_string())
        throw_input("{}: field 'meta.{}': missing (task {}'s prompt uses it)", s.where, name.substr(5), s.task->name);
      out += it->get<std::string>();
    } else {
      G4U_CHECK(false, "task {}: unknown placeholder {{{}}} in its template", s.task->name, name);
    }
    p = close + 1;
  }
  return out;
}

MediaPlacement parse_media_placement(const std::string& name) {
  if (name == "before-text") return MediaPlacement::kBeforeText;
  if (name == "interleaved") return MediaPlacement::kInterleaved;
  throw_input("unknown media placement '{}' (known: before-text, interleaved)", name);
}

namespace {

model::ChatItem media_item(const MediaRef& m, const PromptOptions& o) {
  std::string path = media_file(m, o.spill_dir);
  return m.kind == MediaKind::kImage ? model::ChatItem::image(path) : model::ChatItem::audio(path);
}

}  // namespace

std::vector<model::ChatMessage> build_chat(const Sample& s, const PromptOptions& o) {
  std::vector<model::ChatMessage> out;
  if (!o.system_prompt.empty()) out.push_back(model::ChatMessage::plain("system", o.system_prompt));
  if (s.has_messages()) {
    for (auto& m : s.messages) {
      model::ChatMessage cm{m.role, {}};
      for (auto& part : m.content) {
        if (part.kind == ContentPart::Kind::kText) cm.content.push_back(model::ChatItem::text_item(part.text));
        else cm.content.push_back(media_item(part.media, o));
      }
      out.push_back(std::move(cm));
    }
    return out;
  }
  std::string text = render_prompt_text(s);
  auto markers = find_image_markers(text);
  model::ChatMessage user{"user", {}};
  auto add_audio = [&]() {
    for (auto& a : s.audios) user.content.push_back(media_item(a, o));
  };
  if (markers.empty()) {
    for (auto& im : s.images) user.content.push_back(media_item(im, o));
    add_audio();
    user.content.push_back(model::ChatItem::text_item(text));
  } else if (o.placement == MediaPlacement::kBeforeText) {
    std::set<int> referenced;
    for (auto& m : markers) referenced.insert(m.index);
    for (int k : referenced) user.content.push_back(media_item(s.images.at(static_cast<size_t>(k - 1)), o));
    add_audio();
    std::string stripped;
    size_t p = 0;
    for (auto& m : markers) {
      stripped.append(text, p, m.pos - p);
      p = m.pos + m.len;
    }
    stripped.append(text, p, std::string::npos);
    user.content.push_back(model::ChatItem::text_item(stripped));
  } else {
    add_audio();
    size_t p = 0;
    for (auto& m : markers) {
      if (m.pos > p) user.content.push_back(model::ChatItem::text_item(text.substr(p, m.pos - p)));
      user.content.push_back(media_item(s.images.at(static_cast<size_t>(m.index - 1)), o));
      p = m.pos + m.len;
    }
    if (p < text.size()) user.content.push_back(model::ChatItem::text_item(text.substr(p)));
  }
  out.push_back(std::move(user));
  return out;
}

}  // namespace g4u::datasets
