#include "model/text/chat.h"

#include "base/error.h"

#include <string_view>

namespace g4u::model {
namespace {

constexpr std::string_view kChannelOpen = "<|channel>";
constexpr std::string_view kChannelClose = "<channel|>";
constexpr std::string_view kThoughtChannel = "thought";

// Jinja's `trim` on the texts we see: leading and trailing whitespace removed.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool known_role(const std::string& r) {
  return r == "system" || r == "developer" || r == "user" || r == "assistant" || r == "model" ||
         r == "tool";
}

std::string media_placeholder(ChatItem::Kind kind, const ChatOptions& o) {
  switch (kind) {
    case ChatItem::Kind::kImage:
      return o.image_newlines ? "\n\n<|image|>\n\n" : "<|image|>";
    case ChatItem::Kind::kVideo:
      return o.image_newlines ? "\n\n<|video|>\n\n" : "<|video|>";
    case ChatItem::Kind::kAudio:
      return "<|audio|>";
    case ChatItem::Kind::kText:
      break;
  }
  G4U_CHECK(false, "not a media item");
  return {};
}

}  // namespace

ThoughtSplit split_thoughts(const std::string& generated) {
  // Same reading as the template's strip_thinking: cut the text at every <channel|>; in each
  // piece, what follows a <|channel> is thought, what precedes it is answer. A <|channel> in the
  // last piece was never closed.
  ThoughtSplit out;
  std::string answer;
  std::string_view text = generated;
  while (true) {
    size_t close = text.find(kChannelClose);
    std::string_view part = text.substr(0, close);
    size_t open = part.find(kChannelOpen);
    answer.append(part.substr(0, open));
    if (open != std::string_view::npos) {
      std::string_view thought = part.substr(open + kChannelOpen.size());
      // The channel name: "thought" followed by a newline (or nothing).
      if (thought.substr(0, kThoughtChannel.size()) == kThoughtChannel &&
          (thought.size() == kThoughtChannel.size() || thought[kThoughtChannel.size()] == '\n'))
        thought.remove_prefix(kThoughtChannel.size());
      thought = trim(thought);
      if (!thought.empty()) {
        if (!out.thought.empty()) out.thought += '\n';
        out.thought.append(thought);
      }
      if (close == std::string_view::npos) out.truncated = true;
    }
    if (close == std::string_view::npos) break;
    text.remove_prefix(close + kChannelClose.size());
  }
  out.answer = std::string(trim(answer));
  return out;
}

std::string strip_thoughts(const std::string& generated) { return split_thoughts(generated).answer; }

std::string render_chat(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  for (size_t i = 0; i < messages.size(); ++i)
    if (!known_role(messages[i].role))
      throw_input("chat: message {}: unknown role '{}' (known: system, developer, user, "
                  "assistant, model, tool)",
                  i, messages[i].role);

  std::string out;
  if (options.add_bos) out += "<bos>";

  size_t first = 0;
  const bool system_first =
      !messages.empty() && (messages[0].role == "system" || messages[0].role == "developer");
  if (options.enable_thinking || system_first) {
    out += "<|turn>system\n";
    if (options.enable_thinking) out += "<|think|>\n";
    if (system_first) {
      std::string text;
      for (const ChatItem& item : messages[0].content) {
        if (item.kind != ChatItem::Kind::kText)
          throw_input("chat: message 0 ({}): only text items are allowed in the system message",
                      messages[0].role);
        text.append(trim(item.text));
      }
      out.append(trim(text));
      first = 1;
    }
    out += "<turn|>\n";
  }

  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool is_model = m.role == "assistant" || m.role == "model";
    out += "<|turn>";
    out += is_model ? "model" : m.role;
    out += '\n';
    for (const ChatItem& item : m.content) {
      if (item.kind == ChatItem::Kind::kText) {
        // Earlier model turns keep only their answers.
        if (is_model)
          out += strip_thoughts(item.text);
        else
          out.append(trim(item.text));
      } else {
        out += media_placeholder(item.kind, options);
      }
    }
    out += "<turn|>\n";
  }

  if (options.add_generation_prompt) {
    out += "<|turn>model\n";
    if (!options.enable_thinking && options.empty_thought_when_not_thinking)
      out += "<|channel>thought\n<channel|>";
  }
  return out;
}

}  // namespace g4u::model
