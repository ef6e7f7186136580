#include "experiments/run/run_experiment.h"
#include "model/io/device.h"

#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"
#include "experiments/run/parallel_steps.h"
#include "experiments/run/step_kinds.h"
#include "model/io/sysinfo.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

namespace g4u::experiments {
namespace fs = std::filesystem;
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

std::string duration(double s) {
  if (s < 1) return fmt::format("{:.2f} s", s);  // per-shard GPU times of short benchmarks
  if (s < 60) return fmt::format("{:.0f} s", s);
  if (s < 3600) return fmt::format("{:.1f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

std::string megabytes(double bytes) { return fmt::format("{:.0f} MiB", bytes / (1 << 20)); }

// Identifies a step's settings (references unresolved, so a moved run folder keeps its steps) and
// those of the steps it uses: a step whose inputs were made with other settings is not complete.
std::string settings_hash(const ExperimentStep& step, const std::map<std::string, std::string>& earlier) {
  nlohmann::json settings = step.settings;
  for (const auto& key : step_kinds().find(step.kind).annotations) settings.erase(key);
  std::string identity = step.kind + "\n" + settings.dump();
  for (const auto& need : step.needs) identity += "\n" + need + " " + earlier.at(need);
  return fmt::format("{:016x}", fnv1a64(identity));
}

// "done" when the marker holds this hash; InputError when it holds another.
bool is_complete(const ExperimentStep& step, const std::string& dir, const std::string& hash) {
  const fs::path marker = fs::path(dir) / kStepCompleteFile;
  if (!fs::exists(marker)) return false;
  nlohmann::json m;
  try {
    m = read_json_file(marker.string());
  } catch (const InputError&) {
    return false;  // not written by us (ours are renamed into place whole): the step runs again
  }
  if (m.value("settings_hash", "") != hash)
    throw_input("{}: step '{}' was completed with other settings ({}); delete the folder to redo it or run into "
                "another --out",
                dir, step.name, marker.string());
  return true;
}

std::string gibibytes(double bytes) { return fmt::format("{:.1f} GiB", bytes / (1 << 30)); }

// The per-benchmark plan of the eval steps that have one, and how it was estimated.
std::string describe_benchmarks(const nlohmann::json& plan) {
  if (!plan.contains("assumptions") || !plan["assumptions"].contains("cpu")) return "";
  const auto& a = plan["assumptions"];
  const auto& cpu = a["cpu"];
  const auto& gpu = a["gpu"];
  const int64_t shards = a["shards"].get<int64_t>();
  std::string out = fmt::format(
      "\n\nper benchmark (batch 1, greedy, every item at its full new-token budget; {} shard{}: time / {}, memory per shard)\n",
      shards, shards == 1 ? "" : "s", shards);
  out += fmt::format("  {:<22} {:>6} {:>9} {:>9} {:>5} {:>6} {:>6} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}  {}\n", "step", "items",
                     "prompt", "new", "think", "budget", "dtype", "CPU time", "/shard", "CPU mem", "GPU time", "/shard",
                     "GPU mem", "published");
  for (const auto& s : plan["steps"]) {
    if (!s["estimate"].contains("benchmark")) continue;
    const auto& b = s["estimate"]["benchmark"];
    const auto& set = b["settings"];
    std::string published;
    if (b.contains("published"))
      published = fmt::format("{} {}{}", b["published"]["value"].get<double>(), b["published"]["unit"].get<std::string>(),
                              b["published"]["verified"].get<bool>() ? "" : " (unverified)");
    out += fmt::format("  {:<22} {:>6} {:>9} {:>9} {:>5} {:>6} {:>6} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}  {}\n",
                       s["name"].get<std::string>(), b["items"].get<int64_t>(), b["prompt_tokens"].get<int64_t>(),
                       b["max_new_tokens"].get<int64_t>(), set["thinking"].get<bool>() ? "on" : "off",
                       set["image_budget"].is_null() ? std::string("-") : set["image_budget"].dump(),
                       set["dtype"].get<std::string>(), duration(b["cpu"]["seconds"].get<double>()),
                       duration(b["cpu"]["per_shard_seconds"].get<double>()), gibibytes(b["cpu"]["peak_bytes"].get<double>()) + (b["cpu"]["fits"].get<bool>() ? "" : "!"),
                       duration(b["gpu"]["seconds"].get<double>()), duration(b["gpu"]["per_shard_seconds"].get<double>()),
                       gibibytes(b["gpu"]["peak_bytes"].get<double>()) + (b["gpu"]["fits"].get<bool>() ? "" : "!"),
                       published);
  }
  out += fmt::format(
      "  CPU: measured now on the '{}' preset ({} threads, {} matmul params, {:.1f} s): prefill {:.2f} GFLOP/s, decode "
      "{:.2f} GFLOP/s = {:.3f} ms/layer beyond its FLOPs, memory read {:.2f} GB/s, {} of memory (! = does not fit); "
      "prefill = FLOPs / prefill rate, decode = layers x overhead + max(FLOPs / prefill rate, (weights + KV) bytes / "
      "read bandwidth)\n",
      cpu["probe"].get<std::string>(), cpu["threads"].get<int>(), cpu["probe_matmul_params"].get<int64_t>(),
      cpu["measured_in_seconds"].get<double>(), cpu["prefill_flops_per_s"].get<double>() / 1e9,
      cpu["decode_flops_per_s"].get<double>() / 1e9, cpu["decode_layer_overhead_s"].get<double>() * 1e3,
      cpu["read_bandwidth_bytes_per_s"].get<double>() / 1e9, gibibytes(cpu["memory_bytes"].get<double>()));
  out += fmt::format(
      "  GPU: {} roofline, {:.2f} TB/s, {:.0f} TFLOP/s bf16 dense, {:.0f} GB (! = does not fit): each phase max(FLOPs / "
      "peak, bytes / bandwidth), weights in bf16\n",
      gpu["name"].get<std::string>(), gpu["memory_bandwidth_bytes_per_s"].get<double>() / 1e12,
      gpu["flops"].get<double>() / 1e12, gpu["memory_bytes"].get<double>() / 1e9);
  out += "  FLOPs/token = 2 x (projection + head weights) + 4 x heads x head_dim x context per layer (experiments/README.md, "
         "\"Per-benchmark plan\")";
  return out;
}

// The last lines of a child step's log, for the error that reports its failure.
std::string log_tail(const std::string& file, size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  const size_t from = all.size() > lines ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) out += "\n    " + all[i];
  return out;
}

// Runs the steps the plan marks run/resume in child processes, `options.jobs` at a time
// (parallel_steps.h); updates their status and seconds in the plan. InputError when a child
// failed on bad input (exit 2), std::runtime_error when it failed otherwise.
void run_steps_in_parallel(const Experiment& e, const ExperimentRunOptions& options, std::vector<StepSlot> slots,
                           nlohmann::json& plan, const std::function<void(const std::string&)>& log) {
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  // What a serial run gives each step (LibTorch's default: the cores), shared out among the jobs.
  const int cores = torch::get_num_threads();
  const int shared_threads = options.threads > 0 ? options.threads : std::max(1, cores / options.jobs);
  const int alone_threads = options.threads > 0 ? options.threads : cores;
  const fs::path logs = fs::path(e.run_dir) / "logs";
  fs::create_directories(logs);
  auto child = [&](size_t i) {
    ChildStep c{i, e.steps[i].name, {exe, "run", e.file, "--out", e.run_dir, "--only", e.steps[i].name, "--threads",
                                     std::to_string(slots[i].alone ? alone_threads : shared_threads), "--device",
                                     options.device},
                (logs / (e.steps[i].name + ".log")).string()};
    for (const auto& [name, value] : options.variables) {
      c.argv.push_back("--set");
      c.argv.push_back(name + "=" + value);
    }
    return c;
  };
  std::vector<std::string> failures;
  bool stopped = false, all_input_errors = true;
  auto on_start = [&](const ChildStep& c) {
    log(fmt::format("[{}/{}] {} ({}) started -> {} (log: {})", c.index + 1, e.steps.size(), c.name, e.steps[c.index].kind,
                    e.step_dir(c.name), c.log_file));
  };
  auto on_end = [&](const ChildStep& c, const ChildOutcome& outcome) {
    nlohmann::json& s = plan["steps"][c.index];
    if (outcome.exit_code == 0) {
      const nlohmann::json marker = read_json_file((fs::path(e.step_dir(c.name)) / kStepCompleteFile).string());
      s["status"] = "done";
      s["seconds"] = marker["seconds"];
      log(fmt::format("{}: done in {}", c.name, duration(marker["seconds"].get<double>())));
    } else if (outcome.exit_code == 3 || outcome.exit_code == -SIGINT || outcome.exit_code == -SIGTERM) {
      stopped = true;
      log(fmt::format("{}: interrupted; run the same command again to resume (log: {})", c.name, c.log_file));
    } else {
      all_input_errors = all_input_errors && outcome.exit_code == 2;
      failures.push_back(fmt::format("step '{}' failed ({}); the end of its log {}:{}", c.name,
                                     outcome.exit_code > 0 ? fmt::format("exit code {}", outcome.exit_code)
                                                           : fmt::format("signal {}", -outcome.exit_code),
                                     c.log_file, log_tail(c.log_file, 5)));
      log(failures.back());
    }
  };
  const bool completed = run_children(slots, options.jobs, child, on_start, on_end);
  if (!failures.empty()) {
    std::string message = fmt::format("{}: {}", e.file, fmt::join(failures, "\n"));
    message += "\n  steps that finished are kept; fix the cause and run the same command again";
    // Exit code 2 is a child's InputError: bad input stays exit 2 through the parent.
    if (all_input_errors) throw InputError(message);
    throw std::runtime_error(message);
  }
  plan["interrupted"] = stopped || !completed;
}

}  // namespace

nlohmann::json run_experiment(const ExperimentRunOptions& options) {
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  const Experiment e = load_experiment(options.file, options.out, options.variables);
  for (const auto& name : options.only)
    if (!e.find(name)) throw_input("--only: no step named '{}' in {}", name, e.file);
  PlanSettings plan_settings = read_plan_settings(e.estimate, e.file + ": estimate");
  if (options.shards < 0) throw_input("--shards {}: must be >= 1", options.shards);
  if (options.gpu_bandwidth_tb_s < 0 || options.gpu_tflops < 0) throw_input("--gpu-bandwidth and --gpu-tflops must be > 0");
  if (options.jobs < 1) throw_input("--jobs {}: must be >= 1", options.jobs);
  if (options.threads < 0) throw_input("--threads {}: must be >= 1", options.threads);
  set_step_device(model::parse_device(options.device));  // before any step: a device it cannot use stops the run
  if (options.shards > 0) plan_settings.shards = options.shards;
  if (options.gpu_bandwidth_tb_s > 0) {
    plan_settings.gpu.memory_bandwidth = options.gpu_bandwidth_tb_s * 1e12;
    plan_settings.gpu.name = "GPU (--gpu-bandwidth)";
  }
  if (options.gpu_tflops > 0) {
    plan_settings.gpu.flops = options.gpu_tflops * 1e12;
    plan_settings.gpu.name = "GPU (--gpu-bandwidth/--gpu-tflops)";
  }

  // Prepare (check) every step, then decide what runs: nothing runs before everything is checked.
  std::map<std::string, StepFacts> facts;
  std::vector<PreparedStep> prepared;
  std::vector<std::string> hashes;
  std::map<std::string, std::string> hash_of;
  nlohmann::json plan = {{"experiment", e.name},          {"file", e.file},
                         {"run_dir", e.run_dir},            {"variables", e.variables},
                         {"steps", nlohmann::json::array()}, {"warnings", nlohmann::json::array()}};
  bool planned_benchmarks = false;
  std::map<std::string, std::vector<std::string>> warned;  // message -> the steps it concerns
  double total_seconds = 0, peak_bytes = 0;
  for (const auto& step : e.steps) {
    const std::string dir = e.step_dir(step.name);
    const StepKind& kind = step_kinds().find(step.kind);
    prepared.push_back(kind.prepare(StepContext{e, step, dir, facts, plan_settings}));
    const PreparedStep& p = prepared.back();
    for (const auto& w : p.warnings) warned[w].push_back(step.name);
    facts[step.name] = p.facts;
    hashes.push_back(settings_hash(step, hash_of));
    hash_of[step.name] = hashes.back();
    std::string status = "skip";
    if (is_complete(step, dir, hashes.back())) status = "done";
    else if (options.only.empty() || contains(options.only, step.name))
      status = kind.resumable && fs::exists(dir) ? "resume" : "run";
    if (status == "run" || status == "resume") {
      total_seconds += p.estimate.seconds;
      peak_bytes = std::max(peak_bytes, p.estimate.bytes);
    }
    nlohmann::json estimate = {{"seconds", p.estimate.seconds}, {"bytes", p.estimate.bytes}, {"basis", p.estimate.basis}};
    if (!p.benchmark.is_null()) {
      estimate["benchmark"] = p.benchmark;
      planned_benchmarks = true;
    }
    plan["steps"].push_back({{"name", step.name},
                             {"kind", step.kind},
                             {"dir", dir},
                             {"needs", step.needs},
                             {"status", status},
                             {"estimate", estimate}});
  }
  // A step that runs needs its inputs: every step it references is complete or runs before it.
  for (const auto& s : plan["steps"]) {
    if (s["status"] == "done" || s["status"] == "skip") continue;
    for (const auto& need : s["needs"]) {
      auto it = std::find_if(plan["steps"].begin(), plan["steps"].end(), [&](const nlohmann::json& x) { return x["name"] == need; });
      if ((*it)["status"] == "skip")
        throw_input("step '{}' needs step '{}', which has not completed; run it first or add it to --only",
                    s["name"].get<std::string>(), need.get<std::string>());
    }
  }
  // With --jobs the steps that run side by side add up their memory and share the wall time.
  std::vector<StepSlot> slots(e.steps.size());
  std::vector<double> shared_bytes;
  for (size_t i = 0; i < e.steps.size(); ++i) {
    const nlohmann::json& s = plan["steps"][i];
    for (const auto& need : e.steps[i].needs)
      for (size_t j = 0; j < i; ++j)
        if (e.steps[j].name == need) slots[i].needs.push_back(j);
    slots[i].alone = step_kinds().find(e.steps[i].kind).runs_alone;
    slots[i].seconds = s["estimate"]["seconds"].get<double>();
    const bool runs = s["status"] == "run" || s["status"] == "resume";
    slots[i].state = runs ? SlotState::pending : SlotState::done;
    if (runs && !slots[i].alone) shared_bytes.push_back(s["estimate"]["bytes"].get<double>());
  }
  if (options.jobs > 1) {
    total_seconds = scheduled_seconds(slots, options.jobs);
    std::sort(shared_bytes.rbegin(), shared_bytes.rend());
    double side_by_side = 0;
    for (size_t i = 0; i < shared_bytes.size() && i < static_cast<size_t>(options.jobs); ++i) side_by_side += shared_bytes[i];
    peak_bytes = std::max(peak_bytes, side_by_side);
  }
  plan["estimate"] = {{"seconds", total_seconds}, {"peak_bytes", peak_bytes}, {"jobs", options.jobs}};
  for (const auto& [message, steps] : warned)
    plan["warnings"].push_back(fmt::format("{}: {}", e.file, message) +
                               fmt::format(" (step{} {})", steps.size() == 1 ? "" : "s", fmt::join(steps, ", ")));
  const GpuSpec& gpu = plan_settings.gpu;
  plan["assumptions"] = {{"shards", plan_settings.shards},
                         {"gpu",
                          {{"name", gpu.name},
                           {"memory_bandwidth_bytes_per_s", gpu.memory_bandwidth},
                           {"flops", gpu.flops},
                           {"memory_bytes", gpu.memory_bytes}}}};
  if (planned_benchmarks) {
    const CpuRates& cpu = measured_cpu_rates(plan_settings.cpu_probe);
    plan["assumptions"]["cpu"] = {{"probe", cpu.probe},
                                  {"threads", cpu.threads},
                                  {"probe_matmul_params", cpu.probe_matmul_params},
                                  {"prefill_flops_per_s", cpu.prefill_flops},
                                  {"probe_layers", cpu.probe_layers},
                                  {"decode_flops_per_s", cpu.decode_flops},
                                  {"decode_layer_overhead_s", cpu.decode_layer_overhead},
                                  {"read_bandwidth_bytes_per_s", cpu.read_bandwidth},
                                  {"memory_bytes", cpu.memory_bytes},
                                  {"measured_in_seconds", cpu.seconds}};
  }
  plan["interrupted"] = false;
  log(describe_plan(plan));
  if (options.dry_run) return plan;

  // Every step starts at the process's thread count: one step's setting (train's `threads`) must not
  // reach the next, or a step's numbers would depend on whether earlier steps ran in this process.
  const int default_threads = options.threads > 0 ? options.threads : torch::get_num_threads();
  fs::create_directories(e.run_dir);
  write_file_atomic((fs::path(e.run_dir) / "experiment.json").string(), read_text_file(e.file));
  if (options.jobs > 1) {
    run_steps_in_parallel(e, options, slots, plan, log);
    return plan;
  }
  for (size_t i = 0; i < e.steps.size(); ++i) {
    nlohmann::json& s = plan["steps"][i];
    if (s["status"] != "run" && s["status"] != "resume") continue;
    const ExperimentStep& step = e.steps[i];
    const std::string dir = s["dir"];
    // What an interrupted attempt of a step that cannot resume left behind is thrown away, with
    // the temporary siblings (<dir>.tmp.<pid>) that quantize and synth write before their rename.
    if (s["status"] == "run") {
      fs::remove_all(dir);
      for (const auto& entry : fs::directory_iterator(e.run_dir))
        if (entry.path().filename().string().rfind(step.name + ".tmp", 0) == 0) fs::remove_all(entry.path());
    }
    log(fmt::format("[{}/{}] {} ({}) -> {}", i + 1, e.steps.size(), step.name, step.kind, dir));
    set_compute_threads(default_threads);
    // Peak RSS (eval's memory meter, bench) then counts from this step's start, not from the
    // training or quantization that ran earlier in this process.
    if (!reset_peak_rss()) log(fmt::format("{}: warning: the kernel did not reset the peak RSS; memory figures include earlier steps", step.name));
    const auto t0 = std::chrono::steady_clock::now();
    nlohmann::json summary = prepared[i].run();
    const int64_t step_peak_rss = peak_rss_bytes();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s["seconds"] = seconds;
    if (summary.is_object() && summary.value("interrupted", false)) {
      log(fmt::format("{}: interrupted after {}; run the same command again to resume", step.name, duration(seconds)));
      plan["interrupted"] = true;
      return plan;
    }
    fs::create_directories(dir);
    const nlohmann::json marker = {{"step", step.name},     {"kind", step.kind},       {"settings_hash", hashes[i]},
                                   {"seconds", seconds},     {"peak_rss_bytes", step_peak_rss},
                                   {"settings", prepared[i].settings}, {"summary", summary}};
    write_file_atomic((fs::path(dir) / kStepCompleteFile).string(), marker.dump(2) + "\n");
    s["status"] = "done";
    log(fmt::format("{}: done in {}", step.name, duration(seconds)));
  }
  return plan;
}

std::string describe_plan(const nlohmann::json& plan) {
  std::string out = fmt::format("experiment {} ({}) -> {}\n", plan["experiment"].get<std::string>(),
                                plan["file"].get<std::string>(), plan["run_dir"].get<std::string>());
  out += fmt::format("  {:<16} {:<14} {:<7} {:>9} {:>10}  {}\n", "step", "kind", "status", "est. time", "est. memory",
                     "needs; how estimated");
  for (const auto& s : plan["steps"]) {
    const auto& est = s["estimate"];
    std::string needs;
    for (const auto& n : s["needs"]) needs += (needs.empty() ? "" : ",") + n.get<std::string>();
    out += fmt::format("  {:<16} {:<14} {:<7} {:>9} {:>10}  {}{}\n", s["name"].get<std::string>(), s["kind"].get<std::string>(),
                       s["status"].get<std::string>(), duration(est["seconds"].get<double>()),
                       megabytes(est["bytes"].get<double>()), needs.empty() ? "" : "needs " + needs + "; ",
                       est["basis"].get<std::string>());
  }
  const int jobs = plan["estimate"].value("jobs", 1);
  out += fmt::format("  to run: about {}, peak memory about {}{} (rough: experiments/README.md, \"Estimates\")",
                     duration(plan["estimate"]["seconds"].get<double>()), megabytes(plan["estimate"]["peak_bytes"].get<double>()),
                     jobs > 1 ? fmt::format(" ({} steps side by side; eval and bench steps alone)", jobs) : "");
  out += describe_benchmarks(plan);
  for (const auto& w : plan["warnings"]) out += "\n  warning: " + w.get<std::string>();
  return out;
}

}  // namespace g4u::experiments
