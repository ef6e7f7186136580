#include "model/text/tokenizer.h"

#include "base/error.h"
#include "model/text/bpe.h"
#include "model/text/special_tokens.h"
#include "model/text/tokenizer_json.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <unordered_map>

namespace g4u::model {
// Named, not anonymous: the Impl structs below hold these types as members.
namespace tokenizer_detail {

// ---- special-token spellings in text ---------------------------------------------------------

// Finds special-token spellings in text, longest match first.
class SpecialTable {
 public:
  void add(std::string name, int64_t id) {
    if (name.empty()) return;
    first_bytes_[static_cast<unsigned char>(name[0])] = true;
    if (std::find(lengths_.begin(), lengths_.end(), name.size()) == lengths_.end()) {
      lengths_.push_back(name.size());
      std::sort(lengths_.rbegin(), lengths_.rend());
    }
    ids_.emplace(std::move(name), id);
  }

  std::optional<int64_t> find(std::string_view name) const {
    auto it = ids_.find(std::string(name));
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }

  // Calls text_fn(string_view) for each run of ordinary text and special_fn(id) for each special
  // token, in order.
  template <typename TextFn, typename SpecialFn>
  void split(std::string_view text, TextFn&& text_fn, SpecialFn&& special_fn) const {
    size_t start = 0;  // start of the pending ordinary run
    size_t i = 0;
    std::string key;
    while (i < text.size()) {
      if (first_bytes_[static_cast<unsigned char>(text[i])]) {
        bool matched = false;
        for (size_t len : lengths_) {
          if (len > text.size() - i) continue;
          key.assign(text.data() + i, len);
          auto it = ids_.find(key);
          if (it == ids_.end()) continue;
          if (i > start) text_fn(text.substr(start, i - start));
          special_fn(it->second);
          i += len;
          start = i;
          matched = true;
          break;
        }
        if (matched) continue;
      }
      ++i;
    }
    if (start < text.size()) text_fn(text.substr(start));
  }

 private:
  std::unordered_map<std::string, int64_t> ids_;
  std::vector<size_t> lengths_;  // distinct lengths, longest first
  std::array<bool, 256> first_bytes_{};
};

void check_id(int64_t id, int64_t vocab_size) {
  if (id < 0 || id >= vocab_size)
    throw_input("token id {} is outside the vocabulary [0, {})", id, vocab_size);
}

std::string byte_piece(unsigned char b) { return fmt::format("<0x{:02X}>", b); }

// "<unusedN>" with N a decimal number.
bool is_unused_spelling(std::string_view s) {
  constexpr std::string_view kPrefix = "<unused";
  if (s.size() <= kPrefix.size() + 1 || s.substr(0, kPrefix.size()) != kPrefix || s.back() != '>')
    return false;
  for (size_t i = kPrefix.size(); i + 1 < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// ---- the g4u_sentencepiece shim, loaded once ---------------------------------------------------

struct SpmApi {
  void* (*load_bytes)(const char*, size_t, char**) = nullptr;
  void (*free_processor)(void*) = nullptr;
  void (*free_mem)(void*) = nullptr;
  long (*encode)(void*, const char*, size_t, int**) = nullptr;
  int (*vocab_size)(void*) = nullptr;
  char* (*id_to_piece)(void*, int) = nullptr;
  int (*piece_type)(void*, int) = nullptr;
  void (*set_seed)(unsigned) = nullptr;
  void (*set_min_log_level)(int) = nullptr;
  int (*train_to_bytes)(const char* const*, const char* const*, int, const char*, char**, size_t*,
                        char**) = nullptr;
};

std::string take_string(const SpmApi& api, char* s) {
  if (s == nullptr) return {};
  std::string out(s);
  api.free_mem(s);
  return out;
}

// The shim's path: $G4U_SENTENCEPIECE_SHIM, else the one built with g4u.
std::string shim_path() {
  const char* env = std::getenv("G4U_SENTENCEPIECE_SHIM");
  if (env != nullptr && *env != 0) return env;
#ifdef G4U_SENTENCEPIECE_SHIM
  return G4U_SENTENCEPIECE_SHIM;
#else
  return "libg4u_sentencepiece.so";
#endif
}

const SpmApi& spm_api() {
  static std::once_flag once;
  static SpmApi api;
  static std::string error;
  static bool asan_build = false;
  std::call_once(once, [] {
    std::string path = shim_path();
    // RTLD_DEEPBIND keeps libsentencepiece's protobuf symbols away from LibTorch's (without it the
    // two protobuf versions meet and loading fails). AddressSanitizer refuses RTLD_DEEPBIND, so an
    // ASan build (the asan preset; GCC defines __SANITIZE_ADDRESS__, clang answers __has_feature)
    // cannot load SentencePiece models and says so.
    //
    // G4U_SPM_NO_DEEPBIND is defined only where this file is compiled into a process without
    // LibTorch (the tokenizer_model fuzz target, tests/fuzz/CMakeLists.txt): with no second protobuf
    // in the process plain RTLD_NOW | RTLD_LOCAL is safe, and ASan accepts it.
#ifdef G4U_SPM_NO_DEEPBIND
    const int flags = RTLD_NOW | RTLD_LOCAL;
#else
    const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define G4U_ASAN_BUILD 1
#endif
#endif
#if (defined(__SANITIZE_ADDRESS__) || defined(G4U_ASAN_BUILD)) && !defined(G4U_SPM_NO_DEEPBIND)
    error = "this is an AddressSanitizer build, which cannot load SentencePiece models (the shim needs "
            "dlopen(RTLD_DEEPBIND), which ASan refuses); use a build of the ci or release preset";
    asan_build = true;
    return;
#endif
    void* lib = ::dlopen(path.c_str(), flags);
    if (lib == nullptr) {
      const char* why = ::dlerror();
      error = fmt::format(
          "cannot load the SentencePiece shim library '{}' ({}); build the g4u_sentencepiece "
          "target or point G4U_SENTENCEPIECE_SHIM at libg4u_sentencepiece.so",
          path, why ? why : "unknown error");
      return;
    }
    std::string missing;
    auto sym = [&](auto& fn, const char* name) {
      void* p = ::dlsym(lib, name);
      if (p == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    };
    SpmApi a;
    sym(a.load_bytes, "g4u_spm_load_bytes");
    sym(a.free_processor, "g4u_spm_free_processor");
    sym(a.free_mem, "g4u_spm_free");
    sym(a.encode, "g4u_spm_encode");
    sym(a.vocab_size, "g4u_spm_vocab_size");
    sym(a.id_to_piece, "g4u_spm_id_to_piece");
    sym(a.piece_type, "g4u_spm_piece_type");
    sym(a.set_seed, "g4u_spm_set_seed");
    sym(a.set_min_log_level, "g4u_spm_set_min_log_level");
    sym(a.train_to_bytes, "g4u_spm_train_to_bytes");
    if (!missing.empty()) {
      error = fmt::format("SentencePiece shim '{}' lacks functions: {} (stale build?)", path, missing);
      return;
    }
    // Under RTLD_DEEPBIND libsentencepiece binds std::cerr to libstdc++'s own copy, which is never
    // constructed when the executable has its own (copy-relocated) std::cerr: any log line it
    // writes crashes the process. So it logs nothing below FATAL; errors come back as statuses.
    // (Kept without RTLD_DEEPBIND too: the same quiet library, and statuses, in every build.)
    a.set_min_log_level(3);
    api = a;
  });
  if (asan_build) throw InputError(error);
  if (!error.empty()) throw InternalError(error);
  return api;
}

// ---- checks of a tokenizer.model before libsentencepiece sees it ------------------------------
//
// libsentencepiece (0.1.97, Debian 12) trusts parts of a model file that a crafted file can make
// it misuse, and g4u loads tokenizer.model files from anywhere. Found while writing the
// tokenizer_model fuzz target (tests/fuzz; each is one of its regression inputs):
//   - normalizer_spec / denormalizer_spec.precompiled_charsmap is a darts-clone double array that
//     it walks without bounds checks, takes string offsets from, and whose matches it copies into
//     a 32-entry stack array without checking the count: garbage there reads out of bounds (SEGV).
//     Its header check is also off by up to 3 bytes.
//   - building the double array of a unigram model recurses once per byte of a piece: a piece of
//     ~200 KB overflows the stack.
// (Exceptions it throws for malformed pieces are caught in the shim.) So g4u reads the protobuf
// wire format of ModelProto itself, just far enough to check those parts, and refuses the file
// otherwise. Everything it refuses is something no trainer writes.

constexpr size_t kMaxModelFileBytes = size_t{1} << 30;   // protobuf refuses 2 GB anyway
constexpr size_t kMaxPieceBytes = 16 * 1024;               // real pieces: tens of bytes
constexpr size_t kMaxCharsmapBytes = size_t{16} << 20;     // nmt_nfkc's: ~240 KB
constexpr int kMaxCharsmapMatches = 32;  // Normalizer::kMaxTrieResultsSize of libsentencepiece

// Protobuf wire format, read strictly: what it accepts, protobuf parses field for field the same
// way (groups and wire types 6/7, which no SentencePiece model has, are refused).
class WireReader {
 public:
  struct Field {
    uint32_t number = 0;
    uint32_t wire_type = 0;
    std::string_view bytes;  // wire type 2
  };

  WireReader(std::string_view data, const std::string& where) : p_(data.data()), end_(p_ + data.size()), where_(where) {}

  // The next field, or false at the end of the data.
  bool next(Field* f) {
    if (p_ == end_) return false;
    const uint64_t key = varint();
    f->number = static_cast<uint32_t>(key >> 3);
    f->wire_type = static_cast<uint32_t>(key & 7);
    if (f->number == 0 || key >> 32 != 0) bad("field number out of range");
    switch (f->wire_type) {
      case 0:
        varint();
        break;
      case 1:
        skip(8);
        break;
      case 5:
        skip(4);
        break;
      case 2: {
        const uint64_t n = varint();
        if (n > static_cast<uint64_t>(end_ - p_)) bad("length-delimited field runs past the end");
        f->bytes = std::string_view(p_, static_cast<size_t>(n));
        p_ += n;
        break;
      }
      default:
        bad(fmt::format("unsupported protobuf wire type {}", f->wire_type));
    }
    return true;
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) bad("truncated varint");
      const auto b = static_cast<unsigned char>(*p_++);
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    bad("varint longer than 10 bytes");
  }
  void skip(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("truncated fixed-size field");
    p_ += n;
  }
  [[noreturn]] void bad(const std::string& why) const {
    throw_input("{}: not a valid SentencePiece model: {}", where_, why);
  }

  const char* p_;
  const char* end_;
  const std::string& where_;
};

// precompiled_charsmap: <uint32 trie size><double array of uint32 units><NUL-separated strings>.
// The double array is walked the way darts-clone's commonPrefixSearch walks it for any input
// bytes: every unit it can read must be inside the array, every value it can return must be an
// offset into the strings, no input may match more than kMaxCharsmapMatches prefixes, and (so
// that the last holds for inputs of any length) no walk may come back to a node.
void check_charsmap(std::string_view blob, const std::string& where, const char* spec) {
  if (blob.empty()) return;  // no normalization rule
  auto bad = [&](const std::string& why) {
    throw_input("{}: not a valid SentencePiece model: {}.precompiled_charsmap {}", where, spec, why);
  };
  if (blob.size() > kMaxCharsmapBytes)
    bad(fmt::format("has {} bytes (at most {} accepted)", blob.size(), kMaxCharsmapBytes));
  uint32_t trie_bytes = 0;
  if (blob.size() < sizeof(trie_bytes)) bad("is shorter than its header");
  std::memcpy(&trie_bytes, blob.data(), sizeof(trie_bytes));  // little-endian, as x86 and arm64
  if (trie_bytes > blob.size() - sizeof(trie_bytes)) bad("has a double array larger than itself");
  const size_t n = trie_bytes / 4;
  const char* units_at = blob.data() + sizeof(trie_bytes);
  const size_t strings_size = blob.size() - sizeof(trie_bytes) - trie_bytes;
  if (n == 0) bad("has an empty double array");
  auto unit = [&](size_t i) {
    uint32_t u;
    std::memcpy(&u, units_at + 4 * i, 4);
    return u;
  };
  // darts-clone's DoubleArrayUnit.
  auto has_leaf = [](uint32_t u) { return ((u >> 8) & 1) == 1; };
  auto value = [](uint32_t u) { return u & ((1u << 31) - 1); };
  auto label = [](uint32_t u) { return u & ((1u << 31) | 0xFF); };
  auto offset = [](uint32_t u) -> size_t { return size_t{u >> 10} << ((u & (1u << 9)) >> 6); };

  // Depth-first (no recursion) over the nodes a walk can reach; a node is the position a walk is at
  // after a matched byte. most[p]: the most prefixes a walk from p can match (final once p is done).
  enum : uint8_t { kNew, kOnPath, kDone };
  std::vector<uint8_t> state(n, kNew);
  std::vector<uint8_t> most(n, 0);
  struct Frame {
    size_t pos;
    int next_byte;  // the next input byte to try from pos
  };
  std::vector<Frame> stack;
  const size_t root = offset(unit(0));
  auto enter = [&](size_t pos) {
    // A walk at pos reads the units pos ^ b for every byte b: all of them must be in the array.
    if ((pos | 0xFF) >= n) bad("reads units outside its double array");
    state[pos] = kOnPath;
    stack.push_back({pos, 0});
  };
  enter(root);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next_byte == 256) {
      state[f.pos] = kDone;
      stack.pop_back();
      continue;
    }
    const int b = f.next_byte++;
    const uint32_t u = unit(f.pos ^ static_cast<size_t>(b));
    if (label(u) != static_cast<uint32_t>(b)) continue;  // the walk stops there
    const size_t child = (f.pos ^ static_cast<size_t>(b)) ^ offset(u);
    if (child >= n) bad("reads units outside its double array");
    const int leaf = has_leaf(u) ? 1 : 0;
    if (leaf && value(unit(child)) >= strings_size) bad("points outside its normalized strings");
    if (state[child] == kOnPath) bad("has a cycle");
    const size_t parent = f.pos;
    if (state[child] == kNew) {
      enter(child);  // invalidates f
      // most[parent] is updated when the child is done: remember the edge by revisiting it.
      stack[stack.size() - 2].next_byte = b;
      continue;
    }
    const int matches = leaf + most[child];
    if (matches > kMaxCharsmapMatches)
      bad(fmt::format("matches more than {} prefixes of one input", kMaxCharsmapMatches));
    most[parent] = std::max<uint8_t>(most[parent], static_cast<uint8_t>(matches));
  }
}

// The parts of a serialized ModelProto that libsentencepiece must not see unchecked (see above).
void check_spm_model(std::string_view bytes, const std::string& where) {
  WireReader top(bytes, where);
  WireReader::Field f;
  while (top.next(&f)) {
    if (f.wire_type != 2) continue;
    if (f.number == 1) {  // repeated SentencePiece pieces: piece = 1
      WireReader piece(f.bytes, where);
      WireReader::Field g;
      while (piece.next(&g))
        if (g.number == 1 && g.wire_type == 2 && g.bytes.size() > kMaxPieceBytes)
          throw_input("{}: not a valid SentencePiece model: a piece of {} bytes (at most {} accepted)",
                      where, g.bytes.size(), kMaxPieceBytes);
    } else if (f.number == 3 || f.number == 5) {  // normalizer_spec, denormalizer_spec
      // Repeated occurrences of a message field merge, the last charsmap winning: check them all.
      WireReader spec(f.bytes, where);
      WireReader::Field g;
      while (spec.next(&g))
        if (g.number == 2 && g.wire_type == 2)
          check_charsmap(g.bytes, where, f.number == 3 ? "normalizer_spec" : "denormalizer_spec");
    }
  }
}

std::string read_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw_input("{}: cannot open the SentencePiece model", path);
  const std::streamoff size = in.tellg();
  if (size < 0) throw_input("{}: cannot read the SentencePiece model", path);
  if (static_cast<uint64_t>(size) > kMaxModelFileBytes)
    throw_input("{}: {} bytes is too large for a SentencePiece model (at most {} accepted)", path,
                size, kMaxModelFileBytes);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) throw_input("{}: cannot read the SentencePiece model", path);
  return bytes;
}

}  // namespace tokenizer_detail
using namespace tokenizer_detail;

// ---- ByteTokenizer ---------------------------------------------------------------------------

struct ByteTokenizer::Impl {
  SpecialTable specials;
};

ByteTokenizer::ByteTokenizer(int64_t vocab_size) : vocab_size_(vocab_size), impl_(new Impl) {
  if (vocab_size < kMinByteVocab)
    throw_input("byte tokenizer: vocab_size {} is too small: it needs {} specials + 256 bytes = {}",
                vocab_size, kNumSpecialTokens, kMinByteVocab);
  for (int64_t i = 0; i < vocab_size_; ++i)
    if (is_special(i)) impl_->specials.add(piece(i), i);
}

ByteTokenizer::~ByteTokenizer() = default;

std::vector<int64_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  impl_->specials.split(
      text,
      [&](std::string_view run) {
        for (char c : run) ids.push_back(kByteTokenOffset + static_cast<unsigned char>(c));
      },
      [&](int64_t id) { ids.push_back(id); });
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string out;
  for (int64_t id : ids) {
    check_id(id, vocab_size_);
    if (id >= kByteTokenOffset && id < kMinByteVocab) {
      out.push_back(static_cast<char>(id - kByteTokenOffset));
    } else if (!skip_special) {
      out += piece(id);
    }
  }
  return out;
}

std::optional<int64_t> ByteTokenizer::token_id(std::string_view special) const {
  return impl_->specials.find(special);
}

std::string ByteTokenizer::piece(int64_t id) const {
  check_id(id, vocab_size_);
  if (id < kNumSpecialTokens) return std::string(kSpecialTokens[id]);
  if (id >= kMinByteVocab)  // reserved ids continue the <unusedN> series
    return fmt::format("<unused{}>", id - kMinByteVocab + (kNumSpecialTokens - kFirstUnusedId));
  auto b = static_cast<unsigned char>(id - kByteTokenOffset);
  if (b > 0x20 && b < 0x7f) return std::string(1, static_cast<char>(b));
  return byte_piece(b);
}

bool ByteTokenizer::is_special(int64_t id) const {
  check_id(id, vocab_size_);
  return id < kByteTokenOffset || id >= kMinByteVocab;
}

// ---- SentencePieceTokenizer ------------------------------------------------------------------

struct SentencePieceTokenizer::Impl {
  enum Kind : uint8_t { kNormal, kByte, kSpecial };
  const SpmApi* api = nullptr;
  void* handle = nullptr;
  std::string path;
  std::vector<std::string> pieces;
  std::vector<uint8_t> kinds;
  std::vector<uint8_t> byte_values;  // for kByte pieces
  SpecialTable specials;
  bool dummy_prefix = false;  // the model puts "▁" before the first word of each input

  ~Impl() {
    if (handle != nullptr) api->free_processor(handle);
  }

  void encode_plain(std::string_view text, std::vector<int64_t>& out) const {
    int* ids = nullptr;
    long n = api->encode(handle, text.data(), text.size(), &ids);
    if (n < 0) throw_input("{}: libsentencepiece failed to encode {} bytes of text", path, text.size());
    const auto size = static_cast<int64_t>(pieces.size());
    bool bad = false;
    for (long i = 0; i < n; ++i) {
      if (ids[i] < 0 || ids[i] >= size) bad = true;
      out.push_back(ids[i]);
    }
    api->free_mem(ids);
    // Callers index pieces and kinds by these ids: never trust the library with that.
    if (bad) throw_input("{}: SentencePiece model encodes to ids outside its {} pieces", path, size);
  }
};

namespace {
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁"

// "<0xXX>" with XX two hex digits. (Not strtol: it would take " F" or "+F", and reading its end
// pointer into a temporary string after the call was a use after scope, found by the tokenizer_model
// fuzz target.)
bool parse_byte_piece(const std::string& p, uint8_t* value) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return false;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(p[3]), lo = hex(p[4]);
  if (hi < 0 || lo < 0) return false;
  *value = static_cast<uint8_t>(hi * 16 + lo);
  return true;
}
}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path) : impl_(new Impl) {
  Impl& m = *impl_;
  m.path = model_path;
  if (!file_exists(model_path)) throw_input("{}: SentencePiece model file not found", model_path);
  const std::string bytes = read_model_file(model_path);
  check_spm_model(bytes, model_path);
  m.api = &spm_api();
  char* err = nullptr;
  m.handle = m.api->load_bytes(bytes.data(), bytes.size(), &err);
  if (m.handle == nullptr)
    throw_input("{}: not a valid SentencePiece model: {}", model_path, take_string(*m.api, err));

  int n = m.api->vocab_size(m.handle);
  if (n <= 0) throw_input("{}: SentencePiece model has no pieces", model_path);
  m.pieces.resize(n);
  m.kinds.assign(n, Impl::kNormal);
  m.byte_values.assign(n, 0);
  for (int id = 0; id < n; ++id) {
    m.pieces[id] = take_string(*m.api, m.api->id_to_piece(m.handle, id));
    const std::string& p = m.pieces[id];
    int type = m.api->piece_type(m.handle, id);
    uint8_t b = 0;
    if (type == 6 && parse_byte_piece(p, &b)) {
      m.kinds[id] = Impl::kByte;
      m.byte_values[id] = b;
    } else if (type == 2 || type == 3 || type == 5 || special_token_index(p) ||
               is_unused_spelling(p)) {
      m.kinds[id] = Impl::kSpecial;
      // The first id wins if a spelling were ever duplicated.
      if (!m.specials.find(p)) m.specials.add(p, id);
    }
  }
  // Does the model prefix its input with "▁"? Encode a lone letter and look.
  std::vector<int64_t> probe;
  m.encode_plain("a", probe);
  m.dummy_prefix = !probe.empty() && m.kinds[probe[0]] == Impl::kNormal &&
                   m.pieces[probe[0]].compare(0, kSpaceMark.size(), kSpaceMark) == 0;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int64_t SentencePieceTokenizer::vocab_size() const {
  return static_cast<int64_t>(impl_->pieces.size());
}

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  impl_->specials.split(
      text, [&](std::string_view run) { impl_->encode_plain(run, ids); },
      [&](int64_t id) { ids.push_back(id); });
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids[i];
    check_id(id, vocab_size());
    switch (m.kinds[id]) {
      case Impl::kByte:
        out.push_back(static_cast<char>(m.byte_values[id]));
        break;
      case Impl::kSpecial:
        if (!skip_special) out += m.pieces[id];
        break;
      case Impl::kNormal: {
        std::string_view p = m.pieces[id];
        // The dummy prefix of the first word is not part of the text.
        if (i == 0 && m.dummy_prefix && p.substr(0, kSpaceMark.size()) == kSpaceMark)
          p.remove_prefix(kSpaceMark.size());
        size_t pos = 0;
        while (true) {
          size_t next = p.find(kSpaceMark, pos);
          out.append(p.data() + pos, (next == std::string_view::npos ? p.size() : next) - pos);
          if (next == std::string_view::npos) break;
          out.push_back(' ');
          pos = next + kSpaceMark.size();
        }
        break;
      }
    }
  }
  return out;
}

std::optional<int64_t> SentencePieceTokenizer::token_id(std::string_view special) const {
  return impl_->specials.find(special);
}

std::string SentencePieceTokenizer::piece(int64_t id) const {
  check_id(id, vocab_size());
  return impl_->pieces[id];
}

bool SentencePieceTokenizer::is_special(int64_t id) const {
  check_id(id, vocab_size());
  return impl_->kinds[id] == Impl::kSpecial;
}

// ---- BpeTokenizer -----------------------------------------------------------------------------

BpeTokenizer::BpeTokenizer(BpeVocab vocab, const std::string& where)
    : bpe_(std::make_unique<BpeEncoder>(std::move(vocab), where)) {}

BpeTokenizer::~BpeTokenizer() = default;

int64_t BpeTokenizer::vocab_size() const { return bpe_->size(); }

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const std::string& path) {
  if (!file_exists(path)) throw_input("{}: tokenizer.json not found", path);
  return std::make_unique<BpeTokenizer>(read_tokenizer_json(path), path);
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text) const { return bpe_->encode(text); }

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  return bpe_->decode(ids, skip_special, InvalidBytes::kKeep);
}

std::optional<int64_t> BpeTokenizer::token_id(std::string_view special) const { return bpe_->special_id(special); }

std::string BpeTokenizer::piece(int64_t id) const { return bpe_->piece(id); }

bool BpeTokenizer::is_special(int64_t id) const {
  check_id(id, vocab_size());
  return bpe_->is_special(id);
}

// ---- factory ---------------------------------------------------------------------------------

std::unique_ptr<Tokenizer> load_tokenizer(const ModelConfig& c, const std::string& model_dir) {
  if (c.tokenizer == "none")
    throw_input("{}: this checkpoint has no vocabulary (config.json: g4u_tokenizer \"none\", as `g4u init` writes it for a "
                "preset without a tokenizer file): commands that read or write text need a real checkpoint; bench, "
                "forward --tokens and export-gguf run on token ids",
                model_dir.empty() ? c.name : model_dir);
  std::unique_ptr<Tokenizer> tok;
  std::string where;
  if (c.tokenizer == "byte") {
    tok = std::make_unique<ByteTokenizer>(c.text.vocab_size);
    where = "byte tokenizer";
  } else if (c.tokenizer == "sentencepiece") {
    // tokenizer.json first, as HF transformers loads the fast tokenizer when both exist.
    const std::string json_path = model_dir + "/tokenizer.json";
    where = model_dir + "/tokenizer.model";
    if (file_exists(json_path)) {
      where = json_path;
      tok = BpeTokenizer::from_tokenizer_json(json_path);
    } else if (file_exists(where)) {
      tok = std::make_unique<SentencePieceTokenizer>(where);
    } else {
      throw_input("neither {} nor {} found (model '{}' needs its tokenizer)", json_path, where, c.name);
    }
  } else {
    throw_input("{}: tokenizer: unknown kind '{}' (known: byte, sentencepiece)", c.name, c.tokenizer);
  }
  if (tok->vocab_size() > c.text.vocab_size)
    throw_input("{}: vocabulary has {} tokens but the model's text_config.vocab_size is {}", where,
                tok->vocab_size(), c.text.vocab_size);
  // The multimodal markers must be where the config says they are.
  const std::pair<std::string_view, int64_t> markers[] = {
      {"<|image>", c.tokens.boi},   {"<image|>", c.tokens.eoi},   {"<|image|>", c.tokens.image},
      {"<|audio>", c.tokens.boa},   {"<audio|>", c.tokens.eoa},   {"<|audio|>", c.tokens.audio},
      {"<|video|>", c.tokens.video},
  };
  for (const auto& [name, config_id] : markers) {
    auto id = tok->token_id(name);
    if (id && *id != config_id)
      throw_input("{}: {} has id {} but the model config says {}", where, name, *id, config_id);
  }
  return tok;
}

// ---- training --------------------------------------------------------------------------------

void train_sentencepiece(const std::string& corpus_file, int64_t vocab_size,
                         const std::string& out_model_path, uint64_t seed) {
  if (!file_exists(corpus_file)) throw_input("{}: corpus file not found", corpus_file);
  {
    std::ifstream in(corpus_file, std::ios::binary);
    if (!in || in.peek() == std::ifstream::traits_type::eof())
      throw_input("{}: corpus file is empty or unreadable", corpus_file);
  }
  if (vocab_size <= kMinByteVocab || vocab_size > (int64_t{1} << 24))
    throw_input("train_sentencepiece: vocab_size {} must be in ({}, 2^24]: {} specials + 256 byte "
                "pieces come first",
                vocab_size, kMinByteVocab, kNumSpecialTokens);

  std::string user_defined;
  for (int64_t i = kMaskId; i < kNumSpecialTokens; ++i) {
    if (!user_defined.empty()) user_defined += ',';
    user_defined += kSpecialTokens[i];
  }
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"pad_id", std::to_string(kPadId)},
      {"eos_id", std::to_string(kEosId)},
      {"bos_id", std::to_string(kBosId)},
      {"unk_id", std::to_string(kUnkId)},
      {"pad_piece", std::string(kSpecialTokens[kPadId])},
      {"eos_piece", std::string(kSpecialTokens[kEosId])},
      {"bos_piece", std::string(kSpecialTokens[kBosId])},
      {"unk_piece", std::string(kSpecialTokens[kUnkId])},
      {"user_defined_symbols", user_defined},
      {"num_threads", "1"},
      {"shuffle_input_sentence", "true"},
  };
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }

  const SpmApi& api = spm_api();
  char* err = nullptr;
  char* model = nullptr;
  size_t model_len = 0;
  int rc;
  {
    // The seed is a process-wide setting of libsentencepiece.
    static std::mutex train_mutex;
    std::lock_guard<std::mutex> lock(train_mutex);
    api.set_seed(static_cast<unsigned>(seed ^ (seed >> 32)));
    rc = api.train_to_bytes(keys.data(), values.data(), static_cast<int>(keys.size()),
                            corpus_file.c_str(), &model, &model_len, &err);
  }
  if (rc != 0)
    throw_input("{}: SentencePiece training failed: {}", corpus_file, take_string(api, err));
  std::string bytes(model, model_len);
  api.free_mem(model);

  // Written next to the destination, checked, then renamed into place.
  const std::string tmp = fmt::format("{}.tmp.{}", out_model_path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_input("{}: cannot create file", tmp);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw_input("{}: write failed", tmp);
    }
  }
  // The ids must be those of model/text/special_tokens.h before the file goes into place.
  try {
    SentencePieceTokenizer check(tmp);
    if (check.vocab_size() != vocab_size)
      throw_input("{}: SentencePiece training produced {} pieces, not the {} asked for (corpus "
                  "too small?)",
                  corpus_file, check.vocab_size(), vocab_size);
    for (int64_t i = 0; i < kNumSpecialTokens; ++i)
      G4U_CHECK(check.piece(i) == kSpecialTokens[i] && check.is_special(i),
                "trained vocabulary has '{}' at id {}, expected '{}'", check.piece(i), i,
                kSpecialTokens[i]);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), out_model_path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw_input("{}: cannot move the trained model into place", out_model_path);
  }
}

}  // namespace g4u::model
