// The special tokens of g4u's own small vocabularies, in id order.
//
// Both the built-in byte tokenizer and the SentencePiece vocabularies that g4u trains
// (train_sentencepiece in model/text/tokenizer.h) put these at the same ids, so a small model's
// embedding rows mean the same thing whichever tokenizer it was trained with. The spellings are
// those of the released Gemma 4 vocabulary (architecture doc §6); only the ids differ (the real
// vocabulary has e.g. <|turn> at 105). The byte tokenizer puts byte b at id kByteTokenOffset + b.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace g4u::model {

inline constexpr std::array<std::string_view, 32> kSpecialTokens = {
    "<pad>",       "<eos>",       "<bos>",          "<unk>",           "<mask>",
    "<|turn>",     "<turn|>",     "<|think|>",      "<|channel>",      "<channel|>",
    "<|image>",    "<image|>",    "<|image|>",      "<|audio>",        "<audio|>",
    "<|audio|>",   "<|video|>",   "<|tool>",        "<tool|>",         "<|tool_call>",
    "<tool_call|>", "<|tool_response>", "<tool_response|>", "<|\"|>", "<unused0>",
    "<unused1>",   "<unused2>",   "<unused3>",      "<unused4>",       "<unused5>",
    "<unused6>",   "<unused7>",
};

inline constexpr int64_t kNumSpecialTokens = static_cast<int64_t>(kSpecialTokens.size());
inline constexpr int64_t kByteTokenOffset = kNumSpecialTokens;  // byte b -> id 32 + b
inline constexpr int64_t kMinByteVocab = kByteTokenOffset + 256;  // 288

// Ids of the tokens code refers to by name.
inline constexpr int64_t kPadId = 0;
inline constexpr int64_t kEosId = 1;
inline constexpr int64_t kBosId = 2;
inline constexpr int64_t kUnkId = 3;
inline constexpr int64_t kMaskId = 4;
inline constexpr int64_t kTurnStartId = 5;   // <|turn>
inline constexpr int64_t kTurnEndId = 6;     // <turn|>
inline constexpr int64_t kThinkId = 7;       // <|think|>
inline constexpr int64_t kChannelStartId = 8;  // <|channel>
inline constexpr int64_t kChannelEndId = 9;    // <channel|>
inline constexpr int64_t kBoiId = 10;        // <|image>
inline constexpr int64_t kEoiId = 11;        // <image|>
inline constexpr int64_t kImageId = 12;      // <|image|>
inline constexpr int64_t kBoaId = 13;        // <|audio>
inline constexpr int64_t kEoaId = 14;        // <audio|>
inline constexpr int64_t kAudioId = 15;      // <|audio|>
inline constexpr int64_t kVideoId = 16;      // <|video|>
inline constexpr int64_t kToolResponseStartId = 21;  // <|tool_response>
inline constexpr int64_t kFirstUnusedId = 24;        // <unused0>

// Id of a special-token spelling in this list, if it is one.
constexpr std::optional<int64_t> special_token_index(std::string_view name) {
  for (size_t i = 0; i < kSpecialTokens.size(); ++i)
    if (kSpecialTokens[i] == name) return static_cast<int64_t>(i);
  return std::nullopt;
}

static_assert(kSpecialTokens[kPadId] == "<pad>" && kSpecialTokens[kEosId] == "<eos>" &&
              kSpecialTokens[kBosId] == "<bos>" && kSpecialTokens[kUnkId] == "<unk>");
static_assert(kSpecialTokens[kTurnStartId] == "<|turn>" && kSpecialTokens[kTurnEndId] == "<turn|>");
static_assert(kSpecialTokens[kThinkId] == "<|think|>");
static_assert(kSpecialTokens[kChannelStartId] == "<|channel>" &&
              kSpecialTokens[kChannelEndId] == "<channel|>");
static_assert(kSpecialTokens[kBoiId] == "<|image>" && kSpecialTokens[kEoiId] == "<image|>" &&
              kSpecialTokens[kImageId] == "<|image|>");
static_assert(kSpecialTokens[kBoaId] == "<|audio>" && kSpecialTokens[kEoaId] == "<audio|>" &&
              kSpecialTokens[kAudioId] == "<|audio|>" && kSpecialTokens[kVideoId] == "<|video|>");
static_assert(kSpecialTokens[kToolResponseStartId] == "<|tool_response>");
static_assert(kSpecialTokens[kFirstUnusedId] == "<unused0>" && kSpecialTokens[31] == "<unused7>");

}  // namespace g4u::model
