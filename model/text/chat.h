// The Gemma 4 chat format (architecture doc §6): rendering a conversation into the prompt text the
// instruction-tuned model expects, and splitting the model's output into thought and answer.
//
// The rendered text contains special-token spellings (<bos>, <|turn>, <|image|>, ...) that
// Tokenizer::encode turns into their ids. Media items become one placeholder token each; the
// multimodal front end later expands a placeholder into the soft tokens of that item.
#pragma once

#include <string>
#include <vector>

namespace g4u::model {

struct ChatItem {
  enum class Kind { kText, kImage, kAudio, kVideo };
  Kind kind = Kind::kText;
  std::string text;  // kText
  std::string path;  // kImage / kAudio / kVideo: the media file (not read here)

  static ChatItem text_item(std::string text) { return {Kind::kText, std::move(text), {}}; }
  static ChatItem image(std::string path) { return {Kind::kImage, {}, std::move(path)}; }
  static ChatItem audio(std::string path) { return {Kind::kAudio, {}, std::move(path)}; }
  static ChatItem video(std::string path) { return {Kind::kVideo, {}, std::move(path)}; }
};

// role: system, developer, user, assistant (rendered as "model"), model or tool.
struct ChatMessage {
  std::string role;
  std::vector<ChatItem> content;

  // A message with a single text item.
  static ChatMessage plain(std::string role, std::string text) {
    return {std::move(role), {ChatItem::text_item(std::move(text))}};
  }
};

struct ChatOptions {
  bool add_bos = true;
  bool add_generation_prompt = true;
  bool enable_thinking = false;  // <|think|> in a system turn
  // The 12B/26B/31B ("mainline") templates end the generation prompt with an empty thought
  // block when thinking is off; the E2B/E4B templates do not.
  bool empty_thought_when_not_thinking = true;
  // Images and videos as "\n\n<|image|>\n\n" (the released template); false: the bare token.
  bool image_newlines = true;
};

// The prompt text of a conversation. InputError for an unknown role or a media item in the
// system message that opens the conversation.
std::string render_chat(const std::vector<ChatMessage>& messages, const ChatOptions& options = {});

// Model output "<|channel>thought\n...<channel|>final answer" split in two. Text outside channel
// blocks is the answer; text inside (minus the channel name "thought") is the thought; both are
// trimmed, several thought blocks are joined with "\n". truncated: a channel was opened and never
// closed (generation stopped while thinking); its text is the (last) thought.
struct ThoughtSplit {
  std::string thought;
  std::string answer;
  bool truncated = false;
};
ThoughtSplit split_thoughts(const std::string& generated);

// The answer part only (what the chat template keeps of an earlier model turn).
std::string strip_thoughts(const std::string& generated);

}  // namespace g4u::model
