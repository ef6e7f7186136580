// An HF tokenizer.json (model/text/tokenizer_json.h) loaded as a model folder's tokenizer: parsed,
// built into a BPE tokenizer, then used on text with special tokens, whitespace, CJK and emoji.
// Every id it produces is inside the vocabulary and decodes.
#include "model/text/tokenizer.h"
#include "model/text/tokenizer_json.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "tokenizer.json");
  fuzz::expect_clean_errors([&] {
    model::BpeTokenizer tok(model::read_tokenizer_json(path), path);
    for (std::string_view text : {"Hello world", "<bos>a  b\n\n\tc<eos>", "\xe4\xbd\xa0\xe5\xa5\xbd 123 \xf0\x9f\x98\x80", ""}) {
      const std::vector<int64_t> ids = tok.encode(text);
      for (int64_t id : ids) {
        if (id < 0 || id >= tok.vocab_size()) std::abort();
        tok.piece(id);
      }
      tok.decode(ids);
      tok.decode(ids, /*skip_special=*/true);
    }
  });
  return 0;
}
