#include "experiments/train_config.h"

#include "base/error.h"
#include "base/json_util.h"
#include "experiments/config_fields.h"

namespace g4u::experiments {
namespace {

const std::vector<JsonField<SuiteSource>>& suite_fields() {
  static const std::vector<JsonField<SuiteSource>> fields = {
      json_field("", "suite", &SuiteSource::suite, "synthetic suite (g4u data synth --list)", {}, /*required=*/true),
      json_field("", "n", &SuiteSource::n, "training items", Limits::above(0), /*required=*/true),
  };
  return fields;
}

const std::vector<JsonField<ManifestSource>>& manifest_fields() {
  static const std::vector<JsonField<ManifestSource>> fields = {
      json_field("", "path", &ManifestSource::path, "manifest.jsonl: question-form lines with answers", {},
                 /*required=*/true),
      json_field("", "limit", &ManifestSource::limit, "lines to use (0: all)", Limits::at_least(0)),
  };
  return fields;
}

const std::vector<JsonField<TextSource>>& text_fields() {
  static const std::vector<JsonField<TextSource>> fields = {
      json_field("", "path", &TextSource::path, "UTF-8 text file, trained on in chunks of ctx tokens", {},
                 /*required=*/true),
      json_field("", "ctx", &TextSource::ctx, "tokens per chunk (after <bos>)", Limits::at_least(8)),
      json_field("", "repeat", &TextSource::repeat, "times its chunks enter the training pool", Limits::at_least(1)),
  };
  return fields;
}

const std::vector<JsonField<TrainConfig>>& train_config_fields() {
  using C = TrainConfig;
  static const std::vector<JsonField<C>> fields = {
      json_field("", "model", &C::model, "preset, or checkpoint folder whose weights training starts from"),
      json_field("", "config_overrides", &C::config_overrides, "JSON merge patch on the model's config.json"),
      json_field("", "seed", &C::seed, "seed of the init, the generated suites and the data order"),
      json_field("", "qk_norm_init", &C::qk_norm_init, "initial QK-norm weights of a preset model",
                 Limits::one_of({"unit-logits", "ones"})),
      json_field("tokenizer", "type", &C::tokenizer, "byte, or a SentencePiece BPE trained on the run's texts",
                 Limits::one_of({"byte", "sentencepiece"})),
      json_field("tokenizer", "vocab_size", &C::tokenizer_vocab_size, "SentencePiece pieces (0: the model's vocab_size)",
                 Limits::at_least(0)),
      json_list_field("data", "suites", &C::suites, suite_fields(), "synthetic suites to generate and train on"),
      json_list_field("data", "manifests", &C::manifests, manifest_fields(), "manifests to train on"),
      json_list_field("data", "text_files", &C::texts, text_fields(), "plain text trained on every token"),
      json_field("data", "eval_n", &C::eval_n, "held-out items per synthetic suite", Limits::at_least(0)),
      json_field("train", "steps", &C::steps, "optimizer steps", Limits::above(0)),
      json_field("train", "batch_size", &C::batch_size, "sequences per step", Limits::above(0)),
      json_field("train", "lr", &C::lr, "peak learning rate", Limits::above(0)),
      json_field("train", "warmup_steps", &C::warmup_steps, "linear warm-up steps (<= steps), then cosine decay",
                 Limits::at_least(0)),
      json_field("train", "min_lr_ratio", &C::min_lr_ratio, "the cosine ends at lr * min_lr_ratio",
                 Limits::between(0, 1)),
      json_field("train", "weight_decay", &C::weight_decay, "AdamW decay of matrices (not norms, biases, scalars)",
                 Limits::at_least(0)),
      json_field("train", "beta1", &C::beta1, "AdamW beta1", Limits::from_below(0, 1)),
      json_field("train", "beta2", &C::beta2, "AdamW beta2", Limits::from_below(0, 1)),
      json_field("train", "eps", &C::eps, "AdamW epsilon", Limits::above(0)),
      json_field("train", "grad_clip", &C::grad_clip, "largest global L2 norm of the gradients (0: off)",
                 Limits::at_least(0)),
      json_field("train", "loss_weighting", &C::loss_weighting,
                 "token: mean over all target tokens; sequence: each sequence weighs the same",
                 Limits::one_of({"token", "sequence"})),
      json_field("train", "checkpoint_every", &C::checkpoint_every, "steps between checkpoints (0: none)",
                 Limits::at_least(0)),
      json_field("train", "eval_every", &C::eval_every, "steps between evaluations (0: only at the end)",
                 Limits::at_least(0)),
      json_field("train", "log_every", &C::log_every, "steps between progress log lines", Limits::above(0)),
      json_field("train", "threads", &C::threads, "compute threads (0: LibTorch's default)", Limits::at_least(0)),
  };
  return fields;
}

}  // namespace

TrainConfig parse_train_config(const nlohmann::json& j, const std::string& where) {
  JsonObject o(j, where);
  TrainConfig c;
  read_json_fields(o, c, train_config_fields());
  c.where = where;
  c.json = j;
  if (c.suites.empty() && c.manifests.empty() && c.texts.empty())
    throw_input("{}: data: no suites, manifests or text_files to train on", where);
  if (c.warmup_steps > c.steps)
    throw_input("{}: must be <= train.steps {}, got {}", o.field("train.warmup_steps"), c.steps, c.warmup_steps);
  return c;
}

TrainConfig load_train_config(const std::string& path) { return parse_train_config(read_json_file(path), path); }

nlohmann::json train_config_to_json(const TrainConfig& c) { return write_json_fields(c, train_config_fields()); }

std::string train_config_help() { return format_help_rows(help_rows(train_config_fields())); }

}  // namespace g4u::experiments
