#include "experiments/run/step_kinds.h"

#include "base/error.h"
#include "base/json_util.h"
#include "datasets/synth/synth.h"
#include "datasets/tasks/tasks.h"
#include "eval/perplexity/perplexity.h"
#include "eval/runner/runner.h"
#include "experiments/config_fields.h"
#include "experiments/drafter_trainer.h"
#include "experiments/trainer.h"
#include "model/io/config.h"
#include "model/io/sysinfo.h"
#include "model/io/tensor_specs.h"
#include "model/mtp/drafter.h"
#include "quant/algorithms/calibrated.h"
#include "quant/io/any_model.h"
#include "quant/layer/policy.h"
#include "reports/report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace g4u::experiments {
namespace fs = std::filesystem;
namespace {

// ---- estimates (experiments/README.md, "Estimates") -------------------------------------------
// Effective throughput, and the tokens of one multimodal training or evaluation sequence (chat
// prompt + soft tokens of the media + answer). The throughput is what the main job's train and eval
// steps achieved under these counts on the 2-core development machine (busy with other builds:
// 6 x 6.7M params x 614k tokens in 27.5 min, 2 x 6.7M x 28.8k in 20 s). Rough by design: the plan
// shows orders of magnitude, not promises.
constexpr double kFlopsPerSecond = 1.5e10;
constexpr double kTokensPerSequence = 96;
constexpr double kRuntimeBytes = 300.0 * (1 << 20);  // LibTorch, the process, the data

std::string si(double v) {
  if (v >= 1e9) return fmt::format("{:.3g}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
  return fmt::format("{:.3g}", v);
}

int64_t params_of(const model::ModelConfig& c) { return model::count_params(model::model_tensor_specs(c))["total"]; }

// ---- settings ---------------------------------------------------------------------------------

// The resolved settings of the step, as a JsonObject that names the step in messages.
struct Settings {
  explicit Settings(const StepContext& ctx)
      : resolved(resolve_references(ctx.step.settings, ctx.experiment)), object(resolved, ctx.step.where) {}
  nlohmann::json resolved;
  JsonObject object;
};

// Reads `fields` (every other key is an error naming it) into a fresh S.
template <typename S>
S read_settings(Settings& s, const std::vector<JsonField<S>>& fields) {
  S out;
  read_json_fields(s.object, out, fields);
  return out;
}

// The earlier step whose output folder holds `path` ("" when no step makes it).
std::string producing_step(const StepContext& ctx, const std::string& path) {
  for (const auto& need : ctx.step.needs) {
    const std::string dir = ctx.experiment.step_dir(need);
    if (path == dir || path.rfind(dir + "/", 0) == 0) return need;
  }
  return "";
}

// A setting naming an input: made by an earlier step (before this one runs), or a file that must
// exist now.
void check_input_file(const StepContext& ctx, const std::string& key, const std::string& path) {
  if (path.empty() || !producing_step(ctx, path).empty()) return;
  if (!fs::exists(path)) throw_input("{}.{}: no such file or folder '{}'", ctx.step.where, key, path);
}

// The facts of a model source setting: an earlier step's model, a preset or a checkpoint.
StepFacts model_source(const StepContext& ctx, const std::string& key, const std::string& source) {
  const std::string step = producing_step(ctx, source);
  if (!step.empty()) {
    const StepFacts& f = ctx.facts.at(step);
    if (f.params == 0) throw_input("{}.{}: step '{}' makes no model", ctx.step.where, key, step);
    return f;
  }
  StepFacts f;
  if (auto preset = model::model_preset(source)) {
    f.params = params_of(*preset);
  } else if (fs::exists(fs::path(source) / "config.json")) {
    f.params = params_of(model::load_model_config((fs::path(source) / "config.json").string()));
  } else if (fs::is_regular_file(source)) {
    f.params = 1;  // a GGUF file: loaded (and checked) when the step runs; size unknown here
  } else {
    throw_input("{}.{}: '{}' is neither a model preset ({}) nor a checkpoint", ctx.step.where, key, source,
                fmt::join(model::model_preset_names(), ", "));
  }
  return f;
}

// The number of items of a manifest setting: the facts of the step that makes it, else its lines.
int64_t manifest_items(const StepContext& ctx, const std::string& path) {
  const std::string step = producing_step(ctx, path);
  if (!step.empty()) return ctx.facts.at(step).items;
  std::ifstream in(path);
  int64_t lines = 0;
  for (std::string line; std::getline(in, line);) lines += !line.empty();
  return lines;
}

const Limits kDtypes = Limits::one_of({"fp32", "bf16"});

model::LoadOptions load_options(const std::string& dtype, uint64_t seed, int threads) {
  if (threads > 0) set_compute_threads(threads);
  model::LoadOptions o;
  o.dtype = dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  o.seed = seed;
  return o;
}

quant::Recipe checked_recipe(const StepContext& ctx, const std::string& key, const std::string& name) {
  for (auto& r : quant::all_recipes())
    if (r.name == name) return r;
  throw_input("{}.{}: unknown quantization scheme '{}' (`g4u quant schemes`, q4_k_m, gptq_*, awq_*)", ctx.step.where,
              key, name);
}

// ---- synth ------------------------------------------------------------------------------------

PreparedStep prepare_synth(const StepContext& ctx) {
  using O = datasets::SynthOptions;
  static const std::vector<JsonField<O>> fields = {
      json_field("", "suite", &O::suite, "synthetic suite", {}, /*required=*/true),
      json_field("", "n", &O::n, "items", Limits::above(0)),
      json_field("", "seed", &O::seed, "seed"),
  };
  Settings s(ctx);
  O o = read_settings(s, fields);
  datasets::suite_registry().find(o.suite, s.object.field("suite"));
  PreparedStep p;
  p.settings = s.resolved;
  p.facts.items = o.n;
  p.estimate = {o.n * 0.002, 100.0 * (1 << 20), fmt::format("{} items x 2 ms", o.n)};
  o.out = ctx.dir;
  p.run = [o]() { return datasets::synthesize(o); };
  return p;
}

// ---- train ------------------------------------------------------------------------------------

PreparedStep prepare_train(const StepContext& ctx) {
  Settings s(ctx);
  const nlohmann::json& config_json = s.object.raw("config");
  if (!config_json.is_object()) throw_input("{}: expected a train config file name or object", s.object.field("config"));
  detail::reject_unread(s.object);
  const std::string where = ctx.step.config_file.empty() ? s.object.field("config") : ctx.step.config_file;
  TrainConfig c = parse_train_config(config_json, where);
  for (const auto& suite : c.suites) datasets::suite_registry().find(suite.suite, where + ": data.suites");
  for (const auto& m : c.manifests) check_input_file(ctx, "config", m.path);
  for (const auto& t : c.texts) check_input_file(ctx, "config", t.path);
  const model::ModelConfig mc = train_model_config(c);

  PreparedStep p;
  p.settings = s.resolved;
  p.facts.params = params_of(mc);
  p.facts.items = c.eval_n * static_cast<int64_t>(c.suites.size());
  const double tokens = static_cast<double>(c.steps * c.batch_size) * kTokensPerSequence;
  p.estimate = {6.0 * p.facts.params * tokens / kFlopsPerSecond, kRuntimeBytes + 16.0 * p.facts.params,
                fmt::format("6 x {} params x {} tokens ({} steps x {} x {}); 16 B/param", si(p.facts.params), si(tokens),
                            c.steps, c.batch_size, kTokensPerSequence)};
  p.run = [c, dir = ctx.dir]() -> nlohmann::json {
    // Killed after the trainer wrote summary.json (its last act) but before the step was marked.
    if (fs::exists(fs::path(dir) / "summary.json") && !fs::exists(fs::path(dir) / "checkpoint"))
      return read_json_file((fs::path(dir) / "summary.json").string());
    TrainRunOptions o;
    o.out = dir;
    return train(c, o);
  };
  return p;
}

// ---- train-drafter ----------------------------------------------------------------------------

struct DrafterStep {
  std::string target;
  uint64_t seed = 0;
  int threads = 0;
};

PreparedStep prepare_train_drafter(const StepContext& ctx) {
  static const std::vector<JsonField<DrafterStep>> fields = {
      json_field("", "target", &DrafterStep::target, "frozen target model", {}, /*required=*/true),
      json_field("", "seed", &DrafterStep::seed, "seed of the drafter's init and the sampled data"),
      json_field("", "threads", &DrafterStep::threads, "compute threads (0: default)", Limits::at_least(0)),
  };
  Settings s(ctx);
  DrafterTrainOptions options;
  read_option_fields(s.object, options, drafter_train_option_fields(), {"--out"});
  DrafterStep st = read_settings(s, fields);
  options.seed = st.seed;
  check_option_fields(options, drafter_train_option_fields());
  check_input_file(ctx, "data", options.data);
  check_input_file(ctx, "prompts", options.prompts);
  const StepFacts target = model_source(ctx, "target", st.target);
  int64_t draft_params = 0;
  if (auto specs = model::drafter_preset_specs(options.draft)) draft_params = model::count_params(*specs)["total"];
  else check_input_file(ctx, "draft", options.draft);

  PreparedStep p;
  p.settings = s.resolved;
  const double tokens = static_cast<double>(options.steps * options.batch_size * options.seq_len);
  const double sampled = static_cast<double>(options.samples * (options.sample_len > 0 ? options.sample_len : options.seq_len));
  p.estimate = {((2.0 * target.params + 6.0 * draft_params) * tokens + 2.0 * target.params * sampled) / kFlopsPerSecond,
                kRuntimeBytes + 4.0 * target.params + 16.0 * draft_params,
                fmt::format("(2 x {} target + 6 x {} drafter params) x {} tokens + sampling {} tokens", si(target.params),
                            si(draft_params), si(tokens), si(sampled))};
  options.out = ctx.dir;
  p.run = [options, st]() {
    model::LoadedModel target = quant::load_any_model(st.target, load_options("fp32", st.seed, st.threads));
    model::DrafterLoadOptions lo;
    lo.dtype = target.model->dtype();
    lo.seed = st.seed;
    std::shared_ptr<model::Drafter> drafter = model::load_drafter(options.draft, *target.model, lo);
    return run_drafter_training(target, *drafter, options);
  };
  return p;
}

// ---- quantize ---------------------------------------------------------------------------------

struct QuantizeStep {
  std::string model, scheme;
  quant::CalibrationOptions calib;
  int threads = 0;
};

PreparedStep prepare_quantize(const StepContext& ctx) {
  using Q = QuantizeStep;
  static const std::vector<JsonField<Q>> fields = {
      json_field("", "model", &Q::model, "checkpoint folder to quantize", {}, /*required=*/true),
      json_field("", "scheme", &Q::scheme, "recipe (g4u quantize --scheme)", {}, /*required=*/true),
      json_field("", "threads", &Q::threads, "encoder threads (0: all cores)", Limits::at_least(0)),
  };
  Settings s(ctx);
  Q st;
  // The calibration options sit at the top level of the step, as g4u quantize's flags.
  st.calib.text_file = s.object.get_string("calib", "");
  st.calib.segments = s.object.get_int("calib_segments", st.calib.segments);
  st.calib.seq_len = s.object.get_int("calib_len", st.calib.seq_len);
  read_json_fields(s.object, st, fields);
  const quant::Recipe recipe = checked_recipe(ctx, "scheme", st.scheme);
  if (recipe.method != quant::Method::kRoundToNearest && st.calib.text_file.empty())
    throw_input("{}.calib: scheme '{}' needs calibration text", ctx.step.where, st.scheme);
  if (st.calib.segments < 1 || st.calib.seq_len < 2)
    throw_input("{}: calib_segments must be >= 1 and calib_len >= 2", ctx.step.where);
  check_input_file(ctx, "calib", st.calib.text_file);
  const StepFacts source = model_source(ctx, "model", st.model);

  PreparedStep p;
  p.settings = s.resolved;
  p.facts = source;
  p.facts.bits_per_weight = quant::bits_per_weight(*recipe.base, 256, 256);
  const double calib_tokens = st.calib.text_file.empty() ? 0.0 : static_cast<double>(st.calib.segments * st.calib.seq_len);
  p.estimate = {source.params * 50e-9 + 3 * 2.0 * source.params * calib_tokens / kFlopsPerSecond,
                kRuntimeBytes + 4.0 * source.params,
                fmt::format("50 ns/weight x {} params + 3 passes x {} calibration tokens; 4 B/param", si(source.params),
                            si(calib_tokens))};
  p.run = [st, dir = ctx.dir]() {
    quant::QuantizeOptions opt;
    opt.recipe = st.scheme;
    opt.threads = st.threads;
    return quant::quantize_calibrated(st.model, dir, opt, st.calib);
  };
  return p;
}

// ---- eval -------------------------------------------------------------------------------------

PreparedStep prepare_eval(const StepContext& ctx) {
  using O = runner::EvalOptions;
  static const std::vector<JsonField<O>> fields = {
      json_field("", "model", &O::model, "model source", {}, /*required=*/true),
      json_field("", "data", &O::data, "manifest.jsonl", {}, /*required=*/true),
      json_field("", "variant", &O::variant, "name in results and reports (default: the step's name)"),
      json_field("", "dtype", &O::dtype, "execution dtype", kDtypes),
      json_field("", "seed", &O::seed, "random weights of a preset"),
      json_field("", "threads", &O::threads, "compute threads (0: default)", Limits::at_least(0)),
      json_field("", "limit", &O::limit, "only the first N samples (-1: all)", Limits::at_least(-1)),
      json_field("", "batch", &O::batch, "samples per generate() call", Limits::at_least(1)),
      json_field("", "max_new_tokens", &O::max_new_tokens, "cap on new tokens (0: each task's own)", Limits::at_least(0)),
      json_field("", "budget", &O::budget, "soft tokens per image (0: the model default)", Limits::at_least(0)),
      json_field("", "placement", &O::placement, "media placement", Limits::one_of({"before-text", "interleaved"})),
      json_field("", "system", &O::system_prompt, "system message"),
      json_field("", "thinking", &O::thinking, "thinking channel"),
      json_field("", "vision_mask", &O::vision_mask, "vision attention mask",
                 Limits::one_of({"sliding", "all-layers", "causal"})),
      json_field("", "warmup", &O::warmup, "unlogged warm-up generations", Limits::at_least(0)),
  };
  Settings s(ctx);
  O o;
  if (s.object.has("tasks")) {
    const nlohmann::json& tasks = s.object.raw("tasks");
    if (!tasks.is_array()) throw_input("{}: expected a list of task names", s.object.field("tasks"));
    for (const auto& t : tasks) {
      if (!t.is_string()) throw_input("{}: expected a list of task names", s.object.field("tasks"));
      datasets::task_registry().find(t.get<std::string>(), s.object.field("tasks"));
      o.tasks.push_back(t.get<std::string>());
    }
  }
  read_json_fields(s.object, o, fields);
  if (o.variant.empty()) o.variant = ctx.step.name;
  check_input_file(ctx, "data", o.data);
  const StepFacts model = model_source(ctx, "model", o.model);

  PreparedStep p;
  p.settings = s.resolved;
  p.facts.items = manifest_items(ctx, o.data);
  if (o.limit >= 0) p.facts.items = std::min(p.facts.items, o.limit);
  const double tokens = static_cast<double>(p.facts.items) * kTokensPerSequence;
  const double bits = o.dtype == "bf16" ? std::min(16.0, model.bits_per_weight) : model.bits_per_weight;
  p.estimate = {2.0 * model.params * tokens / kFlopsPerSecond, kRuntimeBytes + model.params * bits / 8,
                fmt::format("2 x {} params x {} items x {} tokens; {:.3g} bits/param", si(model.params), p.facts.items,
                            kTokensPerSequence, bits)};
  o.out = ctx.dir;
  const bool tty = ::isatty(STDERR_FILENO);
  o.log = [tty](const std::string& line) {
    if (tty || line.rfind("warning", 0) == 0) fmt::print(stderr, "{}\n", line);
  };
  p.run = [o]() {
    runner::EvalRun r = runner::run_eval(o, [&o]() { return quant::load_any_model(o.model, load_options(o.dtype, o.seed, o.threads)); });
    return nlohmann::json{{"results", r.results_path}, {"samples", r.selected}, {"resumed", r.resumed},
                          {"generated", r.generated}};
  };
  return p;
}

// ---- ppl --------------------------------------------------------------------------------------

struct PplStep {
  quant::PerplexityRun run;
  std::string dtype = "fp32";
  uint64_t seed = 0;
  int threads = 0;
};

PreparedStep prepare_ppl(const StepContext& ctx) {
  static const std::vector<JsonField<PplStep>> fields = {
      json_field("", "dtype", &PplStep::dtype, "execution dtype", kDtypes),
      json_field("", "seed", &PplStep::seed, "random weights of a preset"),
      json_field("", "threads", &PplStep::threads, "compute threads (0: default)", Limits::at_least(0)),
  };
  Settings s(ctx);
  PplStep st;
  quant::PerplexityRun& r = st.run;
  r.model = s.object.get_string("model");
  r.data = s.object.get_string("data");
  r.ctx = s.object.get_int("ctx", r.ctx);
  r.chunks = s.object.get_int("chunks", r.chunks);
  r.quant = s.object.get_string("quant", "");
  r.kl_base = s.object.get_string("kl_base", "");
  read_json_fields(s.object, st, fields);
  if (r.ctx < 4 || r.chunks < 0) throw_input("{}: ctx must be >= 4 and chunks >= 0", ctx.step.where);
  if (!r.quant.empty()) checked_recipe(ctx, "quant", r.quant);
  check_input_file(ctx, "data", r.data);
  const StepFacts model = model_source(ctx, "model", r.model);
  if (!r.kl_base.empty()) model_source(ctx, "kl_base", r.kl_base);

  PreparedStep p;
  p.settings = s.resolved;
  std::error_code ec;
  const double file_tokens = static_cast<double>(fs::file_size(r.data, ec)) / 4;  // ~4 bytes a token
  const double tokens = r.chunks > 0 ? static_cast<double>(r.chunks * r.ctx) : (ec ? 0.0 : file_tokens);
  const double passes = r.kl_base.empty() ? 1 : 2;
  p.estimate = {passes * 2.0 * model.params * tokens / kFlopsPerSecond, kRuntimeBytes + passes * 4.0 * model.params,
                fmt::format("{} model(s) x 2 x {} params x {} tokens", passes, si(model.params), si(tokens))};
  p.run = [st, dir = ctx.dir]() {
    auto load = [&st](const std::string& source) { return quant::load_any_model(source, load_options(st.dtype, st.seed, st.threads)); };
    nlohmann::json j = quant::measure_perplexity(st.run, load);
    j["dtype"] = st.dtype;
    fs::create_directories(dir);
    write_file_atomic((fs::path(dir) / "ppl.json").string(), j.dump(2) + "\n");
    return j;
  };
  return p;
}

// ---- report -----------------------------------------------------------------------------------

PreparedStep prepare_report(const StepContext& ctx) {
  static const std::vector<JsonField<reports::ReportOptions>> fields = {
      json_field("", "baseline", &reports::ReportOptions::baseline, "variant of the paired differences"),
      json_field("", "published", &reports::ReportOptions::published, "published scores file"),
      json_field("", "title", &reports::ReportOptions::title, "report title"),
  };
  Settings s(ctx);
  reports::ReportOptions o;
  const nlohmann::json& evals = s.object.raw("evals");
  const nlohmann::json& raw = ctx.step.settings["evals"];
  if (!evals.is_array() || evals.empty()) throw_input("{}: expected a list of eval steps (\"@<step>\")", s.object.field("evals"));
  for (size_t i = 0; i < evals.size(); ++i) {
    const std::string step = raw[i].is_string() ? referenced_step(raw[i].get<std::string>()) : "";
    const ExperimentStep* source = step.empty() ? nullptr : ctx.experiment.find(step);
    if (!source || source->kind != "eval")
      throw_input("{}[{}]: {} is not a reference to an eval step (\"@<step>\")", s.object.field("evals"), i, raw[i].dump());
    o.results.push_back((fs::path(ctx.experiment.step_dir(step)) / "results.json").string());
  }
  read_json_fields(s.object, o, fields);
  check_input_file(ctx, "published", o.published);
  PreparedStep p;
  p.settings = s.resolved;
  p.estimate = {1.0, 100.0 * (1 << 20), "1 s"};
  o.out = ctx.dir;
  p.run = [o]() { return reports::write_report(o); };
  return p;
}

Registry<StepKind> build_step_kinds() {
  Registry<StepKind> r("step kind");
  r.add({"synth", "g4u data synth: a synthetic suite -> <step>/manifest.jsonl + media", false, prepare_synth});
  r.add({"train", "g4u train: a small model -> <step>/ (HF checkpoint, curves.json, data/eval.jsonl)", true, prepare_train});
  r.add({"train-drafter", "g4u train-drafter: a drafter distilled from a target -> <step>/", false, prepare_train_drafter});
  r.add({"quantize", "g4u quantize: a quantized checkpoint -> <step>/", false, prepare_quantize});
  r.add({"eval", "g4u eval: one variant on a manifest -> <step>/results.json + samples.jsonl", true, prepare_eval});
  r.add({"ppl", "g4u ppl: perplexity (and KL against a base) -> <step>/ppl.json", false, prepare_ppl});
  r.add({"report", "g4u report: eval steps' results -> <step>/report.md + report.html", false, prepare_report});
  return r;
}

}  // namespace

const Registry<StepKind>& step_kinds() {
  static const Registry<StepKind> r = build_step_kinds();
  return r;
}

}  // namespace g4u::experiments
