// g4u tokenize: the token ids and pieces of a text under a model's tokenizer (tokenizer.json,
// tokenizer.model or the built-in byte tokenizer), as the model would see it. Adds no <bos>.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "base/error.h"
#include "base/json_util.h"
#include "eval/results/sample_log.h"
#include "model/text/tokenizer.h"

#include <fmt/format.h>

#include <filesystem>

namespace g4u::app {
namespace {

namespace fs = std::filesystem;

// --model: a preset, a checkpoint directory (its config.json says which tokenizer), a directory
// holding only tokenizer files, or a tokenizer.json / tokenizer.model file. Sets *source to what
// was read.
std::unique_ptr<model::Tokenizer> tokenizer_for(const std::string& name, std::string* source) {
  if (fs::is_regular_file(name)) {
    *source = fs::path(name).filename().string();
    if (fs::path(name).extension() == ".json") return model::BpeTokenizer::from_tokenizer_json(name);
    return std::make_unique<model::SentencePieceTokenizer>(name);
  }
  if (model::model_preset(name) || fs::is_regular_file(fs::path(name) / "config.json")) {
    model::ModelConfig c = resolve_model_config(name);
    const bool dir = is_model_dir(name);
    if (c.tokenizer == "byte") *source = "byte";
    else *source = dir && fs::is_regular_file(fs::path(name) / "tokenizer.json") ? "tokenizer.json" : "tokenizer.model";
    return model::load_tokenizer(c, dir ? name : "");
  }
  if (is_model_dir(name)) {
    if (fs::is_regular_file(fs::path(name) / "tokenizer.json")) {
      *source = "tokenizer.json";
      return model::BpeTokenizer::from_tokenizer_json((fs::path(name) / "tokenizer.json").string());
    }
    if (fs::is_regular_file(fs::path(name) / "tokenizer.model")) {
      *source = "tokenizer.model";
      return std::make_unique<model::SentencePieceTokenizer>((fs::path(name) / "tokenizer.model").string());
    }
    throw_input("--model {}: the directory has no config.json, tokenizer.json or tokenizer.model", name);
  }
  resolve_model_config(name);  // throws, listing the presets
  throw_input("--model {}: not found", name);
}

Command tokenize_cmd("tokenize", "Token ids and pieces of a text under a model's tokenizer", [](CLI::App& sub) {
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  sub.add_option("--model", *model, "Preset, checkpoint directory, or tokenizer.json / tokenizer.model file")
      ->required();
  auto* text_opt = sub.add_option("--text", *text, "Text to tokenize (special-token spellings become their ids)");
  auto* file_opt = sub.add_option("--file", *file, "Read the text from this file (UTF-8, as is)");
  text_opt->excludes(file_opt);
  sub.add_flag("--json", *json, "Print JSON on stdout");
  return [=]() -> int {
    if (text_opt->count() == 0 && file_opt->count() == 0) throw_input("tokenize: give --text or --file");
    std::string input = file_opt->count() ? read_text_file(*file) : *text;
    std::string source;
    auto tok = tokenizer_for(*model, &source);
    std::vector<int64_t> ids = tok->encode(input);
    std::vector<std::string> pieces;
    pieces.reserve(ids.size());
    for (int64_t id : ids) pieces.push_back(tok->piece(id));
    // Byte pieces that end mid-character decode to bytes that are not UTF-8; JSON gets U+FFFD.
    const std::string decoded = runner::sanitize_utf8(tok->decode(ids));
    if (*json) {
      nlohmann::json special = nlohmann::json::array();
      for (int64_t id : ids) special.push_back(tok->is_special(id));
      print_json({{"model", *model},
                  {"tokenizer", source},
                  {"vocab_size", tok->vocab_size()},
                  {"n_tokens", ids.size()},
                  {"ids", ids},
                  {"pieces", pieces},
                  {"special", special},
                  {"decoded", decoded}});
    } else {
      fmt::print(stderr, "{} tokens ({}, vocabulary {})\n", ids.size(), source, tok->vocab_size());
      for (size_t i = 0; i < ids.size(); ++i)
        fmt::print(stderr, "{:>8}  {}{}\n", ids[i], nlohmann::json(pieces[i]).dump(),
                   tok->is_special(ids[i]) ? "  (special)" : "");
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
