// `g4u train`: trains a small encoder-free Gemma 4 model on synthetic suites, manifests and plain
// text (experiments/README.md). The run folder holds, when finished, an HF-layout checkpoint
// (config.json, model.safetensors in fp32, tokenizer.model for a SentencePiece vocabulary) that
// every command loads with `--model <out>`, plus curves.json and summary.json.
//
// Resume: every `checkpoint_every` steps (and on SIGINT/SIGTERM) the weights, the AdamW state and
// the step are written to <out>/checkpoint through a temporary folder and a rename. Running the
// same command again continues from there; the data order is a pure function of (seed, step) and
// all state is stored losslessly, so a resumed run ends with the same weights as one that was
// never interrupted (same thread count).
#pragma once

#include "experiments/train_config.h"
#include "model/io/config.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace g4u::experiments {

struct TrainRunOptions {
  std::string out;
  int64_t stop_at_step = 0;  // > 0: checkpoint and return after this step (simulated interruption)
  bool progress = true;      // progress bar on a TTY / log lines otherwise (stderr)
};

// The model a config trains: the preset or checkpoint's config.json with config_overrides applied
// (InputError naming the config file for an unknown model, a bad override or a model too large).
model::ModelConfig train_model_config(const TrainConfig& config);

// Runs (or resumes) the training; returns summary.json's content. "interrupted": true when it
// stopped early (stop_at_step or a signal) after writing a checkpoint.
nlohmann::json train(const TrainConfig& config, const TrainRunOptions& options);

}  // namespace g4u::experiments
