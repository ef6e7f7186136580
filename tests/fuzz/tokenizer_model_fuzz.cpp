// A SentencePiece `tokenizer.model` (model/text/tokenizer.h) loaded as a model folder's tokenizer:
// handed to libsentencepiece through the g4u_sentencepiece shim, its pieces classified (normal,
// byte, special), then used on text with special-token spellings, whitespace, CJK, emoji and digits.
// Every id it produces is inside the vocabulary, has a piece and a kind, and decodes; every special
// spelling it knows maps back to itself.
//
// This executable links no LibTorch (tests/fuzz/CMakeLists.txt builds the tokenizer sources into a
// torch-free library for it), so it loads the shim without RTLD_DEEPBIND, which ASan refuses: with
// no second protobuf in the process there is nothing to keep apart.
//
// libsentencepiece is not instrumented, so the fuzzer sees no coverage inside it; what it does see
// is g4u's own check of the file before libsentencepiece gets it (check_spm_model in tokenizer.cpp),
// so the seeds include what that check walks: normalization rules (a precompiled_charsmap) and a
// unigram model. Seeds: two vocabularies trained by train_sentencepiece (BPE, byte fallback, as
// g4u trains them), and a BPE and a unigram model with a few normalization rules, trained through
// the shim directly (train_sentencepiece takes no such options). Several regression inputs were
// written by hand from libsentencepiece's source, the fuzzer being blind inside it.
#include "model/text/special_tokens.h"
#include "model/text/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace g4u;

namespace {

// A small corpus in the style of the tokenizer tests: words, digits and chat-turn markers.
// Non-ASCII words only when `unicode` (each distinct character takes a piece of the vocabulary).
std::string make_corpus(int lines, bool unicode) {
  static const char* const kWords[] = {"the",  "model", "reads", "a",  "token", "and",  "then",
                                       "writes", "text", "\tx",   "  y", "zz",   "über", "naïve",
                                       "你好", "世界",   "😀",    "café"};
  const size_t num_words = unicode ? std::size(kWords) : 12;
  uint64_t s = 12345;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  };
  std::string out;
  for (int l = 0; l < lines; ++l) {
    if (l % 7 == 0) out += "<|turn>user\n";
    const int n = 4 + next() % 10;
    for (int w = 0; w < n; ++w) {
      if (w) out += ' ';
      out += kWords[next() % num_words];
    }
    out += " " + std::to_string(next() % 1000) + ".";
    if (l % 7 == 0) out += "<turn|>";
    out += '\n';
  }
  return out;
}

// Trains a model through the shim's C API with any libsentencepiece options and makes it a seed.
void train_seed_with_shim(const std::vector<std::pair<std::string, std::string>>& flags,
                          const std::string& corpus, const std::string& name) {
  void* lib = ::dlopen(G4U_SENTENCEPIECE_SHIM, RTLD_NOW | RTLD_LOCAL);  // kept loaded
  if (lib == nullptr) throw std::runtime_error(std::string("fuzz: cannot load the shim: ") + ::dlerror());
  using TrainFn = int (*)(const char* const*, const char* const*, int, const char*, char**, size_t*, char**);
  auto train = reinterpret_cast<TrainFn>(::dlsym(lib, "g4u_spm_train_to_bytes"));
  auto free_mem = reinterpret_cast<void (*)(void*)>(::dlsym(lib, "g4u_spm_free"));
  auto set_log_level = reinterpret_cast<void (*)(int)>(::dlsym(lib, "g4u_spm_set_min_log_level"));
  if (!train || !free_mem || !set_log_level) throw std::runtime_error("fuzz: the shim lacks functions");
  set_log_level(3);
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  char* model = nullptr;
  size_t len = 0;
  char* err = nullptr;
  if (train(keys.data(), values.data(), static_cast<int>(keys.size()), corpus.c_str(), &model, &len, &err) != 0) {
    const std::string why = err ? err : "?";
    free_mem(err);
    throw std::runtime_error("fuzz: training the seed " + name + " failed: " + why);
  }
  fuzz::write_seed(std::string_view(model, len), name);
  free_mem(model);
}

void check_ids(const model::SentencePieceTokenizer& tok, const std::vector<int64_t>& ids) {
  for (int64_t id : ids) {
    if (id < 0 || id >= tok.vocab_size()) std::abort();
    tok.piece(id);
    tok.is_special(id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::writing_seeds()) return 0;
  const std::string dir = fuzz::scratch_dir();
  // A small vocabulary (32 specials + 256 bytes + ASCII characters and a few merges) and a larger
  // one with non-ASCII characters and more merges.
  for (const auto& [vocab, unicode] : {std::pair<int64_t, bool>{320, false}, {400, true}}) {
    const std::string name = "trained_" + std::to_string(vocab) + ".model";
    const std::string corpus = dir + "/corpus_" + std::to_string(vocab) + ".txt";
    {
      std::ofstream out(corpus, std::ios::binary | std::ios::trunc);
      out << make_corpus(2000, unicode);
    }
    model::train_sentencepiece(corpus, vocab, dir + "/" + name, 7);
    fuzz::copy_seed(dir + "/" + name, name);
  }
  // Normalization rules (code points -> code points): A -> a, fullwidth letters, a ligature, a
  // circled digit, a two-character rule. They make a small precompiled_charsmap.
  {
    std::ofstream out(dir + "/rules.tsv", std::ios::binary | std::ios::trunc);
    out << "41\t61\n42\t62\nFF21\t61\nFF22\t62\nFB01\t66 69\n2460\t31\n41 42\t78\n";
  }
  for (const std::string type : {"bpe", "unigram"}) {
    train_seed_with_shim({{"model_type", type},
                          {"vocab_size", "80"},
                          {"hard_vocab_limit", "false"},
                          {"normalization_rule_tsv", dir + "/rules.tsv"},
                          {"user_defined_symbols", "<|turn>,<turn|>"},
                          {"num_threads", "1"}},
                         dir + "/corpus_320.txt", "rules_" + type + ".model");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "tokenizer.model");
  fuzz::expect_clean_errors([&] {
    model::SentencePieceTokenizer tok(path);
    if (tok.vocab_size() <= 0) std::abort();
    for (std::string_view text :
         {"Hello world", "<bos><|turn>user\nHi there<turn|>\n<|turn>model\n", "a  b\n\n\tc<eos>",
          "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 caf\xc3\xa9", "0123456789 3.14159 -42",
          "<unused3><0x0A>\xe2\x96\x81x", "\xff\xfe bad utf-8 \xc3", "AB\xef\xbc\xa1\xef\xac\x81\xe2\x91\xa0",
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa                                        ", ""}) {
      const std::vector<int64_t> ids = tok.encode(text);
      check_ids(tok, ids);
      tok.decode(ids);
      tok.decode(ids, /*skip_special=*/true);
    }
    // Special spellings: one the vocabulary knows is a special token, spelled by its own piece, and
    // encodes (alone) to its id.
    for (std::string_view special : model::kSpecialTokens) {
      const std::optional<int64_t> id = tok.token_id(special);
      if (!id) continue;
      if (*id < 0 || *id >= tok.vocab_size() || !tok.is_special(*id) || tok.piece(*id) != special)
        std::abort();
      const std::vector<int64_t> ids = tok.encode(special);
      if (ids.size() != 1 || ids[0] != *id) std::abort();
      if (tok.decode(ids) != special || !tok.decode(ids, /*skip_special=*/true).empty()) std::abort();
    }
    // Every piece is readable.
    const int64_t n = std::min<int64_t>(tok.vocab_size(), 4096);
    for (int64_t id = 0; id < n; ++id) {
      tok.piece(id);
      tok.is_special(id);
    }
    // Ids outside the vocabulary are refused, not read.
    for (int64_t bad : {int64_t{-1}, tok.vocab_size()}) {
      try {
        tok.decode({bad});
        std::abort();
      } catch (const InputError&) {
      }
    }
  });
  return 0;
}
