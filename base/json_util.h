// Reading JSON objects with errors that name the place: "<file>: <path>.<key>: expected ...".
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <istream>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace g4u {

// Limits on what is read whole into memory (nlohmann's tree takes several times the text): a JSON
// file (config.json, tokenizer.json ~33 MB for Gemma, quantization.json, results.json, experiment
// files) and one line of a JSON Lines file (a manifest line with inline base64 media).
inline constexpr int64_t kMaxJsonFileBytes = int64_t(256) << 20;
inline constexpr int64_t kMaxJsonLineBytes = int64_t(64) << 20;

// Parses a whole JSON file; InputError names the file (and line/column for syntax errors), also for
// a file over kMaxJsonFileBytes, which is not read.
nlohmann::json read_json_file(const std::string& path);
// std::getline that reads at most `max_bytes` (without the newline): false at the end of the input;
// InputError "<where>: a line longer than <max_bytes> bytes ..." for a longer line, of which no
// more than `max_bytes` were read.
bool getline_bounded(std::istream& in, std::string& line, int64_t max_bytes, const std::string& where);
// InputError when `path` exists and is not a regular file: an output must never replace a folder,
// device or pipe (a temp-file rename would turn /dev/null into a regular file).
void check_replaceable_output(const std::string& path);
// Writes `text` to path + ".tmp.<pid>" and renames it over `path`, so readers never see half a file
// (check_replaceable_output first);
// a failed write (e.g. a full disk) removes the temp file and names `path` and the reason.
void write_file_atomic(const std::string& path, const std::string& text);
// Creates the output folder `path` and its parents (nothing if it exists); InputError
// "<flag> <path>: cannot create folder: <reason>" when the file system refuses (a read-only place,
// a file where a folder is needed).
void create_output_folder(const std::string& path, const std::string& flag = "--out");
std::string read_text_file(const std::string& path);
// Parses one JSON Lines line that must hold an object; InputError "<where>: invalid JSON: ..." or
// "<where>: expected a JSON object, got <type>".
nlohmann::json parse_json_object_line(const std::string& text, const std::string& where);

// A view of one JSON object that remembers where it came from and which keys were read.
class JsonObject {
 public:
  JsonObject(const nlohmann::json& j, std::string where);
  // It keeps a pointer to `j`: a temporary would dangle (ASan: stack-use-after-scope).
  JsonObject(nlohmann::json&& j, std::string where) = delete;

  const std::string& where() const { return where_; }
  bool has(const std::string& key) const;  // present and not null
  const nlohmann::json& raw(const std::string& key);  // marks read; must exist

  int64_t get_int(const std::string& key, std::optional<int64_t> def = std::nullopt);
  double get_double(const std::string& key, std::optional<double> def = std::nullopt);
  bool get_bool(const std::string& key, std::optional<bool> def = std::nullopt);
  std::string get_string(const std::string& key, std::optional<std::string> def = std::nullopt);
  std::optional<double> get_optional_double(const std::string& key);
  std::vector<int64_t> get_int_list(const std::string& key);  // int or [int...]
  JsonObject object(const std::string& key);

  // Path of a key for messages: "<where>: <key>".
  std::string field(const std::string& key) const;
  void mark_read(const std::string& key) { read_.insert(key); }
  // Keys present in the object that were never read.
  std::vector<std::string> unread_keys() const;

 private:
  const nlohmann::json* j_;
  std::string where_;
  std::set<std::string> read_;
};

}  // namespace g4u
