// `g4u run <experiment.json>`: runs the steps of an experiment (experiments/run/experiment.h) in
// order, each into <run folder>/<step>. A step is complete when its completion marker
// (<step>/step-complete.json, written last, through a temporary file and a rename) holds the hash of
// its current settings; complete steps are skipped, so rerunning an interrupted run resumes it:
// the interrupted step continues from what it left (train, eval: their own resume) or starts over
// in a cleared folder (the others).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace g4u::experiments {

inline constexpr const char* kStepCompleteFile = "step-complete.json";

struct ExperimentRunOptions {
  std::string file;               // the experiment file
  std::string out;                // run folder ("" : runs/<name>)
  bool dry_run = false;           // check everything and plan, run nothing
  std::vector<std::string> only;  // run only these steps (their dependencies must be complete)
  std::map<std::string, std::string> variables;  // --set name=value: overrides of the file's variables
  int64_t shards = 0;             // --shards N of the per-benchmark plan (0: the file's estimate.shards, else 1)
  double gpu_bandwidth_tb_s = 0;  // --gpu-bandwidth: the plan's GPU memory bandwidth (0: the file's, else H100 SXM)
  double gpu_tflops = 0;          // --gpu-tflops: its dense bf16 TFLOP/s (0: the file's, else H100 SXM)
  int jobs = 1;                   // --jobs: steps run side by side, each in a child process (parallel_steps.h)
  int threads = 0;                // --threads: compute threads of each step that sets none (0: every core;
                                  // with jobs > 1: the cores / jobs, except for steps that run alone)
  std::string device = "cpu";     // --device: where the steps that load a model run (cpu, cuda, cuda:N)
  std::function<void(const std::string&)> log;  // the plan and progress lines; null: quiet
};

// The plan (and, unless dry_run, the outcome): {"experiment", "file", "run_dir", "variables",
// "steps": [{"name", "kind", "dir", "needs", "status": done|run|resume|skip, "estimate": {"seconds",
// "bytes", "basis", ["benchmark": the per-benchmark plan of an eval step]}, "seconds" (when run)}],
// "estimate": {"seconds", "peak_bytes", "jobs"}, "assumptions": {"shards", "gpu", ["cpu": measured rates]},
// "warnings", "interrupted"}. InputError (exit 2)
// for anything wrong in the file, a step's settings or --only, before any step runs.
nlohmann::json run_experiment(const ExperimentRunOptions& options);

// The plan as a table, one step a line.
std::string describe_plan(const nlohmann::json& plan);

}  // namespace g4u::experiments
