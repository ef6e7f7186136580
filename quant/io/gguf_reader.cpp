#include "quant/io/gguf_reader.h"

#include "base/error.h"
#include "base/mapped_copy.h"
#include "quant/formats/ggml_formats.h"
#include "quant/formats/scheme.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader reads host-order (little endian) values");

namespace g4u::quant {

// Helpers in a named namespace: quant/*.cpp are combined into unity translation units.
namespace gguf_reader_detail {

constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr uint64_t kMaxNameBytes = 63;    // GGML_MAX_NAME is 64 with the terminating NUL
constexpr uint32_t kDefaultAlignment = 32;  // GGUF_DEFAULT_ALIGNMENT

// Bytes of one encoded value of a scalar type; 0 for strings and arrays.
uint64_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

bool is_int_type(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kU16: case GgufType::kI16: case GgufType::kU32:
    case GgufType::kI32: case GgufType::kU64: case GgufType::kI64: return true;
    default: return false;
  }
}

// A bounds-checked cursor over the mapped header.
struct Cursor {
  const uint8_t* base;
  uint64_t size;
  uint64_t pos;
  const std::string& path;

  uint64_t left() const { return size - pos; }
  template <typename T>
  T get(const std::string& what) {
    if (left() < sizeof(T)) throw_input("{}: truncated at byte {} reading {}", path, pos, what);
    T v;
    std::memcpy(&v, base + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string_view bytes(uint64_t n, const std::string& what) {
    if (n > left())
      throw_input("{}: {}: length {} runs past the end of the file (truncated, or a wrong length: {} bytes left at byte {})",
                  path, what, n, left(), pos);
    std::string_view s(reinterpret_cast<const char*>(base + pos), static_cast<size_t>(n));
    pos += n;
    return s;
  }
  std::string_view str(const std::string& what) { return bytes(get<uint64_t>(what + " length"), what); }
};

// Reads one value of `type` (not an array) and returns the bytes it occupies.
std::string_view read_scalar(Cursor& c, GgufType type, const std::string& what) {
  if (type == GgufType::kString) return c.str(what);
  const uint64_t n = scalar_bytes(type);
  std::string_view s = c.bytes(n, what);
  if (type == GgufType::kBool && static_cast<uint8_t>(s[0]) > 1)
    throw_input("{}: {}: bool value {} (expected 0 or 1)", c.path, what, static_cast<int>(static_cast<uint8_t>(s[0])));
  return s;
}

int64_t decode_int(GgufType t, const char* p, const std::string& path, std::string_view key) {
  switch (t) {
    case GgufType::kU8: { uint8_t v; std::memcpy(&v, p, 1); return v; }
    case GgufType::kI8: { int8_t v; std::memcpy(&v, p, 1); return v; }
    case GgufType::kBool: { uint8_t v; std::memcpy(&v, p, 1); return v; }
    case GgufType::kU16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case GgufType::kI16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case GgufType::kU32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case GgufType::kI32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case GgufType::kI64: { int64_t v; std::memcpy(&v, p, 8); return v; }
    case GgufType::kU64: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw_input("{}: {}: value {} out of range", path, key, v);
      return static_cast<int64_t>(v);
    }
    default: throw_input("{}: {}: expected an integer, found {}", path, key, gguf_type_name(t));
  }
}

double decode_float(GgufType t, const char* p, const std::string& path, std::string_view key) {
  if (t == GgufType::kF32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  if (t == GgufType::kF64) {
    double v;
    std::memcpy(&v, p, 8);
    return v;
  }
  throw_input("{}: {}: expected a float, found {}", path, key, gguf_type_name(t));
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace gguf_reader_detail

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::kU8: return "u8";
    case GgufType::kI8: return "i8";
    case GgufType::kU16: return "u16";
    case GgufType::kI16: return "i16";
    case GgufType::kU32: return "u32";
    case GgufType::kI32: return "i32";
    case GgufType::kF32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kU64: return "u64";
    case GgufType::kI64: return "i64";
    case GgufType::kF64: return "f64";
  }
  return "?";
}

std::vector<int64_t> GgufTensor::shape() const {
  std::vector<int64_t> s;
  for (auto it = ne.rbegin(); it != ne.rend(); ++it) s.push_back(static_cast<int64_t>(*it));
  return s;
}

const GgmlTypeSize* ggml_type_size(uint32_t type) {
  // The float types, then one row per g4u scheme that is a ggml type (its block facts).
  static const std::vector<GgmlTypeSize> table = [] {
    std::vector<GgmlTypeSize> t = {{ggml_type::kF32, "F32", 1, 4}, {ggml_type::kF16, "F16", 1, 2},
                                   {ggml_type::kBF16, "BF16", 1, 2}};
    for (const SchemeTraits* s : all_schemes())
      if (s->has_ggml_type()) t.push_back({s->ggml.type, s->ggml.type_name, s->block, s->bytes_per_block});
    return t;
  }();
  for (const auto& e : table)
    if (e.type == type) return &e;
  return nullptr;
}

std::optional<std::string_view> ggml_type_name(uint32_t type) {
  // ggml.h enum ggml_type (ids 4, 5 and 31..33, 36..38 were removed from ggml).
  static const std::map<uint32_t, std::string_view> names = {
      {0, "F32"},      {1, "F16"},     {2, "Q4_0"},     {3, "Q4_1"},    {6, "Q5_0"},    {7, "Q5_1"},
      {8, "Q8_0"},     {9, "Q8_1"},    {10, "Q2_K"},    {11, "Q3_K"},   {12, "Q4_K"},   {13, "Q5_K"},
      {14, "Q6_K"},    {15, "Q8_K"},   {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"},
      {20, "IQ4_NL"},  {21, "IQ3_S"},  {22, "IQ2_S"},   {23, "IQ4_XS"}, {24, "I8"},     {25, "I16"},
      {26, "I32"},     {27, "I64"},    {28, "F64"},     {29, "IQ1_M"},  {30, "BF16"},   {34, "TQ1_0"},
      {35, "TQ2_0"},   {39, "MXFP4"},
  };
  auto it = names.find(type);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

bool is_gguf_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[4] = {};
  const ssize_t n = ::pread(fd, magic, 4, 0);
  ::close(fd);
  return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_input("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_input("{}: not a regular file", path);
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ < 24) {
    ::close(fd);
    throw_input("{}: {} bytes, too short for a GGUF header (24 bytes)", path, f->size_);
  }
  // Private and writable: views of it handed to LibTorch (a bf16 token table) copy the pages a
  // write touches instead of faulting; the file never changes, and this class writes nothing.
  void* p = ::mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw_input("{}: cannot map: {}", path, std::strerror(errno));
  advise_huge_file_pages(p, f->size_);
  f->base_ = static_cast<const uint8_t*>(p);
  f->parse();
  return f;
}

GgufFile::~GgufFile() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

void GgufFile::release(const uint8_t* p, uint64_t n) const {
  if (n == 0) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n + page - 1) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void GgufFile::parse() {
  using namespace gguf_reader_detail;
  Cursor c{base_, size_, 0, path_};
  if (std::memcmp(base_, "GGUF", 4) != 0)
    throw_input("{}: not a GGUF file (magic {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\")", path_, base_[0], base_[1],
                base_[2], base_[3]);
  c.pos = 4;
  version_ = c.get<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    if (version_ == 1) throw_input("{}: version: GGUF v1 (32-bit counts) is not supported (v2 and v3 are)", path_);
    uint32_t swapped = __builtin_bswap32(version_);
    if (swapped == 2 || swapped == 3) throw_input("{}: version: a big-endian GGUF (v{}) is not supported", path_, swapped);
    throw_input("{}: version: {} is not a GGUF version this reader knows (2 or 3)", path_, version_);
  }
  const uint64_t n_tensors = c.get<uint64_t>("tensor count");
  const uint64_t n_kv = c.get<uint64_t>("metadata count");
  // Each KV takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least
  // 8 + 4 + 8 + 4 + 8 bytes: counts beyond what the file can hold are lies.
  if (n_kv > c.left() / 13)
    throw_input("{}: metadata count: {} key-value pairs cannot fit in the {} bytes that follow", path_, n_kv, c.left());
  if (n_tensors > c.left() / 32)
    throw_input("{}: tensor count: {} tensors cannot fit in the {} bytes that follow", path_, n_tensors, c.left());

  kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string what = fmt::format("metadata entry {}", i);
    const std::string_view key = c.str(what + " key");
    const std::string kwhat = fmt::format("metadata {}", key);
    if (key.empty()) throw_input("{}: {}: empty key", path_, what);
    if (kv_index_.count(key)) throw_input("{}: {}: duplicate key", path_, kwhat);
    const uint32_t t = c.get<uint32_t>(kwhat + " type");
    if (!known_type(t)) throw_input("{}: {}: unknown value type {}", path_, kwhat, t);
    GgufValue v;
    v.type = static_cast<GgufType>(t);
    const uint64_t start = c.pos;
    if (v.type == GgufType::kArray) {
      const uint32_t et = c.get<uint32_t>(kwhat + " element type");
      if (!known_type(et)) throw_input("{}: {}: unknown array element type {}", path_, kwhat, et);
      v.elem = static_cast<GgufType>(et);
      if (v.elem == GgufType::kArray) throw_input("{}: {}: nested arrays are not supported", path_, kwhat);
      v.count = c.get<uint64_t>(kwhat + " array length");
      const uint64_t min_bytes = v.elem == GgufType::kString ? 8 : scalar_bytes(v.elem);
      if (v.count > c.left() / min_bytes)
        throw_input("{}: {}: array length {} of {} cannot fit in the {} bytes left", path_, kwhat, v.count,
                    gguf_type_name(v.elem), c.left());
      const uint64_t data_start = c.pos;
      if (v.elem == GgufType::kString) {
        for (uint64_t k = 0; k < v.count; ++k) c.str(fmt::format("{}[{}]", kwhat, k));
      } else {
        std::string_view all = c.bytes(v.count * min_bytes, kwhat);
        if (v.elem == GgufType::kBool)
          for (char b : all)
            if (static_cast<uint8_t>(b) > 1) throw_input("{}: {}: bool element {} (expected 0 or 1)", path_, kwhat, int(uint8_t(b)));
      }
      v.data = std::string_view(reinterpret_cast<const char*>(base_ + data_start), static_cast<size_t>(c.pos - data_start));
    } else {
      v.count = 1;
      v.data = read_scalar(c, v.type, kwhat);
    }
    (void)start;
    kv_index_.emplace(key, kv_.size());
    kv_.emplace_back(key, v);
  }

  // Alignment (general.alignment, u32, a power of two).
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::kU32) throw_input("{}: general.alignment: expected u32, found {}", path_, gguf_type_name(a->type));
    uint32_t al;
    std::memcpy(&al, a->data.data(), 4);
    if (al == 0 || (al & (al - 1)) != 0) throw_input("{}: general.alignment: {} is not a power of two", path_, al);
    alignment_ = al;
  } else {
    alignment_ = kDefaultAlignment;
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const std::string what = fmt::format("tensor info {}", i);
    GgufTensor t;
    t.name = c.str(what + " name");
    const std::string tw = fmt::format("tensor {}", t.name);
    if (t.name.empty()) throw_input("{}: {}: empty name", path_, what);
    if (t.name.size() > kMaxNameBytes)
      throw_input("{}: {}: name of {} bytes (ggml allows {})", path_, what, t.name.size(), kMaxNameBytes);
    if (tensor_index_.count(t.name)) throw_input("{}: {}: duplicate tensor name", path_, tw);
    const uint32_t n_dims = c.get<uint32_t>(tw + " n_dims");
    if (n_dims == 0 || n_dims > kMaxDims) throw_input("{}: {}: n_dims {} (expected 1..{})", path_, tw, n_dims, kMaxDims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.get<uint64_t>(tw + " dims");
      if (ne == 0) throw_input("{}: {}: dimension {} is 0", path_, tw, d);
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / numel)
        throw_input("{}: {}: dimensions overflow 64 bits", path_, tw);
      numel *= ne;
      t.ne.push_back(ne);
    }
    t.type = c.get<uint32_t>(tw + " type");
    t.offset = c.get<uint64_t>(tw + " offset");
    const GgmlTypeSize* ts = ggml_type_size(t.type);
    if (!ts) {
      if (auto name = ggml_type_name(t.type))
        throw_input("{}: {}: ggml type {} ({}) is not supported (g4u reads F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, "
                    "Q6_K and IQ4_NL)",
                    path_, tw, *name, t.type);
      throw_input("{}: {}: unknown ggml type {}", path_, tw, t.type);
    }
    if (static_cast<int64_t>(t.ne[0]) % ts->block != 0)
      throw_input("{}: {}: {} rows of {} elements do not fill whole {}-element blocks", path_, tw, ts->name, t.ne[0], ts->block);
    const uint64_t blocks = numel / static_cast<uint64_t>(ts->block);
    if (blocks > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(ts->bytes))
      throw_input("{}: {}: byte size overflows 64 bits", path_, tw);
    t.nbytes = blocks * static_cast<uint64_t>(ts->bytes);
    if (t.offset % alignment_ != 0)
      throw_input("{}: {}: data offset {} is not a multiple of the alignment {}", path_, tw, t.offset, alignment_);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  data_offset_ = align_up(c.pos, alignment_);
  if (data_offset_ > size_)
    throw_input("{}: the data section would start at byte {}, past the end of the file ({} bytes)", path_, data_offset_, size_);
  const uint64_t data_bytes = size_ - data_offset_;
  std::vector<const GgufTensor*> by_offset;
  for (const auto& t : tensors_) {
    if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset)
      throw_input("{}: tensor {}: data [{}, {}) of the data section runs past the end of the file (the data section "
                  "has {} bytes): truncated file or wrong offset",
                  path_, t.name, t.offset, t.offset + t.nbytes, data_bytes);
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset)
      throw_input("{}: tensor {}: data overlaps tensor {}", path_, by_offset[i]->name, by_offset[i - 1]->name);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensor* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString) throw_input("{}: {}: expected a string, found {}", path_, key, gguf_type_name(v->type));
  return v->data;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!gguf_reader_detail::is_int_type(v->type))
    throw_input("{}: {}: expected an integer, found {}", path_, key, gguf_type_name(v->type));
  return gguf_reader_detail::decode_int(v->type, v->data.data(), path_, key);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  return gguf_reader_detail::decode_float(v->type, v->data.data(), path_, key);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kBool) throw_input("{}: {}: expected a bool, found {}", path_, key, gguf_type_name(v->type));
  return v->data[0] != 0;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kArray || !(gguf_reader_detail::is_int_type(v->elem) || v->elem == GgufType::kBool))
    throw_input("{}: {}: expected an array of integers, found {}{}", path_, key, gguf_type_name(v->type),
                v->type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v->elem)) : "");
  const uint64_t w = gguf_reader_detail::scalar_bytes(v->elem);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(v->count));
  for (uint64_t i = 0; i < v->count; ++i) out.push_back(gguf_reader_detail::decode_int(v->elem, v->data.data() + i * w, path_, key));
  return out;
}

std::optional<std::vector<double>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kArray || (v->elem != GgufType::kF32 && v->elem != GgufType::kF64))
    throw_input("{}: {}: expected an array of floats, found {}{}", path_, key, gguf_type_name(v->type),
                v->type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v->elem)) : "");
  const uint64_t w = gguf_reader_detail::scalar_bytes(v->elem);
  std::vector<double> out;
  out.reserve(static_cast<size_t>(v->count));
  for (uint64_t i = 0; i < v->count; ++i) out.push_back(gguf_reader_detail::decode_float(v->elem, v->data.data() + i * w, path_, key));
  return out;
}

std::optional<std::vector<std::string_view>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kArray || v->elem != GgufType::kString)
    throw_input("{}: {}: expected an array of strings, found {}{}", path_, key, gguf_type_name(v->type),
                v->type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v->elem)) : "");
  std::vector<std::string_view> out;
  out.reserve(static_cast<size_t>(v->count));
  const char* p = v->data.data();
  for (uint64_t i = 0; i < v->count; ++i) {  // lengths were checked by parse()
    uint64_t n;
    std::memcpy(&n, p, 8);
    out.emplace_back(p + 8, static_cast<size_t>(n));
    p += 8 + n;
  }
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_per_layer(std::string_view key, int64_t n) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kArray) {
    if (!gguf_reader_detail::is_int_type(v->type) && v->type != GgufType::kBool)
      throw_input("{}: {}: expected an integer or an array of them, found {}", path_, key, gguf_type_name(v->type));
    return std::vector<int64_t>(static_cast<size_t>(n), gguf_reader_detail::decode_int(v->type, v->data.data(), path_, key));
  }
  auto a = get_int_array(key);
  if (static_cast<int64_t>(a->size()) != n)
    throw_input("{}: {}: {} values, expected one per layer ({})", path_, key, a->size(), n);
  return a;
}

}  // namespace g4u::quant
