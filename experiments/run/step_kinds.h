// The kinds of step an experiment can hold (experiments/README.md, "g4u run"). Each kind checks its
// settings and turns them into a call of the library function the matching command calls:
//   synth          datasets::synthesize                     (g4u data synth)
//   import         datasets::import_benchmark               (g4u data import)
//   train          experiments::train                       (g4u train)
//   train-drafter  experiments::run_drafter_training        (g4u train-drafter)
//   quantize       quant::quantize_calibrated               (g4u quantize)
//   eval           runner::run_eval                         (g4u eval)
//   judge          runner::run_judge                        (g4u judge)
//   ppl            quant::measure_perplexity                (g4u ppl)
//   bench          throughput::measure_throughput           (g4u bench)
//   report         reports::write_report                    (g4u report)
// Preparing a step has no side effects: `g4u run --dry-run` prepares every step.
#pragma once

#include "base/registry.h"
#include "datasets/manifest/manifest.h"
#include "experiments/run/cost_model.h"
#include "experiments/run/experiment.h"
#include "model/io/config.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace g4u::experiments {

// One item of a dataset a step makes, as the plan of an eval step sees it: the sample (media paths
// resolvable now) and the headers of its media (image sizes, audio lengths; empty when unread).
struct PlannedItem {
  datasets::Sample sample;
  std::vector<datasets::MediaInfo> images, audios;
};

// What a step makes that later steps' estimates use.
struct StepFacts {
  int64_t params = 0;           // a model: its parameters
  double bits_per_weight = 32;  // ... and the bits each takes
  std::shared_ptr<const model::ModelConfig> config;  // ... and its shapes (null: unknown, e.g. a GGUF file)
  int64_t items = 0;            // held-out items (train: its data/eval.jsonl), or a manifest's lines
  std::shared_ptr<const std::vector<PlannedItem>> planned;  // those items, when known before the step runs (import)
};

// Cost of a step (see experiments/README.md, "Estimates").
struct Estimate {
  double seconds = 0;
  double bytes = 0;   // peak memory
  std::string basis;  // how it was estimated, e.g. "6 x 1.2M params x 51k tokens"
};

struct StepContext {
  const Experiment& experiment;
  const ExperimentStep& step;
  std::string dir;                                // the step's output folder
  const std::map<std::string, StepFacts>& facts;  // of the earlier steps, by name
  const PlanSettings& plan;                       // shards, GPU, CPU probe of the estimates
};

struct PreparedStep {
  nlohmann::json settings;  // checked, references resolved: recorded in the completion marker
  StepFacts facts;
  Estimate estimate;
  // An eval step planned item by item: items, tokens, CPU and GPU time and memory, shards
  // (experiments/README.md, "Per-benchmark plan"); null otherwise.
  nlohmann::json benchmark;
  // What the plan found that would fail or mislead at run time, without the step's name (the plan
  // names the steps a message concerns): "key: ..." or "...".
  std::vector<std::string> warnings;
  // Runs the step into ctx.dir; returns its summary. {"interrupted": true}: stopped early, resumable.
  std::function<nlohmann::json()> run;
};

struct StepKind {
  std::string name;
  std::string summary;
  // true: the underlying command resumes from what an interrupted attempt left in the folder;
  // false: an incomplete folder is removed before the step runs again.
  bool resumable = false;
  std::function<PreparedStep(const StepContext&)> prepare;  // InputError naming the step and key
  // Keys that annotate rather than configure (eval: note, published): left out of the settings
  // hash, so that editing them does not redo a completed step.
  std::vector<std::string> annotations = {};
  // Its results include wall-clock time or memory meters (eval, bench): `g4u run --jobs N` runs it
  // with no other step beside it, so that a concurrent step does not slow what it measures.
  bool runs_alone = false;
};

const Registry<StepKind>& step_kinds();

// Where the steps that load a model put it (`g4u run --device`; the CPU by default).
void set_step_device(torch::Device device);

}  // namespace g4u::experiments
