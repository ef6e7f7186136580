// g4u data: synthetic task suites (synth), public benchmark exports -> manifests (import),
// manifest validation and sharding (check), and the task registry (tasks).
#include "apps/cli_util.h"
#include "apps/command.h"
#include "datasets/benchmarks/benchmarks.h"
#include "datasets/manifest/manifest.h"
#include "datasets/synth/synth.h"
#include "datasets/tasks/tasks.h"
#include "base/error.h"

#include <fmt/format.h>

#include <memory>

namespace g4u::app {
namespace {

using nlohmann::json;
namespace ds = g4u::datasets;

struct SynthFlags {
  ds::SynthOptions options;
  bool list = false, json = false;
};

struct ImportFlags {
  ds::ImportOptions options;  // but the media check, parsed from `media`
  std::string media = "header";
  bool list = false, json = false;
};

struct CheckFlags {
  std::string manifest, shard = "0/1", media = "header";
  bool skip_invalid = false, ids = false, json = false;
};

// The flags of the subcommands that write a manifest folder (synth, import).
void add_writer_flags(CLI::App& app, std::string& out, bool& overwrite, bool& list, bool& json, const char* list_help) {
  app.add_option("--out", out, "Output folder (created; must be empty unless --overwrite)");
  app.add_flag("--overwrite", overwrite, "Replace a non-empty output folder");
  app.add_flag("--list", list, list_help);
  app.add_flag("--json", json, "Print JSON on stdout");
}

int run_synth(const SynthFlags& f) {
  if (f.list) {
    json list = json::array();
    for (auto& s : ds::suite_registry().all()) list.push_back(ds::suite_json(s));
    if (f.json) {
      print_json({{"suites", list}});
    } else {
      for (auto& s : ds::suite_registry().all())
        fmt::print(stderr, "{:<14} {:<6} chance {:<8} {}\n", s.name, ds::modality_name(s.task->modality),
                   s.chance ? fmt::format("{:.4g}", *s.chance) : "n/a (WER)", s.task->description);
    }
    return 0;
  }
  const ds::SynthOptions& o = f.options;
  if (o.suite.empty()) throw_input("--suite: missing (one of: {})", ds::suite_names());
  if (o.out.empty()) throw_input("--out: missing");
  json r = ds::synthesize(o);
  if (f.json) print_json(r);
  else
    fmt::print(stderr, "{}: {} items (seed {}) in {} ({}, {:.2f} s); chance {}\n", o.suite, o.n, o.seed,
               r["out"].get<std::string>(), human_bytes(r["bytes"].get<double>()), r["seconds"].get<double>(),
               r["chance"].is_null() ? std::string("n/a (WER)") : r["chance"].dump());
  return 0;
}

int run_import(const ImportFlags& f) {
  if (f.list) {
    json list = json::array();
    for (auto& b : ds::benchmark_registry().all())
      list.push_back({{"name", b.name}, {"description", b.description}, {"release", b.release}, {"split", b.split},
                      {"expected_rows", b.expected_rows}, {"tasks", b.tasks}});
    if (f.json) print_json({{"benchmarks", list}});
    else
      for (auto& b : ds::benchmark_registry().all()) fmt::print(stderr, "{:<12} {:<48} {}\n", b.name, b.release, b.description);
    return 0;
  }
  ds::ImportOptions o = f.options;
  if (o.benchmark.empty()) throw_input("--benchmark: missing (one of: {})", ds::benchmark_names());
  o.media = ds::parse_media_check(f.media);
  json r = ds::import_benchmark(o);
  if (f.json) {
    print_json(r);
  } else {
    fmt::print(stderr, "{}: {} of {} rows -> {} ({} skipped)\n", o.benchmark, r["lines"].get<int64_t>(),
               r["rows"].get<int64_t>(), r["out"].get<std::string>(), r["skipped"].get<int64_t>());
    if (!r["row_count"]["matches"].get<bool>())
      fmt::print(stderr, "warning: {} rows, the reference split has {}\n", r["rows"].get<int64_t>(),
                 r["row_count"]["expected"].get<int64_t>());
    for (auto& s : r["skipped_rows"]) fmt::print(stderr, "  skipped: {}\n", s["reason"].get<std::string>());
  }
  return 0;
}

int run_check(const CheckFlags& f) {
  ds::ReaderOptions o;
  o.skip_invalid = f.skip_invalid;
  o.shard = ds::parse_shard(f.shard);
  o.media = ds::parse_media_check(f.media);
  ds::ManifestReader reader(f.manifest, o);
  json ids = json::array();
  while (auto s = reader.next())
    if (f.ids) ids.push_back(s->id);
  json r = reader.summary();
  if (f.ids) r["ids"] = ids;
  if (f.json) {
    print_json(r);
  } else {
    fmt::print(stderr, "{}: {} lines, {} samples in shard {}, {} in other shards, {} skipped\n", f.manifest,
               reader.lines(), reader.samples(), o.shard.str(), reader.other_shards(), reader.skipped().size());
    for (auto& s : reader.skipped()) fmt::print(stderr, "  skipped line {}: {}\n", s.line, s.reason);
    for (auto& [task, n] : r["tasks"].items()) fmt::print(stderr, "  {:<20} {}\n", task, n.get<int64_t>());
    if (f.ids)
      for (auto& id : ids) fmt::print("{}\n", id.get<std::string>());
  }
  return 0;
}

Command data_cmd("data", "Datasets: synthetic suites, benchmark import, manifest checks, task registry",
                 [](CLI::App& sub) {
  sub.require_subcommand(1);
  auto synth = std::make_shared<SynthFlags>();
  CLI::App* s = sub.add_subcommand("synth", "Write a synthetic task suite: <out>/manifest.jsonl + media");
  s->add_option("--suite", synth->options.suite, "Suite name (see --list)");
  s->add_option("--n", synth->options.n, "Number of items")->capture_default_str();
  s->add_option("--seed", synth->options.seed, "Seed")->capture_default_str();
  add_writer_flags(*s, synth->options.out, synth->options.overwrite, synth->list, synth->json, "List the suites");

  auto imp = std::make_shared<ImportFlags>();
  CLI::App* i = sub.add_subcommand("import", "Turn an exported benchmark release into a manifest");
  ds::ImportOptions& io = imp->options;
  i->add_option("--benchmark", io.benchmark, "Benchmark name (see --list)");
  i->add_option("--input", io.input, "Export folder written by datasets/convert/export_benchmark.py");
  i->add_option("--media", imp->media, "Media check: none|exists|header|decode")->capture_default_str();
  i->add_flag("--skip-invalid", io.skip_invalid, "Skip rows that do not convert and report them");
  i->add_flag("--strict-count", io.strict_count, "Fail when the row count differs from the reference split");
  add_writer_flags(*i, io.out, io.overwrite, imp->list, imp->json, "List the benchmarks");

  auto chk = std::make_shared<CheckFlags>();
  CLI::App* c = sub.add_subcommand("check", "Validate a manifest (every line), optionally one shard of it");
  c->add_option("--manifest", chk->manifest, "manifest.jsonl")->required();
  c->add_option("--shard", chk->shard, "i/N: only ids with fnv1a64(id) % N == i")->capture_default_str();
  c->add_option("--media", chk->media, "Media check: none|exists|header|decode")->capture_default_str();
  c->add_flag("--skip-invalid", chk->skip_invalid, "Skip bad lines and report them instead of failing");
  c->add_flag("--ids", chk->ids, "List the ids of the valid samples in the shard");
  c->add_flag("--json", chk->json, "Print JSON on stdout");

  auto tasks_json = std::make_shared<bool>(false);
  CLI::App* t = sub.add_subcommand("tasks", "List the task registry");
  t->add_flag("--json", *tasks_json, "Print JSON on stdout");

  return [s, i, c, t, synth, imp, chk, tasks_json]() -> int {
    if (s->parsed()) return run_synth(*synth);
    if (i->parsed()) return run_import(*imp);
    if (c->parsed()) return run_check(*chk);
    if (t->parsed()) {
      json list = json::array();
      for (auto& task : ds::task_registry().all()) list.push_back(ds::task_json(task));
      if (*tasks_json) print_json({{"tasks", list}});
      else
        for (auto& task : ds::task_registry().all())
          fmt::print(stderr, "{:<20} {:<6} {:<7} {:<17} {}\n", task.name, ds::modality_name(task.modality),
                     ds::answer_type_name(task.answer_type), task.metric, task.description);
      return 0;
    }
    return 2;
  };
});

}  // namespace
}  // namespace g4u::app
