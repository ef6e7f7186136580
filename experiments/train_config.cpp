#include "experiments/train_config.h"

#include "base/error.h"
#include "base/json_util.h"

namespace g4u::experiments {
namespace {

void reject_unread(const JsonObject& o) {
  auto extra = o.unread_keys();
  if (!extra.empty()) throw_input("{}: unknown key '{}'", o.where(), extra.front());
}

const nlohmann::json& array_of(JsonObject& o, const std::string& key) {
  const nlohmann::json& a = o.raw(key);
  if (!a.is_array()) throw_input("{}: expected a list", o.field(key));
  return a;
}

}  // namespace

TrainConfig parse_train_config(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw_input("{}: expected a JSON object", where);
  JsonObject o(j, where);
  TrainConfig c;
  c.where = where;
  c.json = j;
  c.model = o.get_string("model", c.model);
  if (o.has("config_overrides")) {
    c.config_overrides = o.raw("config_overrides");
    if (!c.config_overrides.is_object()) throw_input("{}: expected an object", o.field("config_overrides"));
  }
  c.seed = static_cast<uint64_t>(o.get_int("seed", 0));
  c.qk_norm_init = o.get_string("qk_norm_init", c.qk_norm_init);
  if (c.qk_norm_init != "unit-logits" && c.qk_norm_init != "ones")
    throw_input("{}: '{}' is not unit-logits or ones", o.field("qk_norm_init"), c.qk_norm_init);
  if (o.has("tokenizer")) {
    JsonObject t = o.object("tokenizer");
    c.tokenizer = t.get_string("type", c.tokenizer);
    if (c.tokenizer != "byte" && c.tokenizer != "sentencepiece")
      throw_input("{}: '{}' is not byte or sentencepiece", t.field("type"), c.tokenizer);
    c.tokenizer_vocab_size = t.get_int("vocab_size", 0);
    reject_unread(t);
  }

  if (o.has("data")) {
    JsonObject d = o.object("data");
    if (d.has("suites")) {
      const auto& a = array_of(d, "suites");
      for (size_t i = 0; i < a.size(); ++i) {
        JsonObject s(a[i], d.field("suites") + "[" + std::to_string(i) + "]");
        SuiteSource src{s.get_string("suite"), s.get_int("n")};
        if (src.n <= 0) throw_input("{}: must be positive", s.field("n"));
        reject_unread(s);
        c.suites.push_back(src);
      }
    }
    if (d.has("manifests")) {
      const auto& a = array_of(d, "manifests");
      for (size_t i = 0; i < a.size(); ++i) {
        JsonObject s(a[i], d.field("manifests") + "[" + std::to_string(i) + "]");
        ManifestSource src{s.get_string("path"), s.get_int("limit", 0)};
        if (src.limit < 0) throw_input("{}: must be >= 0", s.field("limit"));
        reject_unread(s);
        c.manifests.push_back(src);
      }
    }
    if (d.has("text_files")) {
      const auto& a = array_of(d, "text_files");
      for (size_t i = 0; i < a.size(); ++i) {
        JsonObject s(a[i], d.field("text_files") + "[" + std::to_string(i) + "]");
        TextSource src{s.get_string("path"), s.get_int("ctx", 128), s.get_int("repeat", 1)};
        if (src.ctx < 8) throw_input("{}: must be >= 8", s.field("ctx"));
        if (src.repeat < 1) throw_input("{}: must be >= 1", s.field("repeat"));
        reject_unread(s);
        c.texts.push_back(src);
      }
    }
    c.eval_n = d.get_int("eval_n", c.eval_n);
    if (c.eval_n < 0) throw_input("{}: must be >= 0", d.field("eval_n"));
    reject_unread(d);
  }
  if (c.suites.empty() && c.manifests.empty() && c.texts.empty())
    throw_input("{}: data: no suites, manifests or text_files to train on", where);

  if (o.has("train")) {
    JsonObject t = o.object("train");
    c.steps = t.get_int("steps", c.steps);
    c.batch_size = t.get_int("batch_size", c.batch_size);
    c.lr = t.get_double("lr", c.lr);
    c.warmup_steps = t.get_int("warmup_steps", c.warmup_steps);
    c.min_lr_ratio = t.get_double("min_lr_ratio", c.min_lr_ratio);
    c.weight_decay = t.get_double("weight_decay", c.weight_decay);
    c.beta1 = t.get_double("beta1", c.beta1);
    c.beta2 = t.get_double("beta2", c.beta2);
    c.eps = t.get_double("eps", c.eps);
    c.grad_clip = t.get_double("grad_clip", c.grad_clip);
    c.loss_weighting = t.get_string("loss_weighting", c.loss_weighting);
    if (c.loss_weighting != "token" && c.loss_weighting != "sequence")
      throw_input("{}: '{}' is not token or sequence", t.field("loss_weighting"), c.loss_weighting);
    c.checkpoint_every = t.get_int("checkpoint_every", c.checkpoint_every);
    c.eval_every = t.get_int("eval_every", c.eval_every);
    c.log_every = t.get_int("log_every", c.log_every);
    c.threads = static_cast<int>(t.get_int("threads", c.threads));
    if (c.steps <= 0) throw_input("{}: must be positive", t.field("steps"));
    if (c.batch_size <= 0) throw_input("{}: must be positive", t.field("batch_size"));
    if (!(c.lr > 0)) throw_input("{}: must be positive", t.field("lr"));
    if (c.warmup_steps < 0 || c.warmup_steps > c.steps) throw_input("{}: must be in [0, steps]", t.field("warmup_steps"));
    if (c.min_lr_ratio < 0 || c.min_lr_ratio > 1) throw_input("{}: must be in [0, 1]", t.field("min_lr_ratio"));
    if (c.weight_decay < 0) throw_input("{}: must be >= 0", t.field("weight_decay"));
    if (!(c.beta1 >= 0 && c.beta1 < 1)) throw_input("{}: must be in [0, 1)", t.field("beta1"));
    if (!(c.beta2 >= 0 && c.beta2 < 1)) throw_input("{}: must be in [0, 1)", t.field("beta2"));
    if (!(c.eps > 0)) throw_input("{}: must be positive", t.field("eps"));
    if (c.grad_clip < 0) throw_input("{}: must be >= 0", t.field("grad_clip"));
    if (c.checkpoint_every < 0) throw_input("{}: must be >= 0", t.field("checkpoint_every"));
    if (c.eval_every < 0) throw_input("{}: must be >= 0", t.field("eval_every"));
    if (c.log_every <= 0) throw_input("{}: must be positive", t.field("log_every"));
    if (c.threads < 0) throw_input("{}: must be >= 0", t.field("threads"));
    reject_unread(t);
  }
  reject_unread(o);
  return c;
}

TrainConfig load_train_config(const std::string& path) { return parse_train_config(read_json_file(path), path); }

}  // namespace g4u::experiments
