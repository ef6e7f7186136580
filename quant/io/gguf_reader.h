// GGUF reader: a validated, read-only memory map of a GGUF v2/v3 file (ggml docs/gguf.md).
//
// File layout (little endian):
//   "GGUF", u32 version (2 or 3), u64 tensor count, u64 KV count,
//   KV pairs   : string key, u32 value type, value (strings: u64 length + bytes; arrays: u32
//                element type, u64 count, elements; nested arrays are refused),
//   tensor info: string name, u32 n_dims (1..4), u64 ne[n_dims] (ne[0] innermost), u32 ggml type,
//                u64 offset relative to the data section,
//   padding to general.alignment (u32, a power of two, default 32), then the data section.
//
// open() trusts nothing: every count, length and offset is checked against the bytes that are
// actually there before anything is allocated from it (a count is bounded by the remaining bytes
// divided by the smallest encoding of one element), so a header that lies is an InputError naming
// the file and the field or tensor, never a huge allocation or a read past the end. Tensors must
// be of a type this reader knows the size of (F32, F16, BF16 and the ggml types of g4u's schemes:
// Q4_0, Q4_1, Q8_0, Q4_K, Q6_K, IQ4_NL); other ggml types are refused by name, unknown ids by
// number. Each tensor's data must start at a multiple of the alignment, lie inside the file, fit
// its rows' blocks exactly, and not overlap another tensor.
//
// Metadata values are kept as views into the mapping (no copies); array accessors decode on
// demand, so a caller decides which arrays to materialise (after checking their counts).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::quant {

// GGUF metadata value types (gguf.h enum gguf_type).
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9,
  kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);  // "u32", "string", ...

// One metadata value. Scalars: `type` and the raw bytes in `data`; strings: the text in `data`;
// arrays: `type` = kArray, `elem` the element type, `count` elements encoded in `data`.
struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType elem = GgufType::kU8;
  uint64_t count = 0;
  std::string_view data;
};

struct GgufTensor {
  std::string_view name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] = columns of a [rows, cols] matrix
  uint32_t type = 0;         // ggml_type
  uint64_t offset = 0;       // relative to the data section
  uint64_t nbytes = 0;
  // PyTorch order ([rows, cols] for a matrix): ne reversed.
  std::vector<int64_t> shape() const;
};

// Size facts of a ggml tensor type this reader accepts.
struct GgmlTypeSize {
  uint32_t type;
  std::string_view name;  // "F32", "Q4_K", ...
  int64_t block;          // elements per block (1 for float types)
  int64_t bytes;          // bytes per block
};
// nullptr when `type` is not one of the accepted ones.
const GgmlTypeSize* ggml_type_size(uint32_t type);
// ggml's name of any ggml type id it defines ("Q5_K"), or nullopt for an id ggml does not have.
std::optional<std::string_view> ggml_type_name(uint32_t type);

class GgufFile {
 public:
  // Maps and validates `path`; InputError naming the file and what is wrong.
  static std::shared_ptr<GgufFile> open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section

  const std::vector<std::pair<std::string_view, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;  // nullptr when absent
  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // in header order
  const GgufTensor* tensor(std::string_view name) const;  // nullptr when absent

  // Typed access; InputError "<file>: <key>: ..." for a wrong type or a value out of range.
  // Integers accept any integer type (and bool for flags), floats F32 or F64.
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  // Arrays (nullopt when absent; InputError when not an array of the right element kind).
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
  std::optional<std::vector<double>> get_float_array(std::string_view key) const;
  std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  // A scalar or an array of `n` values (llama.cpp's get_key_or_arr): the per-layer values. A
  // scalar is repeated; bools count as 0/1. InputError for an array of another length.
  std::optional<std::vector<int64_t>> get_int_per_layer(std::string_view key, int64_t n) const;

  // The bytes of `t` in the mapping.
  const uint8_t* data(const GgufTensor& t) const { return base_ + data_offset_ + t.offset; }
  // Drops the mapped pages of [p, p + n) from this process (MADV_DONTNEED: the mapping is
  // read-only, so a later read re-reads the file), so copying tensor by tensor keeps the resident
  // set near the copies alone.
  void release(const uint8_t* p, uint64_t n) const;
  void release(const GgufTensor& t) const { release(data(t), t.nbytes); }

 private:
  GgufFile() = default;
  void parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, GgufValue>> kv_;
  std::map<std::string_view, size_t> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string_view, size_t> tensor_index_;
};

// True if `path` is a regular file named *.gguf or starting with the GGUF magic (the model flags route
// it to the GGUF loader, which then names whatever is wrong with it).
bool is_gguf_file(const std::string& path);

}  // namespace g4u::quant
