// The expected strings are written out by hand from the chat format of the architecture doc §6.
#include "model/text/chat.h"
#include "base/error.h"
#include "model/text/special_tokens.h"
#include "model/text/tokenizer.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace g4u::model;

namespace {
ChatMessage msg(const std::string& role, const std::string& text) { return ChatMessage::plain(role, text); }
}  // namespace

TEST_CASE("chat: single user turn, thinking off (12B generation prompt)", "[unit][chat]") {
  CHECK(render_chat({msg("user", "Hello")}) ==
        "<bos><|turn>user\nHello<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

TEST_CASE("chat: text is trimmed, E2B/E4B-style prompt has no empty thought", "[unit][chat]") {
  ChatOptions o;
  o.empty_thought_when_not_thinking = false;
  CHECK(render_chat({msg("user", "\n  What is 2+2?  \n")}, o) ==
        "<bos><|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n");
  o.add_bos = false;
  o.add_generation_prompt = false;
  CHECK(render_chat({msg("user", "Hi")}, o) == "<|turn>user\nHi<turn|>\n");
}

TEST_CASE("chat: system message becomes the system turn", "[unit][chat]") {
  CHECK(render_chat({msg("system", "  You are terse. \n"), msg("user", "Hi")}) ==
        "<bos><|turn>system\nYou are terse.<turn|>\n<|turn>user\nHi<turn|>\n"
        "<|turn>model\n<|channel>thought\n<channel|>");
  // developer is the same as system in first position.
  CHECK(render_chat({msg("developer", "Rules."), msg("user", "Hi")}) ==
        "<bos><|turn>system\nRules.<turn|>\n<|turn>user\nHi<turn|>\n"
        "<|turn>model\n<|channel>thought\n<channel|>");
}

TEST_CASE("chat: thinking on adds a system turn with <|think|> and no empty thought", "[unit][chat]") {
  ChatOptions o;
  o.enable_thinking = true;
  CHECK(render_chat({msg("user", "Why is the sky blue?")}, o) ==
        "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nWhy is the sky blue?<turn|>\n"
        "<|turn>model\n");
  CHECK(render_chat({msg("system", "Be careful."), msg("user", "Why?")}, o) ==
        "<bos><|turn>system\n<|think|>\nBe careful.<turn|>\n<|turn>user\nWhy?<turn|>\n"
        "<|turn>model\n");
}

TEST_CASE("chat: multi-turn, thoughts stripped from earlier model turns", "[unit][chat]") {
  std::vector<ChatMessage> conv = {
      msg("user", "2+2?"),
      msg("assistant", "<|channel>thought\nTwo plus two.<channel|>4"),
      msg("user", "Times 3?"),
      msg("model", "  12\n"),
      msg("user", "Thanks"),
  };
  CHECK(render_chat(conv) ==
        "<bos><|turn>user\n2+2?<turn|>\n<|turn>model\n4<turn|>\n<|turn>user\nTimes 3?<turn|>\n"
        "<|turn>model\n12<turn|>\n<|turn>user\nThanks<turn|>\n"
        "<|turn>model\n<|channel>thought\n<channel|>");
}

TEST_CASE("chat: image and video placeholders", "[unit][chat]") {
  ChatMessage m{"user", {ChatItem::image("cat.png"), ChatItem::text_item(" Describe this. ")}};
  CHECK(render_chat({m}) ==
        "<bos><|turn>user\n\n\n<|image|>\n\nDescribe this.<turn|>\n"
        "<|turn>model\n<|channel>thought\n<channel|>");
  ChatOptions bare;
  bare.image_newlines = false;
  CHECK(render_chat({m}, bare) ==
        "<bos><|turn>user\n<|image|>Describe this.<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
  ChatMessage v{"user", {ChatItem::text_item("What happens?"), ChatItem::video("clip.mp4")}};
  CHECK(render_chat({v}) ==
        "<bos><|turn>user\nWhat happens?\n\n<|video|>\n\n<turn|>\n"
        "<|turn>model\n<|channel>thought\n<channel|>");
}

TEST_CASE("chat: audio placeholder is the bare token", "[unit][chat]") {
  ChatMessage m{"user", {ChatItem::text_item("Transcribe:"), ChatItem::audio("a.wav")}};
  CHECK(render_chat({m}) ==
        "<bos><|turn>user\nTranscribe:<|audio|><turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

TEST_CASE("chat: tool role and a later system message are plain turns", "[unit][chat]") {
  ChatOptions o;
  o.add_generation_prompt = false;
  CHECK(render_chat({msg("user", "a"), msg("tool", "b"), msg("system", "c")}, o) ==
        "<bos><|turn>user\na<turn|>\n<|turn>tool\nb<turn|>\n<|turn>system\nc<turn|>\n");
}

TEST_CASE("chat: bad roles and media in the system message are input errors", "[unit][chat]") {
  CHECK_THROWS_AS(render_chat({msg("bot", "hi")}), g4u::InputError);
  CHECK_THROWS_WITH(render_chat({msg("user", "hi"), msg("User", "x")}),
                    Catch::Contains("message 1") && Catch::Contains("'User'"));
  ChatMessage sys{"system", {ChatItem::image("x.png")}};
  CHECK_THROWS_AS(render_chat({sys, msg("user", "hi")}), g4u::InputError);
}

TEST_CASE("chat: rendered prompt encodes to the special ids", "[unit][chat]") {
  ByteTokenizer tok(320);
  ChatMessage m{"user", {ChatItem::image("x.png"), ChatItem::text_item("Hi")}};
  std::vector<int64_t> ids = tok.encode(render_chat({m}));
  REQUIRE(ids.size() > 4);
  CHECK(ids[0] == kBosId);
  CHECK(ids[1] == kTurnStartId);
  CHECK(std::count(ids.begin(), ids.end(), kImageId) == 1);
  CHECK(std::count(ids.begin(), ids.end(), kTurnEndId) == 1);
  // Ends with <|turn> m o d e l \n <|channel> t h o u g h t \n <channel|>.
  CHECK(ids.back() == kChannelEndId);
  CHECK(ids[ids.size() - 10] == kChannelStartId);
  CHECK(tok.decode(ids) == render_chat({m}));
}

TEST_CASE("split_thoughts: thought and answer", "[unit][chat]") {
  ThoughtSplit s = split_thoughts("<|channel>thought\nLet me add: 2+2=4.<channel|>The answer is 4.");
  CHECK(s.thought == "Let me add: 2+2=4.");
  CHECK(s.answer == "The answer is 4.");
  CHECK_FALSE(s.truncated);

  s = split_thoughts("  Just an answer.\n");
  CHECK(s.thought.empty());
  CHECK(s.answer == "Just an answer.");
  CHECK_FALSE(s.truncated);

  s = split_thoughts("<|channel>thought\n<channel|>Hi");
  CHECK(s.thought.empty());
  CHECK(s.answer == "Hi");
  CHECK_FALSE(s.truncated);

  s = split_thoughts("Hmm <|channel>thought\nx<channel|> done");
  CHECK(s.thought == "x");
  CHECK(s.answer == "Hmm  done");

  s = split_thoughts("<|channel>thought\na<channel|>one <|channel>thought\nb<channel|>two");
  CHECK(s.thought == "a\nb");
  CHECK(s.answer == "one two");

  // "thought" is only the channel name when a newline follows it.
  s = split_thoughts("<|channel>thoughtful<channel|>ok");
  CHECK(s.thought == "thoughtful");
  CHECK(s.answer == "ok");
}

TEST_CASE("split_thoughts: truncated thinking", "[unit][chat]") {
  ThoughtSplit s = split_thoughts("<|channel>thought\nStill working on it");
  CHECK(s.truncated);
  CHECK(s.thought == "Still working on it");
  CHECK(s.answer.empty());

  s = split_thoughts("<|channel>thought\nfirst<channel|>Answer. <|channel>thought\nmore");
  CHECK(s.truncated);
  CHECK(s.thought == "first\nmore");
  CHECK(s.answer == "Answer.");
}

TEST_CASE("strip_thoughts keeps the answer only", "[unit][chat]") {
  CHECK(strip_thoughts("<|channel>thought\nabc<channel|>\nFinal.") == "Final.");
  CHECK(strip_thoughts("<|channel>thought\nabc") == "");
  CHECK(strip_thoughts("plain") == "plain");
  // A stray closing marker is dropped, as the chat template does.
  CHECK(strip_thoughts("a<channel|>b") == "ab");
}
