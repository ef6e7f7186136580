// Adapters from exported public benchmark releases to manifests (`g4u data import`).
//
// The data cannot be downloaded here, so datasets/convert/export_benchmark.py (run where the data
// is) writes each release as an "export folder": export.json (which release, split, revision),
// rows.jsonl (one row per line, the release's own field names and values) and media files. A media
// column holds {"path": "<file in the export>", "source_path": "<the release's file name or null>"};
// MathVista's and MATH-Vision's `image` and MMAU's `audio_id` are the release's own relative paths. Each adapter maps
// a row to a manifest line with the prompt fields the reference harness uses (lmms-eval, per
// shared/docs/eval-benchmarks.md §2-§3); datasets/README.md lists the mapping of every benchmark.
#pragma once

#include "base/registry.h"
#include "datasets/manifest/media.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace g4u::datasets {

struct BenchmarkRow;  // adapter-internal context of one row

struct BenchmarkInfo {
  std::string name;         // mmmu, mmmu-pro, mathvista, mathvision, chartqa, docvqa, infovqa, ai2d, textvqa, mmbench, ...
  std::string description;
  std::string release;      // the public release the converter reads (HF id or repository)
  std::string split;        // the split the reference numbers use
  int64_t expected_rows = 0;  // row count of that split (eval-benchmarks.md §7); 0 when it varies
  std::vector<std::string> tasks;  // tasks its lines use
  std::function<nlohmann::ordered_json(BenchmarkRow&)> convert;
};

// Adding a benchmark = adding its converter and one record in build_benchmark_registry().
const Registry<BenchmarkInfo>& benchmark_registry();
// InputError "--benchmark: unknown benchmark 'x' (known: ...)".
inline const BenchmarkInfo& find_benchmark(const std::string& name) {
  return benchmark_registry().find(name, "--benchmark");
}
inline std::string benchmark_names() { return benchmark_registry().names(); }

struct ImportOptions {
  std::string benchmark;
  std::string input;  // export folder
  std::string out;    // manifest folder to create
  bool skip_invalid = false;   // skip rows that do not convert (reported) instead of failing
  bool overwrite = false;      // replace an existing non-empty `out`
  bool strict_count = false;   // a row count different from expected_rows is an error
  MediaCheck media = MediaCheck::kHeader;
};

// Writes <out>/manifest.jsonl, <out>/import.json and <out>/media/* (hard links to the export's
// files where possible, copies otherwise) through a temporary folder renamed into place. Every
// written line is re-validated with parse_sample. Returns import.json's content. InputError
// naming rows.jsonl:line and the field for a row that does not convert (unless skip_invalid).
nlohmann::json import_benchmark(const ImportOptions& options);

// What an import would write, without writing anything (`g4u run --dry-run`): every row
// converted and validated as import_benchmark does, media checked at `options.media` (header: image
// sizes and audio lengths are read). `options.out` is not used.
struct PreviewLine {
  nlohmann::json line;          // the manifest line (media paths relative to `dir`)
  std::vector<MediaInfo> media; // the headers of the row's media, in the order the adapter read them
};
struct ImportPreview {
  std::string dir;    // the export folder (absolute)
  nlohmann::json info;  // what import.json would hold
  std::vector<PreviewLine> lines;
};
ImportPreview preview_import(const ImportOptions& options);

// Python literal list of strings, as MMMU's `options` field stores it ("['a', \"b's\"]"):
// single or double quotes, backslash escapes (\\ \' \" \n \t \r \xHH \uHHHH \UHHHHHHHH).
// Returns false for anything else.
bool parse_python_string_list(const std::string& text, std::vector<std::string>* out);

}  // namespace g4u::datasets
