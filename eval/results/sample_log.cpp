#include "eval/results/sample_log.h"

#include "eval/metrics.h"
#include "eval/text_normalize.h"
#include "eval/unicode.h"
#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unordered_map>

namespace g4u::runner {
namespace {

using json = nlohmann::json;

// Field readers: InputError "<where>: field '<key>': ..." on a missing field or a wrong type.
const json& need(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) throw_input("{}: field '{}': missing", where, key);
  return *it;
}
std::string get_str(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (!v.is_string()) throw_input("{}: field '{}': expected a string, got {}", where, key, v.type_name());
  return v.get<std::string>();
}
int64_t get_int(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (!v.is_number_integer()) throw_input("{}: field '{}': expected an integer, got {}", where, key, v.dump());
  return v.get<int64_t>();
}
int64_t get_count(const json& j, const char* key, const std::string& where) {
  int64_t v = get_int(j, key, where);
  if (v < 0) throw_input("{}: field '{}': expected a count >= 0, got {}", where, key, v);
  return v;
}
double get_seconds(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (!v.is_number()) throw_input("{}: field '{}': expected a number, got {}", where, key, v.type_name());
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0) throw_input("{}: field '{}': expected seconds >= 0, got {}", where, key, d);
  return d;
}
bool get_bool(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (!v.is_boolean()) throw_input("{}: field '{}': expected true or false, got {}", where, key, v.dump());
  return v.get<bool>();
}
std::vector<std::string> get_str_list(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  if (!v.is_array()) throw_input("{}: field '{}': expected a list of strings, got {}", where, key, v.type_name());
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) throw_input("{}: field '{}[{}]': expected a string, got {}", where, key, i, v[i].type_name());
    out.push_back(v[i].get<std::string>());
  }
  return out;
}
std::optional<std::string> get_opt_str(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw_input("{}: field '{}': expected a string or null, got {}", where, key, it->type_name());
  return it->get<std::string>();
}

}  // namespace

std::string sanitize_utf8(const std::string& s, bool* lossy) {
  if (lossy) *lossy = false;
  std::string out;
  size_t i = 0;
  bool last_replaced = false;
  while (i < s.size()) {
    size_t bad = 0;
    std::string_view rest(s.data() + i, s.size() - i);
    if (eval::utf8_decode(rest, &bad)) {
      out.append(rest);
      break;
    }
    if (bad > 0) {
      out.append(rest.substr(0, bad));
      last_replaced = false;
    }
    if (!last_replaced) out += "\xEF\xBF\xBD";
    last_replaced = true;
    if (lossy) *lossy = true;
    i += bad + 1;
  }
  return out;
}

json record_to_json(const SampleRecord& r) {
  json j = json::object();
  j["v"] = kSampleRecordVersion;
  j["id"] = r.id;
  j["task"] = r.task;
  j["metric"] = r.metric;
  j["normalizer"] = r.normalizer;
  j["prompt_hash"] = r.prompt_hash;
  j["prompt_tokens"] = r.prompt_tokens;
  j["new_tokens"] = r.new_tokens;
  j["max_new_tokens"] = r.max_new_tokens;
  j["stopped"] = r.stopped;
  j["prediction"] = r.prediction;
  if (r.prediction_lossy) j["prediction_lossy"] = true;
  j["references"] = r.references;
  if (!r.choices.empty()) j["choices"] = r.choices;
  if (r.cluster) j["cluster"] = *r.cluster;
  if (r.group) j["group"] = *r.group;
  if (r.question_type) j["question_type"] = *r.question_type;
  if (r.answer_type) j["answer_type"] = *r.answer_type;
  if (r.precision) j["precision"] = *r.precision;
  if (!r.breakdown.empty()) {
    json b = json::object();
    for (const auto& [name, values] : r.breakdown) b[name] = values.size() == 1 ? json(values[0]) : json(values);
    j["breakdown"] = b;
  }
  j["extracted"] = r.extracted;
  j["score"] = r.score ? json(*r.score) : json(nullptr);
  j["parsed"] = r.parsed;
  if (!r.rule.empty()) j["rule"] = r.rule;
  if (!r.error.empty()) j["error"] = r.error;
  j["ttft_s"] = r.ttft_s;
  j["token_s"] = r.token_s;
  const BatchTiming& b = r.batch;
  j["batch"] = {{"id", b.id},
                {"size", b.size},
                {"prompt_tokens", b.prompt_tokens},
                {"new_tokens", b.new_tokens},
                {"preprocess_s", b.preprocess_s},
                {"embed_s", b.embed_s},
                {"prefill_s", b.prefill_s},
                {"decode_s", b.decode_s},
                {"kv_cache_bytes", b.kv_cache_bytes}};
  return j;
}

SampleRecord record_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw_input("{}: expected a JSON object, got {}", where, j.type_name());
  int64_t v = get_int(j, "v", where);
  if (v != kSampleRecordVersion)
    throw_input("{}: field 'v': sample record version {} (this g4u reads version {})", where, v, kSampleRecordVersion);
  SampleRecord r;
  r.where = where;
  r.id = get_str(j, "id", where);
  if (r.id.empty()) throw_input("{}: field 'id': empty", where);
  r.task = get_str(j, "task", where);
  r.metric = get_str(j, "metric", where);
  eval::metric_registry().find(r.metric, fmt::format("{}: field 'metric'", where));
  r.normalizer = get_str(j, "normalizer", where);
  eval::normalizer_registry().find(r.normalizer, fmt::format("{}: field 'normalizer'", where));
  r.prompt_hash = get_str(j, "prompt_hash", where);
  r.prompt_tokens = get_count(j, "prompt_tokens", where);
  r.new_tokens = get_count(j, "new_tokens", where);
  r.max_new_tokens = get_count(j, "max_new_tokens", where);
  r.stopped = get_bool(j, "stopped", where);
  r.prediction = get_str(j, "prediction", where);
  if (j.contains("prediction_lossy")) r.prediction_lossy = get_bool(j, "prediction_lossy", where);
  r.references = get_str_list(j, "references", where);
  if (r.references.empty()) throw_input("{}: field 'references': empty list", where);
  if (j.contains("choices")) r.choices = get_str_list(j, "choices", where);
  r.cluster = get_opt_str(j, "cluster", where);
  r.group = get_opt_str(j, "group", where);
  r.question_type = get_opt_str(j, "question_type", where);
  r.answer_type = get_opt_str(j, "answer_type", where);
  if (j.contains("precision") && !j["precision"].is_null()) r.precision = static_cast<int>(get_int(j, "precision", where));
  if (j.contains("breakdown") && !j["breakdown"].is_null()) {
    const json& b = j["breakdown"];
    if (!b.is_object()) throw_input("{}: field 'breakdown': expected an object, got {}", where, b.type_name());
    for (const auto& [name, v] : b.items()) {
      if (v.is_string()) r.breakdown[name] = {v.get<std::string>()};
      else r.breakdown[name] = get_str_list(b, name.c_str(), where + ": breakdown");
    }
  }
  r.extracted = need(j, "extracted", where);
  const json& s = need(j, "score", where);
  if (!s.is_null() && !s.is_number()) throw_input("{}: field 'score': expected a number or null, got {}", where, s.type_name());
  if (s.is_number()) r.score = s.get<double>();
  r.parsed = get_bool(j, "parsed", where);
  if (j.contains("rule")) r.rule = get_str(j, "rule", where);
  if (j.contains("error")) r.error = get_str(j, "error", where);
  r.ttft_s = get_seconds(j, "ttft_s", where);
  const json& ts = need(j, "token_s", where);
  if (!ts.is_array()) throw_input("{}: field 'token_s': expected a list of seconds, got {}", where, ts.type_name());
  for (size_t i = 0; i < ts.size(); ++i) {
    if (!ts[i].is_number() || !std::isfinite(ts[i].get<double>()) || ts[i].get<double>() < 0)
      throw_input("{}: field 'token_s[{}]': expected seconds >= 0, got {}", where, i, ts[i].dump());
    r.token_s.push_back(ts[i].get<double>());
  }
  const json& b = need(j, "batch", where);
  if (!b.is_object()) throw_input("{}: field 'batch': expected an object, got {}", where, b.type_name());
  std::string bw = where + ": batch";
  r.batch.id = get_str(b, "id", bw);
  r.batch.size = get_count(b, "size", bw);
  if (r.batch.size < 1) throw_input("{}: field 'size': expected >= 1", bw);
  r.batch.prompt_tokens = get_count(b, "prompt_tokens", bw);
  r.batch.new_tokens = get_count(b, "new_tokens", bw);
  r.batch.preprocess_s = get_seconds(b, "preprocess_s", bw);
  r.batch.embed_s = get_seconds(b, "embed_s", bw);
  r.batch.prefill_s = get_seconds(b, "prefill_s", bw);
  r.batch.decode_s = get_seconds(b, "decode_s", bw);
  r.batch.kv_cache_bytes = get_count(b, "kv_cache_bytes", bw);
  return r;
}

SampleLog read_sample_log(const std::string& path, bool repair) {
  SampleLog log;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (::access(path.c_str(), F_OK) != 0) return log;  // no log yet
    throw_input("{}: cannot open file", path);
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::unordered_map<std::string, size_t> seen;  // id -> line
  size_t pos = 0, lineno = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    bool complete = nl != std::string::npos;
    size_t end = complete ? nl : data.size();
    std::string line = data.substr(pos, end - pos);
    ++lineno;
    bool last = !complete || end + 1 >= data.size();
    std::string where = path + ":" + std::to_string(lineno);
    if (!complete) {  // a crash while writing this line
      log.torn_tail = true;
      break;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      pos = end + 1;
      log.valid_bytes = pos;
      continue;
    }
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {  // syntax, or a number beyond double's range (1e999)
      if (last) {  // garbage in the last line (e.g. zero-filled after a power cut): treat as torn
        log.torn_tail = true;
        break;
      }
      throw_input("{}: invalid JSON (only the last line of a sample log may be incomplete): {}", where, e.what());
    }
    SampleRecord r = record_from_json(j, where);
    auto [it, fresh] = seen.emplace(r.id, lineno);
    if (!fresh) throw_input("{}: field 'id': '{}' already logged on line {}", where, r.id, it->second);
    log.records.push_back(std::move(r));
    ++log.lines;
    pos = end + 1;
    log.valid_bytes = pos;
  }
  if (log.torn_tail && repair) {
    if (::truncate(path.c_str(), static_cast<off_t>(log.valid_bytes)) != 0)
      throw_input("{}: cannot cut the torn last line: {}", path, std::strerror(errno));
  }
  return log;
}

SampleLogWriter::SampleLogWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_input("{}: cannot open for appending: {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw_input("{}: another run is writing this log (locked); wait for it or use another --out", path);
  }
}

SampleLogWriter::~SampleLogWriter() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void SampleLogWriter::append(const SampleRecord& r) { append_json(record_to_json(r)); }

void SampleLogWriter::append_json(const nlohmann::json& object) {
  std::string line = object.dump() + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0 && errno != EINVAL)
    throw std::runtime_error(fmt::format("{}: fdatasync failed: {}", path_, std::strerror(errno)));
}

void read_jsonl_log(const std::string& path, bool repair,
                    const std::function<void(const nlohmann::json& object, const std::string& where)>& line_fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0, valid = 0;
  for (size_t lineno = 1; pos < data.size(); ++lineno) {
    const size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;  // torn by an interruption: that line's work is redone
    const std::string line = data.substr(pos, nl - pos);
    const bool last = nl + 1 >= data.size();
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      valid = pos;
      continue;
    }
    const std::string where = fmt::format("{}:{}", path, lineno);
    nlohmann::json j;
    try {
      j = parse_json_object_line(line, where);
    } catch (const InputError&) {
      if (last) break;  // garbage in the last line (e.g. zero-filled after a power cut): torn too
      throw;
    }
    line_fn(j, where);
    valid = pos;
  }
  // Lines appended after a torn tail would otherwise join it into one unreadable line.
  if (repair && valid < data.size() && ::truncate(path.c_str(), static_cast<off_t>(valid)) != 0)
    throw_input("{}: cannot cut the torn last line: {}", path, std::strerror(errno));
}

}  // namespace g4u::runner
