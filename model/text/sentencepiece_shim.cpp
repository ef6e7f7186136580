// C API over libsentencepiece, built as its own shared library and dlopen'ed with RTLD_DEEPBIND
// (see model/CMakeLists.txt for why). Strings returned through `out` are malloc'ed; the caller frees
// them with g4u_spm_free.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
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
}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* g4u_spm_load(const char* path, char** error) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  auto st = p->Load(path);
  if (!st.ok()) {
    *error = dup(st.ToString());
    delete p;
    return nullptr;
  }
  return p;
}

__attribute__((visibility("default"))) void g4u_spm_free_processor(void* h) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(h);
}

__attribute__((visibility("default"))) void g4u_spm_free(void* p) { std::free(p); }

// Returns the number of ids; *ids is malloc'ed.
__attribute__((visibility("default"))) long g4u_spm_encode(void* h, const char* text, size_t len, int** ids) {
  std::vector<int> out;
  static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(std::string(text, len), &out);
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.size() + 1)));
  std::memcpy(*ids, out.data(), sizeof(int) * out.size());
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
