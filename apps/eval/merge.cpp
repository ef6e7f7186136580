// g4u merge: shard folders of `g4u eval --shard i/N` -> one samples.jsonl + results.json with every
// statistic recomputed from the merged per-sample records.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "eval/results/merge.h"

#include <fmt/format.h>

namespace g4u::app {
namespace {

Command merge_cmd("merge", "Merge `g4u eval --shard` output folders and recompute every statistic", [](CLI::App& sub) {
  auto o = std::make_shared<runner::MergeOptions>();
  auto json_out = std::make_shared<bool>(false);
  sub.add_option("dirs", o->dirs, "Shard output folders")->required();
  sub.add_option("--out", o->out, "Output folder (samples.jsonl, results.json)")->required();
  sub.add_option("--spellings", o->spellings, "UK->US spelling map for the whisper-en normalizer");
  sub.add_flag("--allow-partial", o->allow_partial, "Merge even with missing or incomplete shards (recorded in run)");
  sub.add_flag("--json", *json_out, "Print results.json on stdout");
  return [o, json_out]() -> int {
    nlohmann::json r = runner::merge_shards(*o);
    if (*json_out) {
      print_json(r);
    } else {
      fmt::print(stderr, "merged {} shard folders: {} samples -> {}/results.json\n", o->dirs.size(),
                 r["run"]["logged"].get<size_t>(), o->out);
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
