// g4u normalize: applies a text normalizer to each line of stdin and prints one normalized line per
// input line, byte for byte what the Python reference returns (leading/trailing spaces included).
#include "apps/command.h"
#include "eval/text_normalize.h"
#include "eval/unicode.h"
#include "base/error.h"

#include <cstdio>
#include <iostream>
#include <string>

namespace g4u::app {
namespace {

Command normalize_cmd(
    "normalize", "Normalize UTF-8 lines from stdin (whisper-en, whisper-basic, vqa)", [](CLI::App& sub) {
      auto name = std::make_shared<std::string>();
      auto spellings = std::make_shared<std::string>();
      sub.add_option("--normalizer", *name, "Normalizer: " + eval::normalizer_names())->required();
      sub.add_option("--spellings", *spellings,
                     "UK->US spelling map for whisper-en (default: $G4U_SPELLINGS, then "
                     "../shared/data/whisper_english_spellings.json above the working directory or the binary)");
      return [name, spellings]() -> int {
        eval::NormalizerOptions opt;
        opt.spellings_path = *spellings;
        eval::NormalizeFn fn = eval::make_normalizer(*name, opt);
        std::string line, out;
        size_t lineno = 0;
        while (std::getline(std::cin, line)) {
          ++lineno;
          if (!line.empty() && line.back() == '\r') line.pop_back();
          eval::U32 text = eval::utf8_decode_or_throw(line, "stdin:" + std::to_string(lineno));
          out = eval::utf8_encode(fn(text));
          out.push_back('\n');
          std::fwrite(out.data(), 1, out.size(), stdout);
        }
        std::fflush(stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace g4u::app
