// JSONL manifests (format: datasets/README.md): one sample per line, validated line by line and
// streamed, so a manifest of any size is read in constant memory apart from the set of ids seen
// (needed to reject duplicates). Media are only checked here (existence / header / decode, see
// MediaCheck); consumers load them lazily from the MediaRefs of a Sample.
#pragma once

#include "datasets/manifest/media.h"
#include "datasets/manifest/shard.h"
#include "datasets/tasks/tasks.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace g4u::datasets {

struct ContentPart {
  enum class Kind { kText, kImage, kAudio };
  Kind kind = Kind::kText;
  std::string text;  // kText
  MediaRef media;    // kImage / kAudio
};

struct Message {
  std::string role;  // system | user | assistant
  std::vector<ContentPart> content;
};

struct Sample {
  std::string id;
  const TaskInfo* task = nullptr;  // from task_registry(), never null in a parsed sample
  std::string where;               // "file:line" of the line, for messages
  // Question form (messages empty): `question` (may be empty when the task's template does not
  // use it) with images and audios in order. Message form: the conversation, media inside it.
  std::string question;
  std::vector<MediaRef> images, audios;
  std::vector<Message> messages;
  std::vector<std::string> choices;
  std::vector<std::string> answers;  // as strings: numbers in canonical_number() form
  nlohmann::json meta = nlohmann::json::object();
  std::optional<std::string> cluster;

  bool has_messages() const { return !messages.empty(); }
  std::vector<const MediaRef*> media() const;  // every media item, in order of appearance
  // The metric's normalizer for this line: meta.normalizer if present, else the task's.
  std::string normalizer() const;
};

// Validates one parsed line. `dir` is the dataset folder (the manifest's folder); `where` is
// "file:line". InputError "<where>: field '<name>': <problem>" for anything wrong.
Sample parse_sample(const nlohmann::json& line, const std::string& dir, const std::string& where,
                    MediaCheck check = MediaCheck::kHeader);

struct ReaderOptions {
  bool skip_invalid = false;  // false: the first bad line throws; true: skip it and record why
  Shard shard;                // only lines whose id falls in this shard are returned
  MediaCheck media = MediaCheck::kHeader;
};

struct SkippedLine {
  size_t line = 0;
  std::string id;  // empty when the id could not be read
  std::string reason;
};

class ManifestReader {
 public:
  explicit ManifestReader(const std::string& path, ReaderOptions options = {});

  // The next valid sample of the shard, nullopt at the end. Throws InputError for a bad line
  // unless skip_invalid; throws at the end when the file holds no line at all.
  std::optional<Sample> next();

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  size_t lines() const { return lines_; }              // non-blank lines read so far
  size_t samples() const { return samples_; }          // samples returned so far
  size_t other_shards() const { return other_shards_; }  // valid-id lines left to other shards
  const std::vector<SkippedLine>& skipped() const { return skipped_; }
  // {"path", "shard", "media_check", "lines", "samples", "other_shards", "skipped",
  //  "skipped_lines": [{"line", "id", "reason"}], "tasks": {name: count}}
  nlohmann::json summary() const;

 private:
  std::string path_, dir_;
  ReaderOptions opt_;
  std::ifstream in_;
  size_t lineno_ = 0, lines_ = 0, samples_ = 0, other_shards_ = 0;
  bool done_ = false;
  std::unordered_map<std::string, size_t> first_line_;  // id -> line it was first seen on
  std::vector<SkippedLine> skipped_;
  std::map<std::string, size_t> tasks_;
};

// Reads a whole manifest (tests, small tools). Same errors as ManifestReader.
std::vector<Sample> read_manifest(const std::string& path, ReaderOptions options = {});

}  // namespace g4u::datasets
