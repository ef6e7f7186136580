#include "model/io/safetensors.h"

#include "base/error.h"
#include "base/utf8.h"
#include "base/json_util.h"
#include "base/mapped_copy.h"
#include "base/temp_files.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "g4u reads and writes safetensors assuming a little-endian host"
#endif

namespace g4u::model {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// dtypes

namespace {
struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
  c10::ScalarType scalar;
};
constexpr DTypeRow kDTypes[] = {
    {DType::kBF16, "BF16", 2, c10::ScalarType::BFloat16},
    {DType::kF16, "F16", 2, c10::ScalarType::Half},
    {DType::kF32, "F32", 4, c10::ScalarType::Float},
    {DType::kF64, "F64", 8, c10::ScalarType::Double},
    {DType::kI8, "I8", 1, c10::ScalarType::Char},
    {DType::kI16, "I16", 2, c10::ScalarType::Short},
    {DType::kI32, "I32", 4, c10::ScalarType::Int},
    {DType::kI64, "I64", 8, c10::ScalarType::Long},
    {DType::kU8, "U8", 1, c10::ScalarType::Byte},
    {DType::kBool, "BOOL", 1, c10::ScalarType::Bool},
};

const DTypeRow& row(DType d) {
  for (const auto& r : kDTypes)
    if (r.dtype == d) return r;
  G4U_CHECK(false, "DType {} has no table row", static_cast<int>(d));
}

std::string known_dtype_list() {
  std::string s;
  for (const auto& r : kDTypes) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}
}  // namespace

size_t dtype_size(DType d) { return row(d).size; }
const char* dtype_name(DType d) { return row(d).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& r : kDTypes)
    if (name == r.name) return r.dtype;
  return std::nullopt;
}

std::vector<DType> all_dtypes() {
  std::vector<DType> out;
  for (const auto& r : kDTypes) out.push_back(r.dtype);
  return out;
}

c10::ScalarType to_scalar_type(DType d) { return row(d).scalar; }

DType from_scalar_type(c10::ScalarType t) {
  for (const auto& r : kDTypes)
    if (r.scalar == t) return r.dtype;
  throw_input("torch dtype {} cannot be stored in safetensors by g4u (supported: {})",
              c10::toString(t), known_dtype_list());
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// helpers

namespace {

// Appends a JSON value for an error message, bounded in depth and length (a hostile header can
// nest arrays 10^7 deep; nlohmann's dump() would recurse that deep).
void bounded_dump(const json& j, std::string& out, int depth) {
  if (out.size() > 80) return;
  if (j.is_structured()) {
    const bool arr = j.is_array();
    if (depth >= 4) {
      out += arr ? "[...]" : "{...}";
      return;
    }
    out += arr ? '[' : '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out.size() <= 80; ++it) {
      if (!first) out += ',';
      first = false;
      if (!arr) out += json(it.key()).dump(-1, ' ', false, json::error_handler_t::replace) + ':';
      bounded_dump(it.value(), out, depth + 1);
    }
    out += arr ? ']' : '}';
  } else {
    out += j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

std::string short_dump(const json& j) {
  std::string s;
  bounded_dump(j, s, 0);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string json_quote(const std::string& s) {
  std::string q = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  if (q.size() > 120) q = q.substr(0, 117) + "...";
  return q;
}

// Parses JSON text and rejects duplicate object keys (nlohmann would keep the last one silently).
// `where` names the file; messages carry line:column for syntax errors.
json parse_json_strict(const std::string& text, const std::string& where) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string duplicate;
  json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start: keys.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() && !keys.back().insert(parsed.get<std::string>()).second)
          throw_input("{}: duplicate key {} in JSON", where, json_quote(parsed.get<std::string>()));
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(text, cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::parse_error& e) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    throw_input("{}:{}:{}: invalid JSON: {}", where, line, col, e.what());
  } catch (const json::exception& e) {
    throw_input("{}: invalid JSON: {}", where, e.what());
  }
}

// Reads exactly n bytes at `offset` or throws.
void pread_all(int fd, void* buf, size_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw_input("{}: read failed: {}", path, r < 0 ? std::strerror(errno) : "unexpected end of file");
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// A non-negative integer that fits in int64 (what torch can hold), else nullopt.
std::optional<uint64_t> as_size(const json& v) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return u;
  }
  int64_t s = v.get<int64_t>();
  if (s < 0) return std::nullopt;
  return static_cast<uint64_t>(s);
}

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// numel × element size with overflow checks; nullopt on overflow past int64.
std::optional<uint64_t> checked_nbytes(const std::vector<int64_t>& shape, DType d, uint64_t* numel_out) {
  uint64_t n = 1;
  for (int64_t dim : shape) {
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(dim), &n) || n > kInt64Max) return std::nullopt;
  }
  uint64_t bytes;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(dtype_size(d)), &bytes) || bytes > kInt64Max)
    return std::nullopt;
  if (numel_out) *numel_out = n;
  return bytes;
}

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;

  Fd fd;
  fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd.fd < 0) throw_input("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) throw_input("{}: cannot stat: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw_input("{}: not a regular file", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  f->file_size_ = size;

  // --- header length
  if (size < 8)
    throw_input("{}: file is {} bytes, shorter than the 8-byte header length of a safetensors file",
                path, size);
  uint8_t len_bytes[8];
  pread_all(fd.fd, len_bytes, 8, 0, path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxSafetensorsHeaderBytes)
    throw_input("{}: header length {} exceeds the limit of {} bytes (corrupt or not a safetensors file)",
                path, n, kMaxSafetensorsHeaderBytes);
  if (n > size - 8)
    throw_input("{}: header length {} runs past the end of the file ({} bytes; truncated?)", path, n, size);
  f->header_size_ = n;
  const uint64_t data_begin = 8 + n;
  const uint64_t data_size = size - data_begin;

  // --- header JSON
  std::string text(static_cast<size_t>(n), '\0');
  if (n > 0) pread_all(fd.fd, text.data(), static_cast<size_t>(n), 8, path);
  size_t bad = utf8_invalid_at(text);
  if (bad != std::string::npos)
    throw_input("{}: header is not valid UTF-8 (byte {} of the header)", path, bad);
  json header = parse_json_strict(text, path + " (header)");
  text.clear();
  text.shrink_to_fit();
  if (!header.is_object())
    throw_input("{}: header must be a JSON object, got {}", path, header.type_name());

  // --- entries
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object())
        throw_input("{}: __metadata__ must be an object of strings, got {}", path, v.type_name());
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw_input("{}: __metadata__[{}] must be a string, got {} {}", path, json_quote(m.key()),
                      m.value().type_name(), short_dump(m.value()));
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor {}", path, json_quote(name));
    if (!v.is_object()) throw_input("{}: expected an object with dtype, shape, data_offsets, got {}", where, short_dump(v));
    auto field = [&](const char* key) -> const json& {
      auto f_it = v.find(key);
      if (f_it == v.end()) throw_input("{}: missing field '{}'", where, key);
      return *f_it;
    };
    TensorInfo t;
    t.name = name;
    const json& dt = field("dtype");
    if (!dt.is_string()) throw_input("{}: dtype must be a string, got {}", where, short_dump(dt));
    auto parsed = parse_dtype(dt.get<std::string>());
    if (!parsed)
      throw_input("{}: unknown or unsupported dtype {} (g4u reads {})", where, json_quote(dt.get<std::string>()),
                  known_dtype_list());
    t.dtype = *parsed;
    const json& shape = field("shape");
    if (!shape.is_array()) throw_input("{}: shape must be a list of non-negative integers, got {}", where, short_dump(shape));
    for (const json& d : shape) {
      auto u = as_size(d);
      if (!u) throw_input("{}: shape must be a list of non-negative integers, got {}", where, short_dump(shape));
      t.shape.push_back(static_cast<int64_t>(*u));
    }
    const json& off = field("data_offsets");
    std::optional<uint64_t> b, e;
    if (off.is_array() && off.size() == 2) {
      b = as_size(off[0]);
      e = as_size(off[1]);
    }
    if (!b || !e)
      throw_input("{}: data_offsets must be [begin, end] with non-negative integers, got {}", where, short_dump(off));
    if (*b > *e) throw_input("{}: data_offsets [{}, {}] has begin > end", where, *b, *e);
    auto nbytes = checked_nbytes(t.shape, t.dtype, nullptr);
    if (!nbytes)
      throw_input("{}: shape {} x {} bytes overflows a 64-bit byte count", where, shape_str(t.shape),
                  dtype_size(t.dtype));
    if (*nbytes != *e - *b)
      throw_input("{}: shape {} of {} needs {} bytes but data_offsets [{}, {}] span {} bytes", where,
                  shape_str(t.shape), dtype_name(t.dtype), *nbytes, *b, *e, *e - *b);
    if (*e > data_size)
      throw_input("{}: data_offsets [{}, {}] lie outside the data region of {} bytes (file is {} bytes; truncated?)",
                  where, *b, *e, data_size, size);
    t.offset = data_begin + *b;
    t.nbytes = *nbytes;
    f->tensors_.push_back(std::move(t));
  }
  header = json();

  // --- layout: sorted by offsets, the ranges must tile [0, data_size) exactly
  auto& ts = f->tensors_;
  std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.offset != b.offset) return a.offset < b.offset;
    if (a.nbytes != b.nbytes) return a.nbytes < b.nbytes;
    return a.name < b.name;
  });
  uint64_t pos = data_begin;
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& t = ts[i];
    if (t.offset < pos)
      throw_input("{}: tensor {} (data_offsets [{}, {}]) overlaps tensor {} which ends at {}", path, json_quote(t.name),
                  t.offset - data_begin, t.offset - data_begin + t.nbytes, json_quote(ts[i - 1].name), pos - data_begin);
    if (t.offset > pos)
      throw_input("{}: gap in the data: tensor {} starts at data offset {} but the bytes before end at {} "
                  "(tensor data must be contiguous from offset 0)",
                  path, json_quote(t.name), t.offset - data_begin, pos - data_begin);
    pos = t.offset + t.nbytes;
  }
  if (pos != size)
    throw_input("{}: tensors cover {} bytes of the {}-byte data region; {} trailing bytes are not part of any tensor",
                path, pos - data_begin, data_size, size - pos);
  for (size_t i = 0; i < ts.size(); ++i) f->index_[ts[i].name] = i;

  // --- map (after all validation)
  f->map_len_ = static_cast<size_t>(size);
  // Writable but private: a model whose parameters view the file may be modified in place (the
  // touched pages are copied); the file itself never changes.
  void* m = ::mmap(nullptr, f->map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
  if (m == MAP_FAILED) {
    f->map_len_ = 0;
    throw_input("{}: mmap of {} bytes failed: {}", path, size, std::strerror(errno));
  }
  f->map_ = m;
  advise_huge_file_pages(m, f->map_len_);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_len_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) throw_input("{}: no tensor named {}", path_, json_quote(name));
  return *t;
}

const uint8_t* SafetensorsFile::data(const TensorInfo& t) const {
  G4U_CHECK(t.offset <= file_size_ && t.nbytes <= file_size_ - t.offset,
            "tensor '{}' [{}, +{}) is not inside {} ({} bytes)", t.name, t.offset, t.nbytes, path_, file_size_);
  return static_cast<const uint8_t*>(map_) + t.offset;
}

namespace {
void check_bool_bytes(const uint8_t* p, uint64_t n, const std::string& path, const std::string& name) {
  for (uint64_t i = 0; i < n; ++i)
    if (p[i] > 1)
      throw_input("{}: tensor {}: BOOL element {} has byte value {} (must be 0 or 1)", path, json_quote(name), i,
                  static_cast<int>(p[i]));
}
}  // namespace

torch::Tensor SafetensorsFile::view(const std::string& name) const { return view(info(name)); }
torch::Tensor SafetensorsFile::load(const std::string& name) const { return load(info(name)); }

torch::Tensor SafetensorsFile::view(const TensorInfo& t) const {
  const uint8_t* p = data(t);
  if (t.dtype == DType::kBool) check_bool_bytes(p, t.nbytes, path_, t.name);
  auto opts = torch::TensorOptions().dtype(to_scalar_type(t.dtype)).device(torch::kCPU);
  if (t.nbytes == 0 || reinterpret_cast<uintptr_t>(p) % dtype_size(t.dtype) != 0) return load(t);
  std::shared_ptr<const SafetensorsFile> keep = shared_from_this();
  return torch::from_blob(const_cast<uint8_t*>(p), t.shape, [keep](void*) {}, opts);
}

void SafetensorsFile::release_pages(const TensorInfo& t) const { release_pages(t, 0, t.nbytes); }

void SafetensorsFile::release_pages(const TensorInfo& t, uint64_t begin, uint64_t end) const {
  G4U_CHECK(begin <= end && end <= t.nbytes, "release of bytes [{}, {}) of tensor '{}' ({} bytes)", begin, end, t.name,
            t.nbytes);
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<uintptr_t>(data(t));
  const uintptr_t lo = (first + begin + page - 1) & ~(page - 1);
  const uintptr_t hi = (first + end) & ~(page - 1);
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

torch::Tensor SafetensorsFile::load(const TensorInfo& t) const {
  const uint8_t* p = data(t);
  if (t.dtype == DType::kBool) check_bool_bytes(p, t.nbytes, path_, t.name);
  auto out = torch::empty(t.shape, torch::TensorOptions().dtype(to_scalar_type(t.dtype)).device(torch::kCPU));
  if (t.nbytes > 0) std::memcpy(out.data_ptr(), p, t.nbytes);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsWriter

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<TensorInfo> tensors,
                                     std::map<std::string, std::string> metadata)
    : path_(std::move(path)), tensors_(std::move(tensors)) {
  check_replaceable_output(path_);
  remove_stale_temps(path_);
  tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  std::set<std::string> seen;
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  uint64_t rel = 0;
  for (TensorInfo& t : tensors_) {
    G4U_CHECK(t.name != "__metadata__", "{}: a tensor cannot be named __metadata__", path_);
    G4U_CHECK(seen.insert(t.name).second, "{}: tensor '{}' declared twice", path_, t.name);
    for (int64_t d : t.shape) G4U_CHECK(d >= 0, "{}: tensor '{}' has negative dim in {}", path_, t.name, shape_str(t.shape));
    auto nb = checked_nbytes(t.shape, t.dtype, nullptr);
    G4U_CHECK(nb.has_value(), "{}: tensor '{}' shape {} overflows", path_, t.name, shape_str(t.shape));
    t.nbytes = *nb;
    uint64_t end = rel + t.nbytes;
    G4U_CHECK(end >= rel, "{}: total size overflows", path_);
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = dtype_name(t.dtype);
    e["shape"] = t.shape;
    e["data_offsets"] = {rel, end};
    h[t.name] = std::move(e);
    t.offset = rel;  // relative for now
    rel = end;
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const nlohmann::json::exception& e) {
    G4U_CHECK(false, "{}: cannot encode header (tensor or metadata names must be UTF-8): {}", path_, e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  G4U_CHECK(n <= kMaxSafetensorsHeaderBytes, "{}: header of {} bytes is over the limit", path_, n);
  for (TensorInfo& t : tensors_) t.offset += 8 + n;
  file_size_ = 8 + n + rel;

  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_input("{}: cannot create file: {}", tmp_path_, std::strerror(errno));
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(n >> (8 * i));
  append(len_bytes, 8);
  append(text.data(), text.size());
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void SafetensorsWriter::append(const void* data, size_t nbytes) {
  G4U_CHECK(fd_ >= 0, "{}: writer is closed (finished, or a write failed earlier)", path_);
  const auto* p = static_cast<const uint8_t*>(data);
  while (nbytes > 0) {
    size_t chunk = std::min<size_t>(nbytes, size_t{1} << 30);
    ssize_t w = ::write(fd_, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = errno;
      ::close(fd_);
      fd_ = -1;
      ::unlink(tmp_path_.c_str());
      throw_input("{}: write failed: {}", tmp_path_, w < 0 ? std::strerror(err) : "no progress");
    }
    p += w;
    nbytes -= static_cast<size_t>(w);
  }
}

const TensorInfo& SafetensorsWriter::expect_next(const std::string& name) {
  G4U_CHECK(!sealed_, "{}: write of '{}' after finish", path_, name);
  G4U_CHECK(next_ < tensors_.size(), "{}: all {} declared tensors are written; got '{}'", path_, tensors_.size(), name);
  G4U_CHECK(tensors_[next_].name == name, "{}: expected tensor '{}' next (declared order), got '{}'", path_,
            tensors_[next_].name, name);
  return tensors_[next_];
}

void SafetensorsWriter::write(const std::string& name, const torch::Tensor& t) {
  const TensorInfo& info = expect_next(name);
  G4U_CHECK(t.defined(), "{}: tensor '{}' is undefined", path_, name);
  G4U_CHECK(t.scalar_type() == to_scalar_type(info.dtype), "{}: tensor '{}' is {} but was declared {}", path_, name,
            c10::toString(t.scalar_type()), dtype_name(info.dtype));
  G4U_CHECK(t.sizes().vec() == info.shape, "{}: tensor '{}' has shape {} but was declared {}", path_, name,
            shape_str(t.sizes().vec()), shape_str(info.shape));
  torch::Tensor c = t;
  if (c.is_sparse()) c = c.to_dense();
  if (!c.device().is_cpu()) c = c.to(torch::kCPU);
  c = c.contiguous();
  if (info.nbytes > 0) append(c.data_ptr(), static_cast<size_t>(info.nbytes));
  ++next_;
}

void SafetensorsWriter::write_raw(const std::string& name, const void* data, size_t nbytes) {
  G4U_CHECK(part_written_ == 0, "{}: tensor '{}' was started with write_part", path_, name);
  const TensorInfo& info = expect_next(name);
  G4U_CHECK(nbytes == info.nbytes, "{}: tensor '{}' needs {} bytes, got {}", path_, name, info.nbytes, nbytes);
  if (nbytes > 0) append(data, nbytes);
  ++next_;
}

void SafetensorsWriter::write_part(const std::string& name, const void* data, size_t nbytes) {
  const TensorInfo& info = expect_next(name);
  G4U_CHECK(part_written_ + nbytes <= info.nbytes, "{}: tensor '{}' needs {} bytes, got {} more after {}", path_, name,
            info.nbytes, nbytes, part_written_);
  if (nbytes > 0) append(data, nbytes);
  part_written_ += nbytes;
  if (part_written_ == info.nbytes) {
    part_written_ = 0;
    ++next_;
  }
}

void SafetensorsWriter::seal() {
  if (sealed_) return;
  G4U_CHECK(next_ == tensors_.size(), "{}: finish after {} of {} tensors; next is '{}'", path_, next_,
            tensors_.size(), next_ < tensors_.size() ? tensors_[next_].name : "");
  G4U_CHECK(fd_ >= 0, "{}: writer is closed (a write failed earlier)", path_);
  struct stat st;
  G4U_CHECK(::fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) == file_size_,
            "{}: wrote {} bytes, expected {}", tmp_path_, static_cast<uint64_t>(st.st_size), file_size_);
  int rc = ::fsync(fd_);
  int err = errno;
  rc |= ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw_input("{}: flushing to disk failed: {}", tmp_path_, std::strerror(err ? err : errno));
  sealed_ = true;
}

void SafetensorsWriter::commit() {
  G4U_CHECK(sealed_, "{}: commit before seal", path_);
  if (committed_) return;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw_input("{}: cannot rename {} into place: {}", path_, tmp_path_, std::strerror(errno));
  committed_ = true;
}

void SafetensorsWriter::finish() {
  seal();
  commit();
}

void sort_for_alignment(std::vector<TensorInfo>& tensors) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    size_t sa = dtype_size(a.dtype), sb = dtype_size(b.dtype);
    if (sa != sb) return sa > sb;
    return a.name < b.name;
  });
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<TensorInfo> infos;
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, t] : tensors) {
    TensorInfo i;
    i.name = name;
    i.dtype = from_scalar_type(t.scalar_type());
    i.shape = t.sizes().vec();
    infos.push_back(std::move(i));
    G4U_CHECK(by_name.emplace(name, &t).second, "{}: tensor '{}' given twice", path, name);
  }
  sort_for_alignment(infos);
  SafetensorsWriter w(path, infos, metadata);
  for (const TensorInfo& i : infos) w.write(i.name, *by_name.at(i.name));
  w.finish();
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

namespace {
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";
}  // namespace

Checkpoint Checkpoint::open(const std::string& dir_or_file) {
  Checkpoint c;
  std::error_code ec;
  fs::file_status st = fs::status(dir_or_file, ec);
  if (ec || !fs::exists(st)) throw_input("{}: no such file or directory", dir_or_file);
  std::string file = dir_or_file;
  if (fs::is_directory(st)) {
    fs::path d(dir_or_file);
    if (fs::exists(d / kSingleFile, ec)) {
      file = (d / kSingleFile).string();
    } else if (fs::exists(d / kIndexFile, ec)) {
      file = (d / kIndexFile).string();
    } else {
      throw_input("{}: checkpoint directory has neither {} nor {}", dir_or_file, kSingleFile, kIndexFile);
    }
  }
  c.path_ = file;

  if (!ends_with(file, ".json")) {
    c.files_.push_back(SafetensorsFile::open(file));
    for (const TensorInfo& t : c.files_[0]->tensors()) c.entries_[t.name] = Entry{0, &t};
    return c;
  }

  // --- sharded: index.json
  const std::string& idx = file;
  json j = parse_json_strict(read_text_file(idx), idx);
  if (!j.is_object()) throw_input("{}: index must be a JSON object, got {}", idx, j.type_name());
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) throw_input("{}: metadata must be an object, got {}", idx, m->type_name());
    if (auto ts = m->find("total_size"); ts != m->end() && !ts->is_null()) {
      std::optional<uint64_t> v = as_size(*ts);
      if (!v && ts->is_number_float()) {
        double d = ts->get<double>();
        if (d >= 0 && d < 9e15 && d == static_cast<double>(static_cast<uint64_t>(d))) v = static_cast<uint64_t>(d);
      }
      if (!v) throw_input("{}: metadata.total_size must be a non-negative integer, got {}", idx, short_dump(*ts));
      c.index_total_size_ = v;
    }
  }
  auto wm = j.find("weight_map");
  if (wm == j.end()) throw_input("{}: missing weight_map", idx);
  if (!wm->is_object()) throw_input("{}: weight_map must be an object of tensor name -> shard file, got {}", idx,
                                    wm->type_name());
  const fs::path dir = fs::path(idx).parent_path();
  std::map<std::string, size_t> shard_ids;  // shard file -> index in files_
  std::map<std::string, std::string> listed;  // tensor -> shard file
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string())
      throw_input("{}: weight_map[{}] must be a shard file name, got {}", idx, json_quote(it.key()), short_dump(*it));
    std::string shard = it->get<std::string>();
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
      throw_input("{}: weight_map[{}]: shard file name {} must be a plain file name in the index's directory", idx,
                  json_quote(it.key()), json_quote(shard));
    listed[it.key()] = shard;
    if (!shard_ids.count(shard)) shard_ids.emplace(shard, 0);
  }
  for (auto& [shard, id] : shard_ids) {
    fs::path p = dir / shard;
    if (!fs::is_regular_file(p, ec)) {
      const std::string& example = std::find_if(listed.begin(), listed.end(), [&s = shard](const auto& kv) {
                                     return kv.second == s;
                                   })->first;
      throw_input("{}: shard file {} (listed for tensor {}) does not exist", idx, json_quote(p.string()), json_quote(example));
    }
    id = c.files_.size();
    c.files_.push_back(SafetensorsFile::open(p.string()));
  }
  for (const auto& [name, shard] : listed) {
    size_t id = shard_ids.at(shard);
    const TensorInfo* t = c.files_[id]->find(name);
    if (!t) throw_input("{}: tensor {} is listed in shard {} but that file has no such tensor", idx, json_quote(name), json_quote(shard));
    c.entries_[name] = Entry{id, t};
  }
  for (const auto& [shard, id] : shard_ids) {
    for (const TensorInfo& t : c.files_[id]->tensors()) {
      auto it = listed.find(t.name);
      if (it == listed.end())
        throw_input("{}: tensor {} is in shard {} but not in weight_map", idx, json_quote(t.name), json_quote(shard));
      if (it->second != shard)
        throw_input("{}: tensor {} is present in two shards: {} (per weight_map) and {}", idx, json_quote(t.name),
                    json_quote(it->second), json_quote(shard));
    }
  }
  return c;
}

const Checkpoint::Entry& Checkpoint::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw_input("{}: checkpoint has no tensor named {}", path_, json_quote(name));
  return it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

bool Checkpoint::contains(const std::string& name) const { return entries_.count(name) > 0; }
const TensorInfo& Checkpoint::info(const std::string& name) const { return *entry(name).info; }
const std::string& Checkpoint::disk_name(const std::string& name) const { return entry(name).info->name; }
const SafetensorsFile& Checkpoint::file_of(const std::string& name) const { return *files_[entry(name).file]; }

torch::Tensor Checkpoint::view(const std::string& name) const {
  const Entry& e = entry(name);
  return files_[e.file]->view(*e.info);
}

torch::Tensor Checkpoint::load(const std::string& name) const {
  const Entry& e = entry(name);
  return files_[e.file]->load(*e.info);
}

void Checkpoint::release_pages(const std::string& name) const {
  const Entry& e = entry(name);
  files_[e.file]->release_pages(*e.info);
}

void Checkpoint::release_pages(const std::string& name, uint64_t begin, uint64_t end) const {
  const Entry& e = entry(name);
  files_[e.file]->release_pages(*e.info, begin, end);
}

void Checkpoint::rename(const std::function<std::string(const std::string&)>& fn) {
  std::map<std::string, Entry> next;
  for (const auto& kv : entries_) {
    const Entry& e = kv.second;
    std::string mapped = fn(e.info->name);
    auto [it, inserted] = next.emplace(mapped, e);
    if (!inserted)
      throw_input("{}: tensors {} and {} both map to the name {}", path_, json_quote(it->second.info->name),
                  json_quote(e.info->name), json_quote(mapped));
  }
  entries_ = std::move(next);
}

// ---------------------------------------------------------------------------------------------
// ShardedCheckpointWriter

ShardedCheckpointWriter::ShardedCheckpointWriter(std::string dir, std::vector<TensorInfo> tensors,
                                                 uint64_t max_shard_bytes, std::map<std::string, std::string> metadata)
    : dir_(std::move(dir)), metadata_(std::move(metadata)) {
  G4U_CHECK(max_shard_bytes > 0, "max_shard_bytes must be positive");
  metadata_.emplace("format", "pt");
  uint64_t cur = 0;
  for (TensorInfo& t : tensors) {
    auto nb = checked_nbytes(t.shape, t.dtype, nullptr);
    G4U_CHECK(nb.has_value(), "tensor '{}' shape {} overflows", t.name, shape_str(t.shape));
    if (shard_tensors_.empty() || (!shard_tensors_.back().empty() && cur + *nb > max_shard_bytes)) {
      shard_tensors_.emplace_back();
      cur = 0;
    }
    G4U_CHECK(shard_index_.emplace(t.name, shard_tensors_.size() - 1).second, "tensor '{}' declared twice", t.name);
    cur += *nb;
    total_bytes_ += *nb;
    shard_tensors_.back().push_back(std::move(t));
  }
  if (shard_tensors_.empty()) shard_tensors_.emplace_back();
  const size_t n = shard_tensors_.size();
  for (size_t i = 0; i < n; ++i)
    shard_files_.push_back(n == 1 ? std::string(kSingleFile)
                                  : fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, n));
  // Fail early (before any data is produced) if the directory is not writable.
  writers_.push_back(std::make_unique<SafetensorsWriter>((fs::path(dir_) / shard_files_[0]).string(),
                                                         shard_tensors_[0], metadata_));
}

ShardedCheckpointWriter::~ShardedCheckpointWriter() = default;  // each unfinished writer removes its temp file

const std::string& ShardedCheckpointWriter::shard_of(const std::string& name) const {
  auto it = shard_index_.find(name);
  G4U_CHECK(it != shard_index_.end(), "no tensor '{}' declared", name);
  return shard_files_[it->second];
}

SafetensorsWriter& ShardedCheckpointWriter::writer_for(const std::string& name) {
  G4U_CHECK(!finished_, "{}: write of '{}' after finish", dir_, name);
  auto it = shard_index_.find(name);
  G4U_CHECK(it != shard_index_.end(), "{}: tensor '{}' was not declared", dir_, name);
  const size_t s = it->second;
  SafetensorsWriter* cur = writers_.back().get();
  if (s + 1 == writers_.size()) return *cur;
  // Moving on to the next shard is only right once the current one is complete (this also catches
  // out-of-order writes across shards).
  G4U_CHECK(s == writers_.size() && cur->tensors_written() == cur->tensors().size(),
            "{}: tensor '{}' written out of declared order", dir_, name);
  cur->seal();
  writers_.push_back(std::make_unique<SafetensorsWriter>((fs::path(dir_) / shard_files_[s]).string(),
                                                         shard_tensors_[s], metadata_));
  return *writers_.back();
}

void ShardedCheckpointWriter::write(const std::string& name, const torch::Tensor& t) { writer_for(name).write(name, t); }

void ShardedCheckpointWriter::write_raw(const std::string& name, const void* data, size_t nbytes) {
  writer_for(name).write_raw(name, data, nbytes);
}

void ShardedCheckpointWriter::finish() {
  G4U_CHECK(!finished_, "{}: finish called twice", dir_);
  G4U_CHECK(writers_.size() == shard_files_.size(), "{}: finish after {} of {} shards were started", dir_,
            writers_.size(), shard_files_.size());
  writers_.back()->seal();  // checks that every tensor of the last shard was written
  for (auto& w : writers_) w->commit();
  const fs::path dir(dir_);
  std::error_code ec;
  if (shard_files_.size() == 1) {
    fs::remove(dir / kIndexFile, ec);
  } else {
    json wm = json::object();
    for (const auto& [name, s] : shard_index_) wm[name] = shard_files_[s];
    json index = json::object();
    index["metadata"] = json::object({{"total_size", total_bytes_}});
    index["weight_map"] = std::move(wm);
    write_file_atomic((dir / kIndexFile).string(), index.dump(2) + "\n");
    fs::remove(dir / kSingleFile, ec);
  }
  finished_ = true;
}

}  // namespace g4u::model
