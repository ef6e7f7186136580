#include "base/json_util.h"
#include "base/temp_files.h"

#include "base/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace g4u {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot open file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void create_output_folder(const std::string& path, const std::string& flag) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw_input("{} {}: cannot create folder: {}", flag, path, ec.message());
}

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(kMaxJsonFileBytes))
    throw_input("{}: {} bytes is more than g4u reads as one JSON file ({} bytes)", path, size, kMaxJsonFileBytes);
  std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based; turn it into line:column for the message.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    throw_input("{}:{}:{}: invalid JSON: {}", path, line, col, e.what());
  } catch (const nlohmann::json::exception& e) {
    // Valid syntax nlohmann cannot hold, e.g. a number beyond double's range (1e999).
    throw_input("{}: invalid JSON: {}", path, e.what());
  }
}

bool getline_bounded(std::istream& in, std::string& line, int64_t max_bytes, const std::string& where) {
  line.clear();
  std::streambuf* sb = in.rdbuf();
  bool extracted = false;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return extracted;
    }
    extracted = true;
    if (c == '\n') return true;
    if (static_cast<int64_t>(line.size()) >= max_bytes)
      throw_input("{}: a line longer than {} bytes (g4u's limit for one JSON Lines record; not read further)", where,
                  max_bytes);
    line.push_back(static_cast<char>(c));
  }
}

nlohmann::json parse_json_object_line(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number beyond double's range
    throw_input("{}: invalid JSON: {}", where, e.what());
  }
  if (!j.is_object()) throw_input("{}: expected a JSON object, got {}", where, j.type_name());
  return j;
}

void check_replaceable_output(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // nothing there yet
  if (!S_ISREG(st.st_mode))
    throw_input("{}: exists and is not a regular file (a folder, device or pipe); refusing to replace it", path);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  check_replaceable_output(path);
  remove_stale_temps(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = -1;
  // Any failure removes the temp file: nothing half-written is left for a later run to find.
  auto fail = [&](const char* what) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    throw_input("{}: {}: {}", path, what, std::strerror(err));
  };
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create its temp file");
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write failed");
    done += static_cast<size_t>(n);
  }
  // On disk before the rename: after a power loss the name holds the old or the new content, never
  // an empty file.
  if (::fsync(fd) != 0) fail("write failed");
  if (::close(fd) != 0) {
    fd = -1;
    fail("write failed");
  }
  fd = -1;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename the temp file into place");
}

JsonObject::JsonObject(const nlohmann::json& j, std::string where) : j_(&j), where_(std::move(where)) {
  if (!j.is_object()) throw_input("{}: expected a JSON object, got {}", where_, j.type_name());
}

std::string JsonObject::field(const std::string& key) const { return where_ + "." + key; }

bool JsonObject::has(const std::string& key) const {
  auto it = j_->find(key);
  return it != j_->end() && !it->is_null();
}

const nlohmann::json& JsonObject::raw(const std::string& key) {
  read_.insert(key);
  auto it = j_->find(key);
  if (it == j_->end()) throw_input("{}: missing required field", field(key));
  return *it;
}

namespace {
// The value of `key` (marked read), or nullptr when it is absent or null and `def` holds a default;
// InputError when a required key is missing.
template <typename T>
const nlohmann::json* value_or_default(JsonObject& o, const std::string& key, const std::optional<T>& def) {
  o.mark_read(key);
  if (o.has(key)) return &o.raw(key);
  if (def) return nullptr;
  throw_input("{}: missing required field", o.field(key));
}
}  // namespace

int64_t JsonObject::get_int(const std::string& key, std::optional<int64_t> def) {
  const nlohmann::json* p = value_or_default(*this, key, def);
  if (!p) return *def;
  const auto& v = *p;
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  throw_input("{}: expected an integer, got {}", field(key), v.dump());
}

double JsonObject::get_double(const std::string& key, std::optional<double> def) {
  const nlohmann::json* p = value_or_default(*this, key, def);
  if (!p) return *def;
  if (!p->is_number()) throw_input("{}: expected a number, got {}", field(key), p->dump());
  double d = p->get<double>();
  if (!std::isfinite(d)) throw_input("{}: not a finite number", field(key));
  return d;
}

std::optional<double> JsonObject::get_optional_double(const std::string& key) {
  read_.insert(key);
  if (!has(key)) return std::nullopt;
  return get_double(key);
}

bool JsonObject::get_bool(const std::string& key, std::optional<bool> def) {
  const nlohmann::json* p = value_or_default(*this, key, def);
  if (!p) return *def;
  if (!p->is_boolean()) throw_input("{}: expected true or false, got {}", field(key), p->dump());
  return p->get<bool>();
}

std::string JsonObject::get_string(const std::string& key, std::optional<std::string> def) {
  const nlohmann::json* p = value_or_default(*this, key, def);
  if (!p) return *def;
  if (!p->is_string()) throw_input("{}: expected a string, got {}", field(key), p->dump());
  return p->get<std::string>();
}

std::vector<int64_t> JsonObject::get_int_list(const std::string& key) {
  read_.insert(key);
  std::vector<int64_t> out;
  if (!has(key)) return out;
  const auto& v = (*j_)[key];
  auto one = [&](const nlohmann::json& x) {
    if (!x.is_number_integer()) throw_input("{}: expected integer ids, got {}", field(key), x.dump());
    out.push_back(x.get<int64_t>());
  };
  if (v.is_array()) {
    for (const auto& x : v) one(x);
  } else {
    one(v);
  }
  return out;
}

JsonObject JsonObject::object(const std::string& key) {
  read_.insert(key);
  auto it = j_->find(key);
  if (it == j_->end() || it->is_null()) throw_input("{}: missing required object", field(key));
  return JsonObject(*it, field(key));
}

std::vector<std::string> JsonObject::unread_keys() const {
  std::vector<std::string> out;
  for (auto it = j_->begin(); it != j_->end(); ++it)
    if (!read_.count(it.key())) out.push_back(it.key());
  return out;
}

}  // namespace g4u
