// tokenizer.json (model/text/tokenizer_json.h) and the BPE engine (model/text/bpe.h), compared with
// the encodings and decodings that HF tokenizers' own Node bindings (npm tokenizers 0.23.2) produced
// for the fixtures of tests/fixtures/tokenizer_json (make_fixtures.sh regenerates them).
#include "base/error.h"
#include "model/io/config.h"
#include "model/text/bpe.h"
#include "model/text/special_tokens.h"
#include "model/text/tokenizer.h"
#include "model/text/tokenizer_json.h"
#include "cli_runner.h"
#include "test_paths.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

// Everything, test cases included, in one namespace: the unity build shares this translation unit.
namespace tokenizer_json_test {

using namespace g4u::model;
using namespace g4u::test;

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kDir = std::string(G4U_FIXTURES_DIR) + "/tokenizer_json";

struct Case {
  std::optional<std::string> text;  // absent: an id sequence to decode only
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
  std::string decoded, decoded_skip_special;
};

std::vector<Case> read_cases(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::vector<Case> out;
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    Case c;
    if (j.contains("text")) c.text = j["text"].get<std::string>();
    c.ids = j["ids"].get<std::vector<int64_t>>();
    if (j.contains("tokens")) c.tokens = j["tokens"].get<std::vector<std::string>>();
    c.decoded = j["decoded"].get<std::string>();
    c.decoded_skip_special = j["decoded_skip_special"].get<std::string>();
    out.push_back(std::move(c));
  }
  return out;
}

// Every line of `jsonl`: encode gives the ids and pieces, decode (HF's U+FFFD rule) the texts.
void check_against_fixture(const BpeEncoder& enc, const std::string& jsonl, size_t min_cases) {
  auto cases = read_cases(jsonl);
  CHECK(cases.size() >= min_cases);
  for (const Case& c : cases) {
    INFO(jsonl << ": " << (c.text ? json(*c.text).dump() : json(c.ids).dump()));
    if (c.text) {
      CHECK(enc.encode(*c.text) == c.ids);
      // HF names an added token by the text it matched (with stripped whitespace, normalized);
      // every other token by its piece.
      REQUIRE(c.tokens.size() == c.ids.size());
      for (size_t i = 0; i < c.ids.size(); ++i)
        if (enc.added_token(c.ids[i]) == nullptr) CHECK(enc.piece(c.ids[i]) == c.tokens[i]);
    }
    CHECK(enc.decode(c.ids, false, InvalidBytes::kReplace) == c.decoded);
    CHECK(enc.decode(c.ids, true, InvalidBytes::kReplace) == c.decoded_skip_special);
  }
}

// vocab_scores.tsv (spm_export_vocab) with the piece types the training gave them.
void read_sentencepiece_vocab(std::vector<std::string>& pieces, std::vector<float>& scores,
                              std::vector<int32_t>& types) {
  std::ifstream in(kDir + "/vocab_scores.tsv");
  REQUIRE(in);
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.rfind('\t');
    REQUIRE(tab != std::string::npos);
    std::string p = line.substr(0, tab);
    int64_t id = static_cast<int64_t>(pieces.size());
    int32_t type = 1;
    if (id <= 2) type = 3;  // <pad> <eos> <bos>: control
    else if (id == 3) type = 2;  // <unk>
    else if (id < kNumSpecialTokens) type = 4;  // user-defined symbols
    else if (p.size() == 6 && p.compare(0, 3, "<0x") == 0) type = 6;
    pieces.push_back(p);
    scores.push_back(std::stof(line.substr(tab + 1)));
    types.push_back(type);
  }
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }

// Writes `j` as dir/tokenizer.json and returns the message of the InputError reading it.
std::string error_for(const ScratchDir& dir, const json& j) {
  std::string path = dir / "tokenizer.json";
  write_file(path, j.dump());
  return input_error([&] { BpeTokenizer::from_tokenizer_json(path); });
}


TEST_CASE("tokenizer.json: Gemma layout encodes and decodes as HF tokenizers does", "[unit][tokenizer]") {
  BpeEncoder enc(read_tokenizer_json(kDir + "/tokenizer.json"), "fixture");
  REQUIRE(enc.size() == 1200);
  check_against_fixture(enc, kDir + "/encodings.jsonl", 400);
}

TEST_CASE("tokenizer.json: BPE options and added-token flags as HF tokenizers defines them", "[unit][tokenizer]") {
  // byte fallback with missing byte pieces, <unk> fused or not, ignore_merges, "a b" merges, the
  // Split behaviours, lstrip/rstrip/single_word/normalized added tokens, Strip/Prepend, no decoder.
  for (const char* name : {"tiny_bytes", "tiny_unk_fused", "tiny_unk_unfused", "tiny_ignore_merges",
                           "tiny_split_removed", "tiny_split_contiguous", "tiny_split_previous"}) {
    std::string base = kDir + "/" + name;
    BpeEncoder enc(read_tokenizer_json(base + ".json"), base + ".json");
    check_against_fixture(enc, base + ".jsonl", 40);
  }
}

TEST_CASE("tokenizer.json: a SentencePiece vocabulary converts to the same BPE", "[unit][tokenizer]") {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  read_sentencepiece_vocab(pieces, scores, types);
  BpeVocab converted = bpe_vocab_from_sentencepiece(pieces, scores, types, "vocab_scores.tsv");
  BpeVocab file = read_tokenizer_json(kDir + "/tokenizer.json");
  CHECK(converted.pieces == file.pieces);
  REQUIRE(converted.merges.size() == file.merges.size());
  CHECK(converted.merges == file.merges);
  CHECK(converted.unk_token == file.unk_token);
  CHECK(converted.byte_fallback == file.byte_fallback);
  CHECK(converted.fuse_unk == file.fuse_unk);
  REQUIRE(converted.added_tokens.size() == file.added_tokens.size());
  for (size_t i = 0; i < file.added_tokens.size(); ++i) {
    CHECK(converted.added_tokens[i].content == file.added_tokens[i].content);
    CHECK(converted.added_tokens[i].id == file.added_tokens[i].id);
    CHECK(converted.added_tokens[i].special == file.added_tokens[i].special);
    CHECK(converted.added_tokens[i].normalized == file.added_tokens[i].normalized);
  }
  // And it encodes every fixture string the same way.
  BpeEncoder enc(std::move(converted), "converted");
  check_against_fixture(enc, kDir + "/encodings.jsonl", 400);

  CHECK_THROWS_AS(bpe_vocab_from_sentencepiece({"a", "a"}, {0, 0}, {1, 1}, "dup"), g4u::InputError);
  CHECK_THROWS_AS(bpe_vocab_from_sentencepiece({"a"}, {0, 0}, {1}, "sizes"), g4u::InputError);
}

TEST_CASE("BpeTokenizer: the Tokenizer interface over tokenizer.json", "[unit][tokenizer]") {
  auto tok = BpeTokenizer::from_tokenizer_json(kDir + "/tokenizer.json");
  CHECK(tok->vocab_size() == 1200);
  for (int64_t i = 0; i < kNumSpecialTokens; ++i) {
    CHECK(tok->token_id(kSpecialTokens[i]) == i);
    CHECK(tok->is_special(i));
    CHECK(tok->piece(i) == kSpecialTokens[i]);
  }
  CHECK_FALSE(tok->token_id("the"));
  CHECK_FALSE(tok->is_special(*tok->encoder().piece_id("the")));
  CHECK(tok->piece(*tok->encoder().piece_id("<0x0A>")) == "<0x0A>");
  // Decoding passes invalid byte runs through (the interface's streaming contract) where HF
  // writes U+FFFD per byte.
  int64_t e6 = *tok->encoder().piece_id("<0xE6>"), x97 = *tok->encoder().piece_id("<0x97>");
  CHECK(tok->decode({e6, x97}) == "\xe6\x97");
  CHECK(tok->encoder().decode({e6, x97}, false) == "\xEF\xBF\xBD\xEF\xBF\xBD");
  const std::string chat = "<bos><|turn>user\nCafé 日本 😀 42<turn|>\n<|turn>model\n";
  CHECK(tok->decode(tok->encode(chat)) == chat);
  CHECK(tok->decode(tok->encode(chat), true) == "user\nCafé 日本 😀 42\nmodel\n");
  CHECK_THROWS_AS(tok->decode({1200}), g4u::InputError);
  CHECK_THROWS_AS(tok->piece(-1), g4u::InputError);
  expect_input_error([&] { tok->encode("ab\xff"); }, "UTF-8");
}

TEST_CASE("load_tokenizer: tokenizer.json is preferred over tokenizer.model", "[unit][tokenizer]") {
  ScratchDir dir("tokjson");
  ModelConfig c = *model_preset("tiny");
  c.tokenizer = "sentencepiece";
  c.text.vocab_size = 1200;
  expect_input_error([&] { load_tokenizer(c, dir.path); }, dir / "tokenizer.json");
  // A tokenizer.model that would fail to load is not even opened when tokenizer.json exists.
  write_file(dir / "tokenizer.model", "not a SentencePiece model");
  fs::copy_file(kDir + "/tokenizer.json", dir / "tokenizer.json");
  auto tok = load_tokenizer(c, dir.path);
  CHECK(tok->vocab_size() == 1200);
  CHECK(dynamic_cast<BpeTokenizer*>(tok.get()) != nullptr);
  // The model's markers must sit at the config's ids; the vocabulary must fit the embedding.
  c.tokens.image = 99;
  expect_input_error([&] { load_tokenizer(c, dir.path); }, "<|image|>");
  c = *model_preset("tiny");
  c.tokenizer = "sentencepiece";
  c.text.vocab_size = 1000;
  expect_input_error([&] { load_tokenizer(c, dir.path); }, "1200");
}

TEST_CASE("tokenizer.json: bad files are InputErrors naming the file and field", "[unit][tokenizer]") {
  ScratchDir dir("tokjson_bad");
  const json good = read_json(kDir + "/tiny_bytes.json");
  const std::string path = dir / "tokenizer.json";

  auto with = [&](auto edit) {
    json j = good;
    edit(j);
    return error_for(dir, j);
  };
  auto has = [&](const std::string& message, std::initializer_list<std::string> needles) {
    INFO(message);
    CHECK(message.find(path) != std::string::npos);
    for (const auto& n : needles) CHECK(message.find(n) != std::string::npos);
  };

  has(with([](json& j) { j["model"]["type"] = "Unigram"; }), {"model.type", "Unigram", "BPE"});
  has(with([](json& j) { j["model"]["type"] = "WordPiece"; }), {"WordPiece"});
  has(with([](json& j) { j["model"].erase("type"); }), {"model.type"});
  has(with([](json& j) { j.erase("model"); }), {"model", "missing"});
  has(with([](json& j) { j["model"].erase("vocab"); }), {"model.vocab", "missing"});
  has(with([](json& j) { j["model"].erase("merges"); }), {"model.merges", "missing"});
  has(with([](json& j) { j["model"]["merges"][3] = json::array({"a", "zz"}); }), {"model.merges[3]", "'zz'"});
  has(with([](json& j) { j["model"]["merges"][0] = "a q"; }), {"model.merges[0]", "'q'"});
  has(with([](json& j) { j["model"]["merges"][0] = "a b c"; }), {"model.merges[0]", "one space"});
  has(with([](json& j) { j["model"]["merges"][0] = json::array({"d", "a"}); }), {"merged piece", "'da'"});
  has(with([](json& j) { j["model"]["merges"][1] = 7; }), {"model.merges[1]"});
  has(with([](json& j) { j["model"]["vocab"]["zz"] = 5; }), {"model.vocab", "id 5"});
  has(with([](json& j) { j["model"]["vocab"]["zz"] = 400; }), {"model.vocab", "gaps"});
  has(with([](json& j) { j["model"]["vocab"]["zz"] = "x"; }), {"model.vocab"});
  has(with([](json& j) { j["model"]["dropout"] = 0.1; }), {"dropout"});
  has(with([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }), {"continuing_subword_prefix"});
  has(with([](json& j) { j["model"]["byte_fallback"] = "yes"; }), {"model.byte_fallback"});
  has(with([](json& j) { j["version"] = "2.0"; }), {"version"});
  has(with([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }), {"normalizer.type", "NFKC"});
  has(with([](json& j) {
        j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", "x"}};
      }),
      {"normalizer.pattern", "Regex"});
  has(with([](json& j) { j["normalizer"]["normalizers"][2].erase("content"); }),
      {"normalizer.normalizers[2].content", "missing"});
  has(with([](json& j) { j["pre_tokenizer"] = {{"type", "ByteLevel"}}; }), {"pre_tokenizer.type", "ByteLevel"});
  has(with([](json& j) {
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}};
      }),
      {"pre_tokenizer.behavior", "Sideways"});
  has(with([](json& j) { j["decoder"]["decoders"][1] = {{"type", "Metaspace"}}; }),
      {"decoder.decoders[1].type", "Metaspace"});
  has(with([](json& j) { j["added_tokens"][0].erase("content"); }), {"added_tokens[0].content", "missing"});
  has(with([](json& j) { j["added_tokens"][5]["id"] = 40; }), {"added_tokens[5]", "40"});
  has(with([](json& j) { j["added_tokens"] = 3; }), {"added_tokens"});

  // Not JSON, not UTF-8, not an object, not there.
  write_file(path, "{\"model\": {\"type\": \"BPE\",");
  has(input_error([&] { BpeTokenizer::from_tokenizer_json(path); }), {"invalid JSON"});
  std::string text = good.dump();
  text.replace(text.find("\"abcd\""), 6, "\"ab\xff\xfe\"");
  write_file(path, text);
  has(input_error([&] { BpeTokenizer::from_tokenizer_json(path); }), {"invalid JSON", "UTF-8"});
  write_file(path, "[1, 2]");
  has(input_error([&] { BpeTokenizer::from_tokenizer_json(path); }), {"object"});
  fs::remove(path);
  has(input_error([&] { BpeTokenizer::from_tokenizer_json(path); }), {"not found"});
}

TEST_CASE("g4u tokenize prints ids and pieces; a broken tokenizer.json exits 2", "[integration][cli]") {
  ScratchDir dir("tokjson_cli");
  fs::copy_file(kDir + "/tokenizer.json", dir / "tokenizer.json");
  json j = run_g4u_json("tokenize --model " + dir.path + " --text 'the model<|turn>Café' --json");
  BpeEncoder enc(read_tokenizer_json(kDir + "/tokenizer.json"), "fixture");
  std::vector<int64_t> want = enc.encode("the model<|turn>Café");
  CHECK(j["ids"].get<std::vector<int64_t>>() == want);
  REQUIRE(j["pieces"].size() == want.size());
  CHECK(j["pieces"][0] == "the");
  CHECK(j["tokenizer"] == "tokenizer.json");
  CHECK(j["decoded"] == "the model<|turn>Café");

  write_file(dir / "text.txt", "line one\n\tline two\n");
  auto f = run_g4u("tokenize --model " + dir.path + " --file " + (dir / "text.txt") + " --json");
  REQUIRE(f.code == 0);
  CHECK(json::parse(f.out)["ids"].get<std::vector<int64_t>>() == enc.encode("line one\n\tline two\n"));

  auto human = run_g4u("tokenize --model " + dir.path + " --text 'the'");
  CHECK(human.code == 0);
  CHECK(human.err.find("the") != std::string::npos);

  json bad = read_json(kDir + "/tokenizer.json");
  bad["model"]["type"] = "WordLevel";
  write_file(dir / "tokenizer.json", bad.dump());
  auto b = run_g4u("tokenize --model " + dir.path + " --text x");
  CHECK(b.code == 2);
  CHECK(b.err.find("tokenizer.json") != std::string::npos);
  CHECK(b.err.find("WordLevel") != std::string::npos);
  auto none = run_g4u("tokenize --model " + dir.path + "/missing --text x");
  CHECK(none.code == 2);
}

}  // namespace tokenizer_json_test
