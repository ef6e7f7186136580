// The JSON a `g4u train --config` run is defined by (format: experiments/README.md). The fields are
// listed once, in train_config.cpp, for the parser, the writer and the help; the defaults are the
// member initializers below. Parsed with errors that name the file and field; unknown keys are
// errors (a typo must not silently train something else).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace g4u::experiments {

struct SuiteSource {
  std::string suite;  // a synthetic suite (datasets/synth/synth.h)
  int64_t n = 0;      // training items
};

struct ManifestSource {
  std::string path;   // a manifest.jsonl (question-form lines of tasks with answers)
  int64_t limit = 0;  // 0: all lines
};

struct TextSource {
  std::string path;  // a UTF-8 text file: split into chunks of `ctx` tokens for LM loss
  int64_t ctx = 128;
  int64_t repeat = 1;  // how many times its chunks enter the training pool
};

struct TrainConfig {
  std::string where;  // the file it came from
  std::string model = "small";  // preset or checkpoint dir (weights from it when a dir)
  nlohmann::json config_overrides = nlohmann::json::object();  // JSON merge patch on config.json
  std::string tokenizer = "byte";  // byte | sentencepiece (trained on the training texts)
  int64_t tokenizer_vocab_size = 0;  // sentencepiece: 0 -> the model's vocab_size
  uint64_t seed = 0;
  // Initial QK-norm weights of a preset model: "unit-logits" (head_dim^-1/4, see trainer.cpp) or
  // "ones" (the generic norm init).
  std::string qk_norm_init = "unit-logits";

  std::vector<SuiteSource> suites;
  std::vector<ManifestSource> manifests;
  std::vector<TextSource> texts;
  int64_t eval_n = 64;  // held-out items per synthetic suite (generated with another seed)

  int64_t steps = 100;
  int64_t batch_size = 8;
  double lr = 1e-3;
  int64_t warmup_steps = 10;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;  // max global L2 norm; 0 = off
  std::string loss_weighting = "token";  // token | sequence (see trainer.cpp run_batch)
  int64_t checkpoint_every = 50;
  int64_t eval_every = 0;  // 0: only at the end
  int64_t log_every = 10;
  int threads = 0;  // 0: LibTorch default

  nlohmann::json json;  // the parsed document (hashed to recognise a run when resuming)
};

TrainConfig parse_train_config(const nlohmann::json& j, const std::string& where);
TrainConfig load_train_config(const std::string& path);
// Every field with its value (defaults included): a config that parses to the same TrainConfig.
nlohmann::json train_config_to_json(const TrainConfig& config);
// `g4u train --help-config`: one line per field (JSON path, type, default, help).
std::string train_config_help();

}  // namespace g4u::experiments
