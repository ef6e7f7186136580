#include "model/io/config.h"
#include "base/error.h"
#include "model/text/special_tokens.h"
#include "model/text/tokenizer.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace g4u::model;
namespace fs = std::filesystem;

namespace {

using g4u::test::read_file;
using g4u::test::write_file;
using ScratchDir = g4u::test::ScratchDir;




// English-like sentences from a fixed word list and a fixed LCG: a corpus with repeated words so
// BPE has merges to learn, plus digits, punctuation and the chat markers.
std::string make_corpus(int lines) {
  const char* words[] = {"the",  "model", "reads", "a",     "token", "and",   "writes", "next",
                         "word", "small", "cat",   "sat",   "on",    "mat",   "image",  "audio",
                         "is",   "of",    "in",    "blue",  "sky",   "why",   "answer", "question"};
  uint64_t s = 12345;
  auto next = [&]() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  };
  std::string out;
  for (int l = 0; l < lines; ++l) {
    if (l % 7 == 0) out += "<|turn>user\n";
    int n = 4 + next() % 10;
    for (int w = 0; w < n; ++w) {
      if (w) out += ' ';
      out += words[next() % (sizeof(words) / sizeof(words[0]))];
    }
    out += fmt::format(" {}.", next() % 1000);
    if (l % 7 == 0) out += "<turn|>";
    out += '\n';
  }
  return out;
}

// One vocabulary trained per test process (training takes a moment).
struct TrainedVocab {
  ScratchDir dir;
  std::string model;
  std::string corpus;
  TrainedVocab() {
    corpus = dir.path + "/corpus.txt";
    write_file(corpus, make_corpus(3000));
    model = dir.path + "/tokenizer.model";
    train_sentencepiece(corpus, 400, model, 7);
  }
};
const TrainedVocab& trained() {
  static TrainedVocab v;
  return v;
}

}  // namespace

// ---- byte tokenizer ----------------------------------------------------------------------------

TEST_CASE("byte tokenizer: bytes at 32 + b, specials by spelling", "[unit][tokenizer]") {
  ByteTokenizer tok(320);
  CHECK(tok.vocab_size() == 320);
  CHECK(tok.encode("A") == std::vector<int64_t>{32 + 65});
  CHECK(tok.encode("") .empty());
  CHECK(tok.encode("<bos>hi") == std::vector<int64_t>{2, 32 + 'h', 32 + 'i'});
  CHECK(tok.encode("<|turn>user\n") ==
        std::vector<int64_t>{5, 32 + 'u', 32 + 's', 32 + 'e', 32 + 'r', 32 + '\n'});
  CHECK(tok.encode("x<|image|>y<|image>z<image|>") ==
        std::vector<int64_t>{32 + 'x', 12, 32 + 'y', 10, 32 + 'z', 11});
  CHECK(tok.encode("<|\"|>") == std::vector<int64_t>{23});
  // Incomplete or unknown spellings are plain bytes.
  CHECK(tok.encode("<|turn") == std::vector<int64_t>{32 + '<', 32 + '|', 32 + 't', 32 + 'u', 32 + 'r', 32 + 'n'});
  CHECK(tok.encode("<foo>").size() == 5);
  // Longest match: <unused1> must not eat the start of <unused10> (id 288 + 2).
  CHECK(tok.encode("<unused1>") == std::vector<int64_t>{25});
  CHECK(tok.encode("<unused10>") == std::vector<int64_t>{290});
  CHECK(tok.encode("<unused40>").size() == 10);  // id 320 would be outside the vocabulary
}

TEST_CASE("byte tokenizer: token ids match special_tokens.h and the presets", "[unit][tokenizer]") {
  ByteTokenizer tok(512);
  for (int64_t i = 0; i < kNumSpecialTokens; ++i) {
    CHECK(tok.token_id(kSpecialTokens[i]) == i);
    CHECK(tok.piece(i) == kSpecialTokens[i]);
    CHECK(tok.is_special(i));
  }
  CHECK(tok.piece(288) == "<unused8>");
  CHECK(tok.piece(511) == "<unused231>");
  CHECK(tok.is_special(300));
  CHECK_FALSE(tok.is_special(32));
  CHECK_FALSE(tok.is_special(287));
  CHECK(tok.piece(32 + 'a') == "a");
  CHECK(tok.piece(32 + '\n') == "<0x0A>");
  CHECK(tok.piece(32 + ' ') == "<0x20>");
  CHECK(tok.piece(32 + 0xff) == "<0xFF>");
  CHECK_FALSE(tok.token_id("hello").has_value());

  for (const char* preset : {"tiny", "small"}) {
    ModelConfig c = *model_preset(preset);
    std::unique_ptr<Tokenizer> t = load_tokenizer(c, "");
    CHECK(t->vocab_size() == c.text.vocab_size);
    CHECK(t->token_id("<|image>") == c.tokens.boi);
    CHECK(t->token_id("<image|>") == c.tokens.eoi);
    CHECK(t->token_id("<|image|>") == c.tokens.image);
    CHECK(t->token_id("<|audio>") == c.tokens.boa);
    CHECK(t->token_id("<audio|>") == c.tokens.eoa);
    CHECK(t->token_id("<|audio|>") == c.tokens.audio);
    CHECK(t->token_id("<|video|>") == c.tokens.video);
    CHECK(t->token_id("<bos>") == c.text.bos_token_id);
    CHECK(t->token_id("<pad>") == c.text.pad_token_id);
  }
}

TEST_CASE("byte tokenizer: decode round-trips any bytes, invalid UTF-8 included", "[unit][tokenizer]") {
  ByteTokenizer tok(320);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::vector<int64_t> ids = tok.encode(all);
  REQUIRE(ids.size() == 256);
  for (int b = 0; b < 256; ++b) CHECK(ids[b] == 32 + b);
  CHECK(tok.decode(ids) == all);
  std::string bad = "ok \xff\xfe \xe6\x97 end";  // stray bytes and a cut 3-byte character
  CHECK(tok.decode(tok.encode(bad)) == bad);
  std::string mixed = "<bos><|turn>user\nCaf\xc3\xa9 \xe6\x97\xa5<turn|>\n";
  CHECK(tok.decode(tok.encode(mixed)) == mixed);
  CHECK(tok.decode(tok.encode(mixed), /*skip_special=*/true) == "user\nCaf\xc3\xa9 \xe6\x97\xa5\n");
}

TEST_CASE("byte tokenizer: bad sizes and ids are input errors", "[unit][tokenizer]") {
  CHECK_THROWS_AS(ByteTokenizer(287), g4u::InputError);
  CHECK_NOTHROW(ByteTokenizer(288));
  ByteTokenizer tok(320);
  CHECK_THROWS_AS(tok.decode({320}), g4u::InputError);
  CHECK_THROWS_AS(tok.decode({-1}), g4u::InputError);
  CHECK_THROWS_AS(tok.piece(400), g4u::InputError);
}

TEST_CASE("load_tokenizer: errors name the problem", "[unit][tokenizer]") {
  ModelConfig c = *model_preset("tiny");
  c.tokenizer = "wordpiece";
  CHECK_THROWS_WITH(load_tokenizer(c, ""), Catch::Contains("wordpiece") && Catch::Contains("sentencepiece"));

  c = *model_preset("tiny");
  c.tokens.boi = 40;
  CHECK_THROWS_WITH(load_tokenizer(c, ""), Catch::Contains("<|image>") && Catch::Contains("40"));

  ScratchDir dir;
  c = *model_preset("tiny");
  c.tokenizer = "sentencepiece";
  CHECK_THROWS_WITH(load_tokenizer(c, dir.path), Catch::Contains(dir.path + "/tokenizer.model"));
  write_file(dir.path + "/tokenizer.model", "this is not a protobuf");
  CHECK_THROWS_AS(load_tokenizer(c, dir.path), g4u::InputError);
}

// ---- SentencePiece -----------------------------------------------------------------------------

TEST_CASE("sentencepiece: trained vocabulary has g4u's special ids", "[integration][tokenizer]") {
  SentencePieceTokenizer tok(trained().model);
  REQUIRE(tok.vocab_size() == 400);
  CHECK(tok.token_id("<pad>") == 0);
  CHECK(tok.token_id("<eos>") == 1);
  CHECK(tok.token_id("<bos>") == 2);
  CHECK(tok.token_id("<unk>") == 3);
  CHECK(tok.token_id("<mask>") == 4);
  CHECK(tok.token_id("<|turn>") == 5);
  CHECK(tok.token_id("<turn|>") == 6);
  CHECK(tok.token_id("<|think|>") == 7);
  CHECK(tok.token_id("<|image|>") == 12);
  CHECK(tok.token_id("<|video|>") == 16);
  CHECK(tok.token_id("<|\"|>") == 23);
  CHECK(tok.token_id("<unused7>") == 31);
  for (int64_t i = 0; i < kNumSpecialTokens; ++i) {
    CHECK(tok.piece(i) == kSpecialTokens[i]);
    CHECK(tok.is_special(i));
  }
  // The 256 byte pieces follow the specials, as in the byte tokenizer.
  for (int b = 0; b < 256; ++b) {
    CHECK(tok.piece(32 + b) == fmt::format("<0x{:02X}>", b));
    CHECK_FALSE(tok.is_special(32 + b));
  }
  CHECK_FALSE(tok.is_special(399));

  // The tiny preset's markers agree with it, so load_tokenizer accepts it for a 400-token model.
  ScratchDir dir;
  fs::copy_file(trained().model, dir.path + "/tokenizer.model");
  ModelConfig c = *model_preset("tiny");
  c.tokenizer = "sentencepiece";
  c.text.vocab_size = 400;
  CHECK(load_tokenizer(c, dir.path)->vocab_size() == 400);
  c.text.vocab_size = 320;
  CHECK_THROWS_WITH(load_tokenizer(c, dir.path), Catch::Contains("400") && Catch::Contains("320"));
}

TEST_CASE("sentencepiece: encode/decode round trip", "[integration][tokenizer]") {
  SentencePieceTokenizer tok(trained().model);
  const std::string text = "<bos><|turn>user\nthe small cat sat on the mat 42.<turn|>\n<|turn>model\n";
  std::vector<int64_t> ids = tok.encode(text);
  REQUIRE(ids.size() >= 4);
  CHECK(ids[0] == 2);
  CHECK(ids[1] == 5);
  CHECK(ids.back() != 5);
  CHECK(std::count(ids.begin(), ids.end(), 5) == 2);
  CHECK(std::count(ids.begin(), ids.end(), 6) == 1);
  CHECK(tok.decode(ids) == text);
  CHECK(tok.decode(ids, true) == "user\nthe small cat sat on the mat 42.\nmodel\n");

  // BPE learned merges: frequent words take fewer tokens than bytes.
  std::vector<int64_t> words = tok.encode("the model reads the question");
  CHECK(words.size() < 15);
  CHECK(tok.decode(words) == "the model reads the question");

  // Characters never seen in training go through byte fallback and come back intact.
  const std::string unseen = "Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac ~`{}  double  spaces\ttab";
  CHECK(tok.decode(tok.encode(unseen)) == unseen);
  std::vector<int64_t> e = tok.encode("\xc3\xa9");
  CHECK(e == std::vector<int64_t>{32 + 0xc3, 32 + 0xa9});

  // Text that is not UTF-8 encodes without failing (SentencePiece maps a bad byte to U+FFFD).
  std::vector<int64_t> bad_ids = tok.encode("ok \xff\xfe end");
  std::string bad_back = tok.decode(bad_ids);
  INFO(bad_back);
  CHECK(bad_back.substr(0, 3) == "ok ");
  CHECK(bad_back.substr(bad_back.size() - 4) == " end");

  // Decoding a cut character keeps its bytes.
  CHECK(tok.decode({32 + 0xe6, 32 + 0x97}) == "\xe6\x97");
  CHECK_THROWS_AS(tok.decode({400}), g4u::InputError);
}

TEST_CASE("sentencepiece: training is deterministic and atomic", "[integration][tokenizer]") {
  ScratchDir dir;
  std::string again = dir.path + "/again.model";
  train_sentencepiece(trained().corpus, 400, again, 7);
  CHECK(read_file(again) == read_file(trained().model));
  // Nothing but the output is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);

  // Failures leave no output file.
  std::string bad = dir.path + "/bad.model";
  CHECK_THROWS_AS(train_sentencepiece(trained().corpus, 288, bad, 7), g4u::InputError);
  CHECK_THROWS_AS(train_sentencepiece(dir.path + "/missing.txt", 400, bad, 7), g4u::InputError);
  write_file(dir.path + "/tiny.txt", "ab\n");
  CHECK_THROWS_AS(train_sentencepiece(dir.path + "/tiny.txt", 5000, bad, 7), g4u::InputError);
  CHECK_FALSE(fs::exists(bad));
  files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  CHECK(files == 2);  // again.model, tiny.txt
}
