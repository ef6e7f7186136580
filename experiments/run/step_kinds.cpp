#include "experiments/run/step_kinds.h"

#include "base/error.h"
#include "base/json_util.h"
#include "datasets/benchmarks/benchmarks.h"
#include "datasets/prompt/prompt.h"
#include "datasets/synth/synth.h"
#include "datasets/tasks/tasks.h"
#include "eval/perplexity/perplexity.h"
#include "eval/runner/judge.h"
#include "eval/runner/runner.h"
#include "eval/throughput/throughput.h"
#include "experiments/config_fields.h"
#include "experiments/drafter_trainer.h"
#include "experiments/trainer.h"
#include "model/io/config.h"
#include "model/io/loader.h"
#include "model/io/safetensors.h"
#include "model/io/sysinfo.h"
#include "model/io/tensor_specs.h"
#include "model/multimodal/audio.h"
#include "model/multimodal/image.h"
#include "model/multimodal/projectors.h"
#include "model/mtp/drafter.h"
#include "model/text/chat.h"
#include "model/text/generate.h"
#include "model/text/tokenizer.h"
#include "quant/algorithms/calibrated.h"
#include "quant/io/any_model.h"
#include "quant/layer/policy.h"
#include "reports/published.h"
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
// prompt + soft tokens of the media + answer). The throughput is what the main job's training
// achieved under these counts with the release build on the 2-core development machine, 1 thread,
// while another job ran beside it (6 x 6.7M params x 768k tokens in 451 s: 68 GFLOP/s), rounded
// down for evaluation, whose generation loop is overhead-bound. Rough by design: the plan shows
// orders of magnitude, not promises (the ci build at -O1 runs about 4x slower).
constexpr double kFlopsPerSecond = 5e10;
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

// A checkpoint folder's weights and tokenizer, checked without loading them: the safetensors
// headers against the config's tensor list (a quantized checkpoint's are checked when it loads).
// Missing weights or tokenizer are `warnings` (the plan is made from config.json alone); wrong
// ones are InputErrors naming the setting and the file.
void check_checkpoint_files(const StepContext& ctx, const std::string& key, const std::string& dir,
                            const model::ModelConfig& c, std::vector<std::string>* warnings) {
  const fs::path d(dir);
  if (!fs::exists(d / "model.safetensors") && !fs::exists(d / "model.safetensors.index.json")) {
    if (warnings)
      warnings->push_back(fmt::format("{}: {} holds no weights (model.safetensors or its index): planned from "
                                      "config.json alone; the step cannot run without them",
                                      key, dir));
  } else if (!fs::exists(d / "quantization.json")) {
    try {
      model::Checkpoint ckpt = model::Checkpoint::open(dir);
      ckpt.rename(model::canonical_model_tensor_name);
      model::check_checkpoint_tensors(ckpt, model::model_tensor_specs(c));
    } catch (const InputError& e) {
      throw_input("{}.{}: {}", ctx.step.where, key, e.what());
    }
  }
  if (c.tokenizer == "sentencepiece" && !fs::exists(d / "tokenizer.model") && !fs::exists(d / "tokenizer.json") && warnings)
    warnings->push_back(fmt::format("{}: {} has no tokenizer.model or tokenizer.json: the step cannot run without it", key, dir));
  if (c.tokenizer == "none" && warnings)
    warnings->push_back(fmt::format("{}: {} has no vocabulary (a random `g4u init` checkpoint): the step cannot run", key, dir));
}

// The facts of a model source setting: an earlier step's model, a preset or a checkpoint.
StepFacts model_source(const StepContext& ctx, const std::string& key, const std::string& source,
                       std::vector<std::string>* warnings = nullptr) {
  const std::string step = producing_step(ctx, source);
  if (!step.empty()) {
    const StepFacts& f = ctx.facts.at(step);
    if (f.params == 0) throw_input("{}.{}: step '{}' makes no model", ctx.step.where, key, step);
    return f;
  }
  StepFacts f;
  if (auto preset = model::model_preset(source)) {
    f.params = params_of(*preset);
    f.config = std::make_shared<const model::ModelConfig>(*preset);
  } else if (fs::exists(fs::path(source) / "config.json")) {
    auto config = std::make_shared<const model::ModelConfig>(model::load_model_config((fs::path(source) / "config.json").string()));
    f.params = params_of(*config);
    f.config = config;
    check_checkpoint_files(ctx, key, source, *config, warnings);
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

torch::Device& step_device() {
  static torch::Device device = torch::kCPU;
  return device;
}

model::LoadOptions load_options(const std::string& dtype, uint64_t seed, int threads) {
  if (threads > 0) set_compute_threads(threads);
  model::LoadOptions o;
  o.device = step_device();
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

// ---- import -----------------------------------------------------------------------------------

struct ImportStep {
  std::string benchmark, input, media = "header";
  bool skip_invalid = false, strict_count = false;
};

PreparedStep prepare_import(const StepContext& ctx) {
  using I = ImportStep;
  static const std::vector<JsonField<I>> fields = {
      json_field("", "benchmark", &I::benchmark, "benchmark adapter (g4u data import --list)", {}, /*required=*/true),
      json_field("", "input", &I::input, "export folder (export.json, rows.jsonl, media)", {}, /*required=*/true),
      json_field("", "media", &I::media, "media check", Limits::one_of({"none", "exists", "header", "decode"})),
      json_field("", "skip_invalid", &I::skip_invalid, "skip rows that do not convert (counted) instead of failing"),
      json_field("", "strict_count", &I::strict_count, "a row count other than the release's is an error"),
  };
  Settings s(ctx);
  I st = read_settings(s, fields);
  datasets::benchmark_registry().find(st.benchmark, s.object.field("benchmark"));
  check_input_file(ctx, "input", st.input);
  datasets::ImportOptions o;
  o.benchmark = st.benchmark;
  o.input = st.input;
  o.skip_invalid = st.skip_invalid;
  o.strict_count = st.strict_count;
  o.media = datasets::parse_media_check(st.media);

  PreparedStep p;
  p.settings = s.resolved;
  // Every row converted and checked now (nothing written): the items the eval steps plan with.
  datasets::ImportPreview preview;
  try {
    preview = datasets::preview_import(o);
  } catch (const InputError& e) {
    throw_input("{}.input: {}", ctx.step.where, e.what());
  }
  auto planned = std::make_shared<std::vector<PlannedItem>>();
  for (auto& l : preview.lines) {
    PlannedItem item{datasets::parse_sample(l.line, preview.dir, ctx.step.where, datasets::MediaCheck::kNone), {}, {}};
    for (const auto& m : l.media) (m.sample_rate > 0 ? item.audios : item.images).push_back(m);
    planned->push_back(std::move(item));
  }
  p.facts.items = static_cast<int64_t>(planned->size());
  p.facts.planned = planned;
  const int64_t skipped = preview.info.value("skipped", int64_t(0));
  if (skipped > 0)
    p.warnings.push_back(fmt::format("{} of {} rows of {} do not convert and are skipped (skip_invalid)", skipped,
                                     preview.info.value("rows", int64_t(0)), st.input));
  if (!preview.info["row_count"].value("matches", true))
    p.warnings.push_back(fmt::format("{} has {} rows of {}, the release's split has {}", st.input,
                                     preview.info["row_count"]["got"].get<int64_t>(), st.benchmark,
                                     preview.info["row_count"]["expected"].get<int64_t>()));
  const double rows = preview.info.value("rows", 0.0);
  p.estimate = {rows * 0.001, 100.0 * (1 << 20), fmt::format("{} rows x 1 ms", rows)};
  o.out = ctx.dir;
  p.run = [o]() { return datasets::import_benchmark(o); };
  return p;
}

// ---- train ------------------------------------------------------------------------------------

PreparedStep prepare_train(const StepContext& ctx) {
  Settings s(ctx);
  nlohmann::json config_json = s.object.raw("config");
  if (!config_json.is_object()) throw_input("{}: expected a train config file name or object", s.object.field("config"));
  std::string where = ctx.step.config_file.empty() ? s.object.field("config") : ctx.step.config_file;
  // `patch`: a JSON merge patch on the config (one shared config, per step e.g. another seed or
  // projector: the replicates of an ablation).
  if (s.object.has("patch")) {
    const nlohmann::json& patch = s.object.raw("patch");
    if (!patch.is_object()) throw_input("{}: expected a JSON merge patch object", s.object.field("patch"));
    config_json.merge_patch(patch);
    where += " patched by " + s.object.field("patch");
  }
  detail::reject_unread(s.object);
  TrainConfig c = parse_train_config(config_json, where);
  for (const auto& suite : c.suites) datasets::suite_registry().find(suite.suite, where + ": data.suites");
  for (const auto& m : c.manifests) check_input_file(ctx, "config", m.path);
  for (const auto& t : c.texts) check_input_file(ctx, "config", t.path);
  const model::ModelConfig mc = train_model_config(c);

  PreparedStep p;
  p.settings = s.resolved;
  p.facts.params = params_of(mc);
  p.facts.config = std::make_shared<const model::ModelConfig>(mc);
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

// The items an eval step will see, when they are known now: those the step making its manifest
// planned (import), or the manifest file itself with its media headers; null otherwise (a manifest
// a step like train makes).
std::shared_ptr<const std::vector<PlannedItem>> planned_items(const StepContext& ctx, const std::string& data) {
  const std::string step = producing_step(ctx, data);
  if (!step.empty())
    return data == (fs::path(ctx.experiment.step_dir(step)) / "manifest.jsonl").string() ? ctx.facts.at(step).planned : nullptr;
  auto items = std::make_shared<std::vector<PlannedItem>>();
  datasets::ReaderOptions ro;
  ro.media = datasets::MediaCheck::kHeader;
  try {
    for (auto& sample : datasets::read_manifest(data, ro)) {
      PlannedItem item{std::move(sample), {}, {}};
      for (const auto& ref : item.sample.images) item.images.push_back(datasets::check_media(ref, ro.media, item.sample.where));
      for (const auto& ref : item.sample.audios) item.audios.push_back(datasets::check_media(ref, ro.media, item.sample.where));
      items->push_back(std::move(item));
    }
  } catch (const InputError& e) {
    throw_input("{}.data: {}", ctx.step.where, e.what());
  }
  return items;
}

// The tokenizer the step's model will use, when it can be read now (null: estimate from bytes).
std::unique_ptr<model::Tokenizer> plan_tokenizer(const StepContext& ctx, const std::string& source, const model::ModelConfig& c) {
  if (c.tokenizer == "byte") return model::load_tokenizer(c, "");
  const fs::path dir(source);
  if (c.tokenizer != "sentencepiece" || !producing_step(ctx, source).empty() ||
      (!fs::exists(dir / "tokenizer.model") && !fs::exists(dir / "tokenizer.json")))
    return nullptr;
  try {
    return model::load_tokenizer(c, source);
  } catch (const InputError& e) {
    throw_input("{}.model: {}", ctx.step.where, e.what());
  }
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The per-benchmark plan of an eval step whose items are known: every item's prompt tokens (the
// rendered chat text tokenized, each image's soft tokens at the step's budget from its size, each
// clip's audio tokens from its length, BOI/EOI markers) and new-token budget, priced by the cost
// model on this CPU and on the GPU.
nlohmann::json plan_benchmark(const StepContext& ctx, const runner::EvalOptions& o, const StepFacts& model,
                              const std::vector<PlannedItem>& all, PreparedStep& p) {
  const model::ModelConfig& c = *model.config;
  const std::string& where = ctx.step.where;
  std::vector<const PlannedItem*> items;
  for (const auto& item : all)
    if (o.tasks.empty() || std::find(o.tasks.begin(), o.tasks.end(), item.sample.task->name) != o.tasks.end())
      items.push_back(&item);
  if (o.limit >= 0 && static_cast<int64_t>(items.size()) > o.limit) items.resize(static_cast<size_t>(o.limit));
  if (items.empty())
    throw_input("{}: no item of {} in {}", where, o.tasks.empty() ? "any task" : "tasks " + fmt::format("{}", fmt::join(o.tasks, ", ")),
                o.data);

  std::optional<model::ImageOptions> image;
  if (c.vision) {
    image = model::image_options(*c.vision, o.budget);
    model::check_image_options(*image, where + ".budget");
  }
  std::optional<model::AudioOptions> audio;
  if (c.audio) audio = model::audio_options(*c.audio);
  const std::unique_ptr<model::Tokenizer> tokenizer = plan_tokenizer(ctx, o.model, c);
  datasets::PromptOptions po;
  po.placement = datasets::parse_media_placement(o.placement);
  po.system_prompt = o.system_prompt;
  model::ChatOptions co;
  co.enable_thinking = o.thinking;

  const ModelCost cost = model_cost(c, o.dtype == "bf16" ? std::min(16.0, model.bits_per_weight) : model.bits_per_weight,
                                    o.dtype == "bf16" ? 2 : 4);
  const CpuRates& cpu = measured_cpu_rates(ctx.plan.cpu_probe);
  const GpuSpec& gpu = ctx.plan.gpu;
  std::map<std::string, int64_t> tasks, max_new_by_task;
  std::map<std::string, std::pair<std::string, std::string>> scoring;
  int64_t prompt_tokens = 0, new_tokens = 0, longest = 0, no_media_input = 0, too_long = 0, long_audio = 0;
  double cpu_seconds = 0, gpu_seconds = 0, cpu_peak = 0, gpu_peak = 0;
  for (const PlannedItem* item : items) {
    const datasets::Sample& s = item->sample;
    const std::string text = model::render_chat(datasets::build_chat(s, po), co);
    const int64_t images = static_cast<int64_t>(count_of(text, "<|image|>")), audios = static_cast<int64_t>(count_of(text, "<|audio|>"));
    int64_t prompt = tokenizer ? static_cast<int64_t>(tokenizer->encode(text).size()) - images - audios
                               : static_cast<int64_t>(text.size() - 9 * (images + audios) + 3) / 4;
    if ((images > 0 && !image) || (audios > 0 && !audio)) ++no_media_input;
    for (const auto& info : item->images) {
      if (!image) break;
      int64_t soft = image->budget;
      if (info.width > 0 && info.height > 0) {
        const model::ImageSize t = model::image_target_size(info.height, info.width, image->budget, image->patch_size,
                                                            image->pooling_kernel_size, s.where);
        soft = model::pooled_token_count(t.height / image->model_patch(), t.width / image->model_patch(), c.vision->token_pooling);
      }
      prompt += soft + 2;  // BOI + soft tokens + EOI
    }
    for (const auto& info : item->audios) {
      if (!audio) break;
      int64_t soft = audio->max_frames;  // length unknown: the longest clip
      if (info.sample_rate > 0)
        soft = model::audio_frame_count(model::resampled_length(info.frames, info.sample_rate, audio->sample_rate), audio->frame_length);
      if (soft > audio->max_frames) ++long_audio;
      prompt += soft + 2;
    }
    const int64_t max_new = runner::eval_max_new_tokens(o, *s.task);
    if (prompt + max_new > c.text.max_position_embeddings) ++too_long;
    const ItemCost ic = item_cost(cost, prompt, max_new, cpu, gpu);
    prompt_tokens += prompt;
    new_tokens += max_new;
    longest = std::max(longest, prompt + max_new);
    cpu_seconds += ic.cpu.seconds;
    gpu_seconds += ic.gpu.seconds;
    cpu_peak = std::max(cpu_peak, ic.cpu.bytes);
    gpu_peak = std::max(gpu_peak, ic.gpu.bytes);
    ++tasks[s.task->name];
    max_new_by_task[s.task->name] = max_new;
    scoring[s.task->name] = {s.task->metric, s.normalizer()};
  }
  if (no_media_input > 0)
    p.warnings.push_back(fmt::format("{} items send media the model has no input for: they will fail", no_media_input));
  if (long_audio > 0)
    p.warnings.push_back(fmt::format("{} items have audio longer than {} tokens (30 s): they will fail", long_audio,
                                     audio->max_frames));
  if (too_long > 0)
    p.warnings.push_back(fmt::format("{} items need more than the model's {} positions: they will fail", too_long,
                                     c.text.max_position_embeddings));
  if (cpu.memory_bytes > 0 && cpu_peak > cpu.memory_bytes)
    p.warnings.push_back(fmt::format("needs about {:.1f} GiB on this CPU, which has {:.1f} GiB of memory", cpu_peak / (1 << 30),
                                     cpu.memory_bytes / (1 << 30)));
  if (!tokenizer)
    p.warnings.push_back(fmt::format("model: no tokenizer of {} readable now: text tokens estimated as UTF-8 bytes / 4",
                                     o.model));

  const double shards = static_cast<double>(ctx.plan.shards);
  nlohmann::json task_settings = nlohmann::json::object();
  for (const auto& [task, n] : tasks)
    task_settings[task] = {{"items", n}, {"max_new_tokens", max_new_by_task[task]}, {"metric", scoring[task].first},
                           {"normalizer", scoring[task].second}};
  return {{"items", items.size()},
          {"tasks", task_settings},
          {"prompt_tokens", prompt_tokens},
          {"max_new_tokens", new_tokens},
          {"tokens", prompt_tokens + new_tokens},
          {"longest_item_tokens", longest},
          {"text_tokens", tokenizer ? "tokenizer" : "utf8-bytes/4"},
          {"settings",
           {{"thinking", o.thinking},
            {"thinking_budget", o.thinking_budget},
            {"image_budget", image ? nlohmann::json(image->budget) : nlohmann::json(nullptr)},
            {"placement", o.placement},
            {"system", o.system_prompt},
            {"dtype", o.dtype}}},
          {"model",
           {{"params", cost.params},
            {"text_params", cost.text_params},
            {"bits_per_weight", cost.bits_per_weight},
            {"weight_bytes", cost.weight_bytes()},
            {"decode_weight_bytes", cost.decode_weight_bytes()}}},
          {"shards", ctx.plan.shards},
          {"cpu",
           {{"seconds", cpu_seconds},
            {"per_shard_seconds", cpu_seconds / shards},
            {"peak_bytes", cpu_peak},
            {"fits", cpu.memory_bytes <= 0 || cpu_peak <= cpu.memory_bytes}}},
          {"gpu",
           {{"name", gpu.name},
            {"seconds", gpu_seconds},
            {"per_shard_seconds", gpu_seconds / shards},
            {"peak_bytes", gpu_peak},
            {"fits", gpu_peak <= gpu.memory_bytes},
            {"decode_seconds_per_token", gpu_decode_seconds_per_token(cost, gpu)}}}};
}

// A step's claim about the published number it reproduces, checked against the published file.
nlohmann::json checked_published(const StepContext& ctx, JsonObject& step) {
  JsonObject pub = step.object("published");
  const std::string file = pub.get_string("file"), benchmark = pub.get_string("benchmark");
  const double value = pub.get_double("value");
  detail::reject_unread(pub);
  check_input_file(ctx, "published.file", file);
  const reports::PublishedTable table = reports::read_published(file);
  std::string names;
  for (const auto& e : table.entries) {
    if (e.benchmark != benchmark) {
      names += (names.empty() ? "'" : ", '") + e.benchmark + "'";
      continue;
    }
    if (std::abs(e.value - value) > 1e-9)
      throw_input("{}: {} says {} for '{}', not {}", pub.field("value"), file, e.value, benchmark, value);
    return {{"benchmark", benchmark}, {"value", e.value}, {"unit", e.unit}, {"higher_is_better", e.higher_is_better},
            {"task", e.task}, {"verified", e.verified}, {"source", e.source}, {"file", file}};
  }
  throw_input("{}: no entry '{}' in {} (entries: {})", pub.field("benchmark"), benchmark, file, names);
}

PreparedStep prepare_eval(const StepContext& ctx) {
  using O = runner::EvalOptions;
  static const std::vector<JsonField<O>> fields = {
      json_field("", "model", &O::model, "model source", {}, /*required=*/true),
      json_field("", "data", &O::data, "manifest.jsonl", {}, /*required=*/true),
      json_field("", "variant", &O::variant, "name in results and reports (default: the step's name)"),
      json_field("", "group", &O::group, "replicate group pooled by the report (e.g. a design over seeds)"),
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
      json_field("", "thinking_budget", &O::thinking_budget, "new tokens for the thought beyond the task's (with thinking)",
                 Limits::at_least(0)),
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
  // Annotations of a reproduction: free text, and the published number the step is compared with.
  const std::string note = s.object.get_string("note", "");
  nlohmann::json published = s.object.has("published") ? checked_published(ctx, s.object) : nlohmann::json(nullptr);
  // Speculative decoding beside the plain run (g4u eval --draft ...).
  o.draft.draft = s.object.get_string("draft", "");
  o.draft.k = s.object.get_int("k", o.draft.k);
  o.draft.schedule = s.object.get_string("k_schedule", o.draft.schedule);
  o.draft.k_max = s.object.get_int("k_max", o.draft.k_max);
  o.draft.draft_quant = s.object.get_string("draft_quant", "");
  read_json_fields(s.object, o, fields);
  if (!o.draft.draft.empty()) {
    if (o.batch != 1) throw_input("{}: speculative decoding (draft) runs one sample at a time: batch must be 1", s.object.field("batch"));
    if (o.draft.k < 1 || o.draft.k_max < o.draft.k)
      throw_input("{}: k must be >= 1 and k_max >= k (k {}, k_max {})", ctx.step.where, o.draft.k, o.draft.k_max);
    if (o.draft.schedule != "fixed" && o.draft.schedule != "heuristic")
      throw_input("{}: expected fixed or heuristic, got '{}'", s.object.field("k_schedule"), o.draft.schedule);
    if (!o.draft.draft_quant.empty()) checked_recipe(ctx, "draft_quant", o.draft.draft_quant);
    if (!model::drafter_preset_specs(o.draft.draft)) check_input_file(ctx, "draft", o.draft.draft);
    o.load_drafter = [d = o.draft, seed = o.seed](model::LoadedModel& target) {
      return quant::load_any_drafter(d.draft, target, seed, d.draft_quant);
    };
  }
  if (o.variant.empty()) o.variant = ctx.step.name;
  if (o.thinking_budget > 0 && !o.thinking)
    throw_input("{}: thinking_budget is {} but thinking is off", s.object.field("thinking_budget"), o.thinking_budget);
  check_input_file(ctx, "data", o.data);

  PreparedStep p;
  const StepFacts model = model_source(ctx, "model", o.model, &p.warnings);
  p.settings = s.resolved;
  p.facts.items = manifest_items(ctx, o.data);
  if (o.limit >= 0) p.facts.items = std::min(p.facts.items, o.limit);
  const double bits = o.dtype == "bf16" ? std::min(16.0, model.bits_per_weight) : model.bits_per_weight;
  const auto items = model.config ? planned_items(ctx, o.data) : nullptr;
  if (items) {
    nlohmann::json b = plan_benchmark(ctx, o, model, *items, p);
    p.facts.items = b["items"].get<int64_t>();
    if (!note.empty()) b["note"] = note;
    if (!published.is_null()) b["published"] = published;
    const CpuRates& cpu = measured_cpu_rates(ctx.plan.cpu_probe);
    p.estimate = {b["cpu"]["seconds"].get<double>(), b["cpu"]["peak_bytes"].get<double>(),
                  fmt::format("{} items, {} prompt + {} new tokens; {} params at {:.3g} bits; per-token costs measured on "
                              "the {} preset, scaled by FLOPs and bytes (below)",
                              p.facts.items, si(b["prompt_tokens"].get<double>()), si(b["max_new_tokens"].get<double>()),
                              si(model.params), bits, cpu.probe)};
    p.benchmark = b;
  } else {
    const double tokens = static_cast<double>(p.facts.items) * kTokensPerSequence;
    p.estimate = {2.0 * model.params * tokens / kFlopsPerSecond, kRuntimeBytes + model.params * bits / 8,
                  fmt::format("2 x {} params x {} items x {} tokens; {:.3g} bits/param", si(model.params), p.facts.items,
                              kTokensPerSequence, bits)};
  }
  if (!o.draft.draft.empty()) {
    p.estimate.seconds *= 2;
    p.estimate.basis += "; x2: the speculative pass beside the plain one";
  }
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
  std::string variant;
  std::string dtype = "fp32";
  std::string kl_base_dtype = "fp32";  // the reference distribution in full precision
  uint64_t seed = 0;
  int threads = 0;
};

PreparedStep prepare_ppl(const StepContext& ctx) {
  static const std::vector<JsonField<PplStep>> fields = {
      json_field("", "variant", &PplStep::variant, "variant name for the report (default: the step's name)"),
      json_field("", "dtype", &PplStep::dtype, "execution dtype", kDtypes),
      json_field("", "kl_base_dtype", &PplStep::kl_base_dtype, "execution dtype of the KL base", kDtypes),
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
  if (st.variant.empty()) st.variant = ctx.step.name;
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
    auto load_base = [&st](const std::string& source) {
      return quant::load_any_model(source, load_options(st.kl_base_dtype, st.seed, st.threads));
    };
    nlohmann::json j = quant::measure_perplexity(st.run, load, {}, load_base);
    j["dtype"] = st.dtype;
    j["variant"] = st.variant;
    fs::create_directories(dir);
    write_file_atomic((fs::path(dir) / "ppl.json").string(), j.dump(2) + "\n");
    return j;
  };
  return p;
}

// ---- bench ------------------------------------------------------------------------------------

struct BenchStep {
  std::string model, variant, dtype = "fp32";
  throughput::ThroughputOptions options;
  int threads = 0;
};

PreparedStep prepare_bench(const StepContext& ctx) {
  using B = BenchStep;
  static const std::vector<JsonField<B>> fields = {
      json_field("", "model", &B::model, "model to measure", {}, /*required=*/true),
      json_field("", "variant", &B::variant, "variant name for the report (default: the step's name)"),
      json_field("", "dtype", &B::dtype, "execution dtype", kDtypes),
      json_field("", "threads", &B::threads, "compute threads (0: default)", Limits::at_least(0)),
  };
  Settings s(ctx);
  B st;
  st.options.prompt = s.object.get_int("prompt_tokens", 128);
  st.options.gen = s.object.get_int("gen_tokens", 32);
  st.options.reps = static_cast<int>(s.object.get_int("reps", 3));
  st.options.seed = static_cast<uint64_t>(s.object.get_int("seed", 0));
  read_json_fields(s.object, st, fields);
  if (st.options.prompt < 0 || st.options.gen < 0 || st.options.prompt + st.options.gen == 0)
    throw_input("{}: prompt_tokens and gen_tokens must be >= 0, one of them > 0", ctx.step.where);
  if (st.options.reps < 1 || st.options.reps > 1000) throw_input("{}: reps must be in [1, 1000]", ctx.step.where);
  if (st.variant.empty()) st.variant = ctx.step.name;
  const StepFacts model = model_source(ctx, "model", st.model);
  if (model.config) {
    model::check_fits_positions(model.config->text, st.options.prompt, st.options.gen, ctx.step.where);
  }

  PreparedStep p;
  p.settings = s.resolved;
  const double tokens = static_cast<double>((st.options.prompt + st.options.gen) * (st.options.reps + 1));
  p.estimate = {2.0 * model.params * tokens / kFlopsPerSecond, kRuntimeBytes + model.params * model.bits_per_weight / 8,
                fmt::format("2 x {} params x {} tokens ({} + {} tokens, {} reps + warm-up)", si(model.params), si(tokens),
                            st.options.prompt, st.options.gen, st.options.reps)};
  p.run = [st, dir = ctx.dir]() {
    throughput::ThroughputRun run = throughput::measure_throughput(
        [&st]() { return quant::load_any_model(st.model, load_options(st.dtype, st.options.seed, st.threads)); }, st.options);
    nlohmann::json j = run.report;
    j["dtype"] = st.dtype;
    j["variant"] = st.variant;
    fs::create_directories(dir);
    write_file_atomic((fs::path(dir) / "bench.json").string(), j.dump(2) + "\n");
    return nlohmann::json{{"prefill_tokens_per_s", j.contains("prefill") ? j["prefill"]["tokens_per_s"] : nlohmann::json(nullptr)},
                          {"decode_tokens_per_s", j.contains("decode") ? j["decode"]["tokens_per_s"] : nlohmann::json(nullptr)},
                          {"peak_rss_bytes", j["peak_rss_bytes"]}};
  };
  return p;
}

// ---- judge ------------------------------------------------------------------------------------

struct JudgeStep {
  runner::JudgeOptions options;
  int threads = 0;
};

// Judged scores for an eval step's records (g4u judge): written into that step's folder, beside its
// samples.jsonl (judge.json, judge.jsonl, the judged blocks of its results.json).
PreparedStep prepare_judge(const StepContext& ctx) {
  using J = JudgeStep;
  using JO = runner::JudgeOptions;
  static const std::vector<JsonField<J>> fields = {
      json_field("", "threads", &J::threads, "compute threads (0: default)", Limits::at_least(0)),
  };
  Settings s(ctx);
  J st;
  JO& o = st.options;
  const nlohmann::json& raw = ctx.step.settings.contains("eval") ? ctx.step.settings["eval"] : nlohmann::json();
  const std::string step = raw.is_string() ? referenced_step(raw.get<std::string>()) : "";
  const ExperimentStep* source = step.empty() ? nullptr : ctx.experiment.find(step);
  if (!source || source->kind != "eval")
    throw_input("{}: {} is not a reference to an eval step (\"@<step>\")", s.object.field("eval"), raw.dump());
  s.object.mark_read("eval");
  o.run_dir = ctx.experiment.step_dir(step);
  o.model = s.object.get_string("model");
  o.dtype = s.object.get_string("dtype", "fp32");
  o.seed = static_cast<uint64_t>(s.object.get_int("seed", 0));
  o.prompt_version = s.object.get_string("prompt_version", "v1");
  o.batch = s.object.get_int("batch", 8);
  o.max_new_tokens_choice = s.object.get_int("max_new_tokens_choice", 8);
  o.max_new_tokens_answer = s.object.get_int("max_new_tokens_answer", 48);
  read_json_fields(s.object, st, fields);
  runner::judge_prompts(o.prompt_version);
  if (o.dtype != "fp32" && o.dtype != "bf16") throw_input("{}: expected fp32 or bf16, got '{}'", s.object.field("dtype"), o.dtype);
  if (o.batch < 1) throw_input("{}: must be at least 1", s.object.field("batch"));
  const StepFacts judge = model_source(ctx, "model", o.model);
  PreparedStep p;
  p.settings = s.resolved;
  // At most every record of the eval goes to the judge; a judge prompt is the question, the options
  // and the response (about 400 tokens) plus the answer budget.
  const double items = static_cast<double>(ctx.facts.at(step).items);
  const double tokens = items * (400.0 + static_cast<double>(o.max_new_tokens_answer));
  const double bits = o.dtype == "bf16" ? std::min(16.0, judge.bits_per_weight) : judge.bits_per_weight;
  p.estimate = {2.0 * judge.params * tokens / kFlopsPerSecond, kRuntimeBytes + judge.params * bits / 8,
                fmt::format("at most {} records x 2 x {} params x {} tokens", items, si(judge.params),
                            400 + o.max_new_tokens_answer)};
  p.run = [st]() {
    runner::JudgeRun r = runner::run_judge(st.options, [&st]() {
      return quant::load_any_model(st.options.model, load_options(st.options.dtype, st.options.seed, st.threads));
    });
    return nlohmann::json{{"requests", r.requests}, {"judged_now", r.judged_now}, {"resumed", r.resumed}, {"invalid", r.invalid}};
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
  // Measurements by ppl and bench steps, and the judge steps whose judged scores the evals' results
  // carry (listed so that the report waits for them): lists of references to steps of that kind.
  for (const char* kind : {"ppl", "bench", "judge"}) {
    if (!s.object.has(kind)) continue;
    const nlohmann::json& list = s.object.raw(kind);
    const nlohmann::json& raw_list = ctx.step.settings[kind];
    if (!list.is_array()) throw_input("{}: expected a list of {} steps (\"@<step>\")", s.object.field(kind), kind);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string step = raw_list[i].is_string() ? referenced_step(raw_list[i].get<std::string>()) : "";
      const ExperimentStep* source = step.empty() ? nullptr : ctx.experiment.find(step);
      if (!source || source->kind != kind)
        throw_input("{}[{}]: {} is not a reference to a {} step (\"@<step>\")", s.object.field(kind), i, raw_list[i].dump(), kind);
      if (std::string(kind) == "judge") continue;  // its output is in the eval step's results.json
      (std::string(kind) == "ppl" ? o.ppl : o.bench)
          .push_back((fs::path(ctx.experiment.step_dir(step)) / (std::string(kind) + ".json")).string());
    }
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
  r.add({"import", "g4u data import: a benchmark export -> <step>/manifest.jsonl + media", false, prepare_import});
  r.add({"train", "g4u train: a small model -> <step>/ (HF checkpoint, curves.json, data/eval.jsonl)", true, prepare_train});
  r.add({"train-drafter", "g4u train-drafter: a drafter distilled from a target -> <step>/", false, prepare_train_drafter});
  r.add({"quantize", "g4u quantize: a quantized checkpoint -> <step>/", false, prepare_quantize});
  r.add({"eval", "g4u eval: one variant on a manifest -> <step>/results.json + samples.jsonl", true, prepare_eval,
         {"note", "published"}, true});
  r.add({"ppl", "g4u ppl: perplexity (and KL against a base) -> <step>/ppl.json", false, prepare_ppl});
  r.add({"bench", "g4u bench: prefill and decode tokens/s, load time, peak RSS -> <step>/bench.json", false, prepare_bench,
         {}, true});
  r.add({"judge", "g4u judge: a local judge model over an eval step's records -> judged scores in its results.json", true,
         prepare_judge});
  r.add({"report", "g4u report: eval steps' results (+ ppl, bench) -> <step>/report.md + report.html", false, prepare_report});
  return r;
}

}  // namespace

void set_step_device(torch::Device device) { step_device() = device; }

const Registry<StepKind>& step_kinds() {
  static const Registry<StepKind> r = build_step_kinds();
  return r;
}

}  // namespace g4u::experiments
