// C API over libsentencepiece, built as its own shared library and dlopen'ed with RTLD_DEEPBIND
// (see model/CMakeLists.txt for why). Strings returned through `out` are malloc'ed; the caller frees
// them with g4u_spm_free.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string_view>
#include <string>
#include <unordered_map>
#include <vector>

// Exported by libsentencepiece but not declared in its public headers.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}  // namespace sentencepiece::logging

namespace {
char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  return p;
}
// Lines of a text file, without their "\n".
class FileLines : public sentencepiece::SentenceIterator {
 public:
  explicit FileLines(const char* path) : in_(path, std::ios::binary) {
    if (!in_) {
      status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound,
                                            std::string("cannot open ") + path);
      done_ = true;
    } else {
      Next();
    }
  }
  bool done() const override { return done_; }
  void Next() override {
    if (!std::getline(in_, line_)) done_ = true;
  }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return status_; }

 private:
  std::ifstream in_;
  std::string line_;
  bool done_ = false;
  sentencepiece::util::Status status_;
};

// Loading a malformed model can throw (darts-clone throws Darts::Details::Exception, e.g. for a
// unigram piece that starts with a NUL byte, found by the tokenizer_model fuzz target): every
// exception becomes an error here, as no C++ exception is meant to cross this C API.
template <typename LoadFn>
void* load_processor(LoadFn&& load, char** error) {
  std::unique_ptr<sentencepiece::SentencePieceProcessor> p;
  try {
    p = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto st = load(*p);
    if (!st.ok()) {
      *error = dup(st.ToString());
      return nullptr;
    }
  } catch (const std::exception& e) {
    *error = dup(std::string("libsentencepiece failed: ") + e.what());
    return nullptr;
  } catch (...) {
    *error = dup("libsentencepiece failed with an unknown exception");
    return nullptr;
  }
  return p.release();
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* g4u_spm_load(const char* path, char** error) {
  return load_processor([&](sentencepiece::SentencePieceProcessor& p) { return p.Load(path); }, error);
}

// The model from its serialized bytes (what g4u read from the file and checked).
__attribute__((visibility("default"))) void* g4u_spm_load_bytes(const char* data, size_t len,
                                                                char** error) {
  return load_processor(
      [&](sentencepiece::SentencePieceProcessor& p) {
        return p.LoadFromSerializedProto(std::string_view(data, len));
      },
      error);
}

__attribute__((visibility("default"))) void g4u_spm_free_processor(void* h) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(h);
}

__attribute__((visibility("default"))) void g4u_spm_free(void* p) { std::free(p); }

// Returns the number of ids; *ids is malloc'ed. -1 (and *ids null) if libsentencepiece failed.
__attribute__((visibility("default"))) long g4u_spm_encode(void* h, const char* text, size_t len, int** ids) {
  *ids = nullptr;
  std::vector<int> out;
  try {
    auto st = static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(std::string(text, len), &out);
    if (!st.ok()) return -1;
  } catch (...) {
    return -1;
  }
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.size() + 1)));
  // Text can encode to no ids (a normalization rule that deletes it); out.data() may then be null,
  // which memcpy must not get (found by the tokenizer_model fuzz target under UBSan).
  if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  return static_cast<long>(out.size());
}

__attribute__((visibility("default"))) char* g4u_spm_decode(void* h, const int* ids, size_t n) {
  std::string text;
  static_cast<sentencepiece::SentencePieceProcessor*>(h)->Decode(std::vector<int>(ids, ids + n), &text);
  return dup(text);
}

__attribute__((visibility("default"))) int g4u_spm_vocab_size(void* h) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize();
}

__attribute__((visibility("default"))) char* g4u_spm_id_to_piece(void* h, int id) {
  return dup(static_cast<sentencepiece::SentencePieceProcessor*>(h)->IdToPiece(id));
}

__attribute__((visibility("default"))) int g4u_spm_piece_to_id(void* h, const char* piece) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->PieceToId(piece);
}

__attribute__((visibility("default"))) int g4u_spm_is_control(void* h, int id) {
  auto* p = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  return p->IsControl(id) || p->IsUnknown(id);
}

// args: SentencePieceTrainer command-line style ("--input=... --model_prefix=...").
__attribute__((visibility("default"))) int g4u_spm_train(const char* args, char** error) {
  auto st = sentencepiece::SentencePieceTrainer::Train(args);
  if (!st.ok()) {
    *error = dup(st.ToString());
    return 1;
  }
  return 0;
}

// Piece type as in sentencepiece_model.proto, as far as the public API tells it:
// 1 normal (or user-defined), 2 unknown, 3 control, 5 unused, 6 byte.
__attribute__((visibility("default"))) int g4u_spm_piece_type(void* h, int id) {
  auto* p = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  if (p->IsUnknown(id)) return 2;
  if (p->IsControl(id)) return 3;
  if (p->IsUnused(id)) return 5;
  if (p->IsByte(id)) return 6;
  return 1;
}

// Seed of the trainer's random generator (sentence sampling and shuffling).
__attribute__((visibility("default"))) void g4u_spm_set_seed(unsigned seed) {
  sentencepiece::SetRandomGeneratorSeed(seed);
}

// 0 info, 1 warning, 2 error: messages below the level are not printed.
__attribute__((visibility("default"))) void g4u_spm_set_min_log_level(int level) {
  sentencepiece::logging::SetMinLogLevel(level);
}

// Trains on the lines of `corpus_path` and returns the serialized model in *model (malloc'ed,
// *model_len bytes) instead of writing files, so the caller decides where and how it is written
// and no output path ends up inside the model. Returns 0 on success.
__attribute__((visibility("default"))) int g4u_spm_train_to_bytes(const char* const* keys,
                                                                  const char* const* values, int n,
                                                                  const char* corpus_path,
                                                                  char** model, size_t* model_len,
                                                                  char** error) {
  std::unordered_map<std::string, std::string> kwargs;
  for (int i = 0; i < n; ++i) kwargs[keys[i]] = values[i];
  FileLines lines(corpus_path);
  std::string bytes;
  auto st = sentencepiece::SentencePieceTrainer::Train(kwargs, &lines, &bytes);
  if (st.ok() && !lines.status().ok()) st = lines.status();
  if (!st.ok()) {
    *error = dup(st.ToString());
    return 1;
  }
  *model = static_cast<char*>(std::malloc(bytes.size() + 1));
  std::memcpy(*model, bytes.data(), bytes.size());
  *model_len = bytes.size();
  return 0;
}
}
