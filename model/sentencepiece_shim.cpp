// C API over libsentencepiece, built as its own shared library and dlopen'ed with RTLD_DEEPBIND
// (see model/CMakeLists.txt for why). Strings returned through `out` are malloc'ed; the caller frees
// them with g4u_spm_free.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  return p;
}
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
}
