// The per-sample log of an evaluation (`<out>/samples.jsonl`): one JSON object per line, appended
// and flushed to disk as each sample finishes, so a crashed or killed run loses nothing and resumes
// where it stopped. Every statistic of results.json is recomputed from these records (also by
// `g4u merge` over shards). Record fields: eval/runner/README.md §2.
//
// A line is also a valid `g4u score` input line (prediction, references, choices, cluster, group,
// question_type, answer_type, precision).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace g4u::runner {

constexpr int kSampleRecordVersion = 1;

// What one generate() call (a batch of samples of one task) measured; repeated in each of its rows'
// records, told apart by `id` so aggregates count each batch once.
struct BatchTiming {
  std::string id;              // unique per generate() call: "<run id>/<k>"
  int64_t size = 0;            // rows
  int64_t prompt_tokens = 0;   // real (unpadded) prompt tokens, summed over the rows
  int64_t new_tokens = 0;      // generated tokens, summed over the rows
  double preprocess_s = 0;     // media decode + patchify/framing, chat rendering, tokenizing
  double embed_s = 0;          // soft tokens of the media (inside the prefill)
  double prefill_s = 0;        // prompt forward + first token = time to first token
  double decode_s = 0;         // every later token
  int64_t kv_cache_bytes = 0;  // K/V held after the last step
};

struct SampleRecord {
  std::string id, task, metric, normalizer;
  std::string prompt_hash;  // "fnv1a64:<16 hex>" of the rendered prompt text and each media file's bytes
  int64_t prompt_tokens = 0;
  int64_t new_tokens = 0;   // generated tokens (a stop token included)
  bool stopped = false;     // ended on a stop token (else: hit max_new_tokens)
  int64_t max_new_tokens = 0;
  std::string prediction;   // raw output: decoded with special tokens, stop token dropped
  bool prediction_lossy = false;  // invalid UTF-8 bytes of the output were replaced by U+FFFD
  std::vector<std::string> references, choices;
  std::optional<std::string> cluster, group, question_type, answer_type;
  std::optional<int> precision;
  // Breakdown groups of the sample ("subject" -> {"Art"}, "skill" -> {"algebraic reasoning", ...}),
  // from its manifest line's meta by the task's breakdowns (datasets/tasks/tasks.h).
  std::map<std::string, std::vector<std::string>> breakdown;
  // Per-sample scoring (results.json rescoring the whole task is authoritative).
  nlohmann::json extracted;          // null when nothing was extracted
  std::optional<double> score;       // null where undefined (WER of an empty reference)
  bool parsed = true;
  std::string rule;
  std::string error;                 // non-empty: the sample failed before generation; scored as an empty output
  double ttft_s = 0;                 // = batch prefill_s
  std::vector<double> token_s;       // latency of each of this row's tokens after the first
  BatchTiming batch;
  std::string where;  // "file:line" when read from a log (not written)
};

nlohmann::json record_to_json(const SampleRecord& r);
// InputError "<where>: field '<name>': <problem>" for a missing field or a wrong type.
SampleRecord record_from_json(const nlohmann::json& j, const std::string& where);

struct SampleLog {
  std::vector<SampleRecord> records;
  size_t lines = 0;            // complete lines read
  bool torn_tail = false;      // the last line was incomplete (a crash mid-write) and is ignored
  uint64_t valid_bytes = 0;    // length of the file up to the end of the last good line
};

// Reads a sample log. The last line is "torn" when it lacks its newline or does not parse: it is
// ignored (and, with `repair`, cut off the file so appends start on a fresh line). Any other bad
// line, or an id logged twice, is an InputError naming file:line and the field. A missing file
// reads as an empty log.
SampleLog read_sample_log(const std::string& path, bool repair = false);

// Appends records; each append is one write() of the whole line followed by fdatasync(), so a crash
// leaves at most one torn last line. Holds an exclusive lock on the file: a second writer is an
// InputError ("another run is writing").
class SampleLogWriter {
 public:
  explicit SampleLogWriter(const std::string& path);
  ~SampleLogWriter();
  SampleLogWriter(const SampleLogWriter&) = delete;
  SampleLogWriter& operator=(const SampleLogWriter&) = delete;
  void append(const SampleRecord& r);
  void append_json(const nlohmann::json& line);  // any one-line JSON object (e.g. a judge decision)

 private:
  std::string path_;
  int fd_ = -1;
};

// Reads an append-only JSONL log other than samples.jsonl (speculative.jsonl, judge.jsonl): calls
// `line` with each complete line's object and its "file:line". A torn last line (no newline, or
// garbage after a power cut) is ignored, and with `repair` cut from the file so that the next append
// starts a line of its own. A missing file calls nothing. Any other bad line is an InputError naming
// the file and line, as is whatever `line` throws.
void read_jsonl_log(const std::string& path, bool repair,
                    const std::function<void(const nlohmann::json& object, const std::string& where)>& line);

// Invalid UTF-8 sequences replaced by U+FFFD (one per maximal invalid run of bytes); `lossy` is set
// when anything was replaced.
std::string sanitize_utf8(const std::string& s, bool* lossy = nullptr);

}  // namespace g4u::runner
