#include "eval/runner/runner.h"
#include "model/io/device.h"

#include "eval/results/judge_log.h"
#include "datasets/manifest/manifest.h"
#include "datasets/prompt/prompt.h"
#include "datasets/tasks/tasks.h"
#include "model/text/chat.h"
#include "base/error.h"
#include "base/hash.h"
#include "model/text/generate.h"
#include "base/json_util.h"
#include "model/io/loader.h"
#include "model/multimodal/prompt.h"
#include "model/io/sysinfo.h"
#include "eval/runner/environment.h"
#include "eval/results/meters.h"
#include "eval/runner/module_tensors.h"
#include "eval/results/sample_log.h"
#include "eval/results/speculative.h"
#include "model/io/tensor_specs.h"
#include "model/mtp/drafter.h"
#include "model/mtp/speculative.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_set>

namespace g4u::runner {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

model::VisionMask parse_mask(const std::string& name) {
  if (name == "sliding") return model::VisionMask::kSlidingBlocks;
  if (name == "all-layers") return model::VisionMask::kAllLayersNoWindow;
  if (name == "causal") return model::VisionMask::kNone;
  throw_input("--vision-mask {}: expected sliding, all-layers or causal", name);
}

std::string default_variant(const EvalOptions& o) {
  std::string name = fs::path(o.model).filename().string();
  if (name.empty()) name = fs::path(o.model).parent_path().filename().string();
  if (name.empty()) name = o.model;
  return o.dtype == "fp32" ? name : name + ":" + o.dtype;
}

void check_options(const EvalOptions& o) {
  if (o.model.empty()) throw_input("--model: required");
  if (o.data.empty()) throw_input("--data: required");
  if (o.out.empty()) throw_input("--out: required");
  if (o.batch < 1) throw_input("--batch {}: must be >= 1", o.batch);
  if (o.warmup < 0) throw_input("--warmup {}: must be >= 0", o.warmup);
  if (o.max_new_tokens < 0) throw_input("--max-new-tokens {}: must be >= 0", o.max_new_tokens);
  if (o.budget < 0) throw_input("--budget {}: must be >= 0", o.budget);
  if (o.thinking_budget < 0) throw_input("--thinking-budget {}: must be >= 0", o.thinking_budget);
  if (o.thinking_budget > 0 && !o.thinking) throw_input("--thinking-budget {}: needs --thinking", o.thinking_budget);
  for (const auto& t : o.tasks) datasets::find_task(t);  // unknown -> InputError listing the known tasks
  datasets::parse_media_placement(o.placement);
  parse_mask(o.vision_mask);
  if (!fs::is_regular_file(o.data)) throw_input("--data {}: no such file", o.data);
  if (!o.draft.draft.empty()) {
    if (o.batch != 1) throw_input("--draft: speculative decoding runs one sample at a time; use --batch 1 (not {})", o.batch);
    if (o.draft.k <= 0) throw_input("--k {}: the draft length must be >= 1", o.draft.k);
    if (o.draft.k_max < o.draft.k) throw_input("--k-max {}: must be >= --k {}", o.draft.k_max, o.draft.k);
    model::parse_k_schedule(o.draft.schedule);
    G4U_CHECK(o.load_drafter != nullptr, "run_eval: --draft without a drafter loader");
  }
}

// One prepared row of a batch.
struct Prepared {
  const datasets::Sample* sample = nullptr;
  model::MultimodalPrompt prompt;
  std::string prompt_hash;
  std::string error;  // preparation failed (bad media, ...): logged without generation
};

class Runner {
 public:
  Runner(const EvalOptions& o, model::LoadedModel& lm, SampleLogWriter& writer, Scorer& scorer, std::string run_id)
      : o_(o), lm_(lm), writer_(writer), scorer_(scorer), run_id_(std::move(run_id)), mask_(parse_mask(o.vision_mask)) {
    popts_.placement = datasets::parse_media_placement(o.placement);
    popts_.system_prompt = o.system_prompt;
  }

  size_t generated() const { return generated_; }

  // Speculative decoding beside the plain run (EvalOptions::draft).
  void set_drafter(std::shared_ptr<model::Drafter> drafter, const std::string& log_path) {
    drafter_ = std::move(drafter);
    spec_log_path_ = log_path;
    spec_.k = o_.draft.k;
    spec_.k_max = o_.draft.k_max;
    spec_.schedule = model::parse_k_schedule(o_.draft.schedule);
    spec_.sampling.temperature = 0;  // greedy, as the plain run
  }

  void run_batch(const std::vector<const datasets::Sample*>& batch) {
    const datasets::TaskInfo& task = *batch.front()->task;
    double t0 = now_seconds();
    std::vector<Prepared> rows;
    for (const datasets::Sample* s : batch) rows.push_back(prepare(*s));
    double preprocess_s = now_seconds() - t0;

    std::vector<Prepared*> ok;
    for (auto& r : rows)
      if (r.error.empty()) ok.push_back(&r);
      else log_failed(r, task);
    if (ok.empty()) return;
    // Each row was checked alone; the batch runs its rows together, left-padded to the longest.
    if (ok.size() > 1) {
      size_t longest = 0;
      for (const Prepared* p : ok) longest = std::max(longest, p->prompt.input_ids.size());
      const int64_t rows_n = static_cast<int64_t>(ok.size());
      model::check_fits_memory(lm_.model->config().text, rows_n, static_cast<int64_t>(longest), max_new_tokens(task), rows_n,
                               c10::elementSize(lm_.model->dtype()),
                               fmt::format("--batch {} (task {}; use a smaller --batch)", o_.batch, task.name));
    }

    if (!warmed_up_) warm_up(*ok.front(), task);

    std::vector<std::vector<int64_t>> prompts;
    std::vector<model::ImagePatches> images;
    std::vector<model::AudioFrames> audios;
    for (Prepared* p : ok) {
      prompts.push_back(p->prompt.input_ids);
      for (auto& im : p->prompt.images) images.push_back(im);
      for (auto& au : p->prompt.audios) audios.push_back(au);
    }
    model::GenerateOptions go;
    go.max_new_tokens = max_new_tokens(task);
    go.sampling.temperature = 0;  // greedy
    model::Gemma4Model& m = *lm_.model;
    double embed_s = 0;
    auto prefill = [&](const torch::Tensor& ids) {
      double e0 = now_seconds();
      torch::Tensor embeds = model::embed_multimodal(m, ids, images, audios);
      embed_s = now_seconds() - e0;
      return model::PrefillInputs{embeds, model::multimodal_forward_options(ids, m.config(), mask_)};
    };
    model::GenerateResult g = model::generate(m, prompts, go, prefill);

    BatchTiming bt;
    bt.id = fmt::format("{}/{}", run_id_, batch_counter_++);
    bt.size = static_cast<int64_t>(ok.size());
    bt.prompt_tokens = g.timing.prompt_tokens;
    bt.new_tokens = g.timing.generated_tokens;
    bt.preprocess_s = preprocess_s;
    bt.embed_s = embed_s;
    bt.prefill_s = g.timing.prefill_seconds;
    bt.decode_s = g.timing.decode_seconds;
    bt.kv_cache_bytes = g.kv_cache_bytes;
    for (size_t b = 0; b < ok.size(); ++b) {
      const Prepared& p = *ok[b];
      // Logged before the sample's record: a run killed between the two redoes the sample and its
      // line (the later line of an id wins).
      if (drafter_) log_speculative(p, task, g.tokens[b], g.timing.decode_seconds);
      SampleRecord r = base_record(*p.sample, task);
      r.prompt_hash = p.prompt_hash;
      r.prompt_tokens = static_cast<int64_t>(p.prompt.input_ids.size());
      std::vector<int64_t> tokens = g.tokens[b];
      r.new_tokens = static_cast<int64_t>(tokens.size());
      r.stopped = g.stopped[b];
      if (r.stopped && !tokens.empty()) tokens.pop_back();  // the stop token is not part of the answer
      r.prediction = sanitize_utf8(lm_.tokenizer->decode(tokens, /*skip_special=*/false), &r.prediction_lossy);
      r.ttft_s = g.timing.prefill_seconds;
      for (int64_t k = 1; k < r.new_tokens; ++k) r.token_s.push_back(g.timing.token_seconds.at(static_cast<size_t>(k - 1)));
      r.batch = bt;
      scorer_.score_one(r);
      writer_.append(r);
      ++generated_;
    }
  }

 private:
  int64_t max_new_tokens(const datasets::TaskInfo& t) const { return eval_max_new_tokens(o_, t); }

  SampleRecord base_record(const datasets::Sample& s, const datasets::TaskInfo& t) const {
    SampleRecord r;
    r.id = s.id;
    r.task = t.name;
    r.metric = t.metric;
    r.normalizer = s.normalizer();
    r.max_new_tokens = max_new_tokens(t);
    r.references = s.answers;
    r.choices = s.choices;
    r.cluster = s.cluster;
    const json& meta = s.meta;
    auto meta_string = [&](const char* key) -> std::optional<std::string> {
      auto it = meta.find(key);
      if (it == meta.end() || it->is_null()) return std::nullopt;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
      throw_input("{}: field 'meta.{}': expected a string", s.where, key);
    };
    r.group = meta_string("group");
    if (!r.group && meta.contains("index") && meta["index"].is_number_integer())
      r.group = std::to_string(meta["index"].get<int64_t>() % 1000000);  // MMBench circular copies
    r.question_type = meta_string("question_type");
    r.answer_type = meta_string("answer_type");
    if (meta.contains("precision") && meta["precision"].is_number()) r.precision = static_cast<int>(meta["precision"].get<double>());
    for (const datasets::Breakdown& b : t.breakdowns) {
      std::vector<std::string> values = datasets::breakdown_values(meta, b, s.where);
      if (!values.empty()) r.breakdown[b.name] = std::move(values);
    }
    return r;
  }

  Prepared prepare(const datasets::Sample& s) {
    Prepared p;
    p.sample = &s;
    try {
      const model::ModelConfig& c = lm_.model->config();
      std::vector<model::ChatMessage> msgs = datasets::build_chat(s, popts_);
      std::vector<model::ImagePatches> images;
      std::vector<model::AudioFrames> audios;
      std::string media_hashes;
      for (const auto& m : msgs)
        for (const auto& item : m.content) {
          if (item.kind == model::ChatItem::Kind::kImage) {
            if (!c.vision) throw_input("{}: task {} sends an image but model {} has no vision input", s.where, s.task->name, lm_.source);
            images.push_back(model::preprocess_image_file(item.path, model::image_options(*c.vision, o_.budget)));
            media_hashes += "\n" + hex64(fnv1a64_file(item.path));
          } else if (item.kind == model::ChatItem::Kind::kAudio) {
            if (!c.audio) throw_input("{}: task {} sends audio but model {} has no audio input", s.where, s.task->name, lm_.source);
            audios.push_back(model::preprocess_audio_file(item.path, model::audio_options(*c.audio)));
            media_hashes += "\n" + hex64(fnv1a64_file(item.path));
          } else if (item.kind == model::ChatItem::Kind::kVideo) {
            throw_input("{}: video is not supported by the runner", s.where);
          }
        }
      model::ChatOptions co;
      co.enable_thinking = o_.thinking;
      std::string text = model::render_chat(msgs, co);
      p.prompt_hash = "fnv1a64:" + hex64(fnv1a64(text + media_hashes));
      p.prompt = model::expand_placeholders(lm_.tokenizer->encode(text), c, std::move(images), std::move(audios), s.where);
      model::check_fits_positions(lm_.model->config().text, static_cast<int64_t>(p.prompt.input_ids.size()),
                                  max_new_tokens(*s.task), s.where);
      model::check_fits_memory(lm_.model->config().text, 1, static_cast<int64_t>(p.prompt.input_ids.size()),
                               max_new_tokens(*s.task), 1, 4, s.where);
    } catch (const InputError& e) {
      p.error = e.what();
    }
    return p;
  }

  // A sample that could not be prompted (unreadable media, too long, ...) is logged as failed and
  // scored on an empty output (eval-benchmarks.md R13: missing generations count as wrong).
  void log_failed(const Prepared& p, const datasets::TaskInfo& task) {
    if (o_.log) o_.log(fmt::format("warning: {} failed: {}", p.sample->id, p.error));
    SampleRecord r = base_record(*p.sample, task);
    r.error = p.error;
    r.prompt_hash = "";
    r.batch.id = fmt::format("{}/failed", run_id_);
    r.batch.size = 1;
    scorer_.score_one(r);
    writer_.append(r);
    ++generated_;
  }

  // The prompt's multimodal prefill (soft tokens of its images and audio scattered in).
  model::PrefillFn prefill_of(const Prepared& p) {
    model::Gemma4Model& m = *lm_.model;
    return [&m, &p, this](const torch::Tensor& ids) {
      return model::PrefillInputs{model::embed_multimodal(m, ids, p.prompt.images, p.prompt.audios),
                                  model::multimodal_forward_options(ids, m.config(), mask_)};
    };
  }

  void warm_up(const Prepared& p, const datasets::TaskInfo& task) {
    warmed_up_ = true;
    model::Gemma4Model& m = *lm_.model;
    for (int64_t i = 0; i < o_.warmup; ++i) {
      model::GenerateOptions go;
      go.max_new_tokens = std::min<int64_t>(max_new_tokens(task), 4);
      model::generate(m, {p.prompt.input_ids}, go, prefill_of(p));
      if (drafter_) {
        model::SpeculativeOptions so = spec_;
        so.max_new_tokens = go.max_new_tokens;
        model::speculative_generate(m, *drafter_, p.prompt.input_ids, so, prefill_of(p));
      }
    }
  }

  // Decodes the sample again speculatively and appends its line to speculative.jsonl: whether the
  // tokens equal the plain run's, the acceptance counts, both decode times.
  void log_speculative(const Prepared& p, const datasets::TaskInfo& task, const std::vector<int64_t>& plain,
                       double plain_decode_s) {
    model::SpeculativeOptions so = spec_;
    so.max_new_tokens = max_new_tokens(task);
    model::SpeculativeResult r = model::speculative_generate(*lm_.model, *drafter_, p.prompt.input_ids, so, prefill_of(p));
    SpeculativeSample s;
    s.id = p.sample->id;
    s.task = task.name;
    s.equal = r.tokens == plain;
    s.plain_tokens = static_cast<int64_t>(plain.size());
    s.spec_tokens = static_cast<int64_t>(r.tokens.size());
    s.plain_decode_s = plain_decode_s;
    s.spec_decode_s = r.timing.decode_seconds;
    s.rounds = r.stats.rounds;
    s.drafted = r.stats.drafted;
    s.accepted = r.stats.accepted;
    s.position_drafted = r.stats.position_drafted;
    s.position_accepted = r.stats.position_accepted;
    for (int64_t k : r.stats.k_used) s.k_sum += k;
    s.draft_s = r.draft_seconds;
    s.verify_s = r.verify_seconds;
    std::ofstream out(spec_log_path_, std::ios::app);
    out << speculative_sample_to_json(s).dump() << "\n";
    out.flush();
    if (!out) throw_input("{}: cannot append a line: {}", spec_log_path_, std::strerror(errno));
  }

  const EvalOptions& o_;
  model::LoadedModel& lm_;
  SampleLogWriter& writer_;
  Scorer& scorer_;
  std::string run_id_;
  model::VisionMask mask_;
  datasets::PromptOptions popts_;
  std::shared_ptr<model::Drafter> drafter_;
  model::SpeculativeOptions spec_;
  std::string spec_log_path_;
  bool warmed_up_ = false;
  size_t batch_counter_ = 0;
  size_t generated_ = 0;
};

std::string make_run_id(const EvalOptions& o) {
  auto t = std::chrono::system_clock::now().time_since_epoch();
  uint64_t us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t).count());
  return fmt::format("s{}-{}-{}-{}", o.shard.index, o.shard.count, us, ::getpid());
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

// The recipe of a quantized checkpoint folder (quantization.json), null for anything else.
json quant_recipe(const std::string& model_source) {
  const fs::path meta = fs::path(model_source) / "quantization.json";
  if (!fs::exists(meta)) return nullptr;
  json j = read_json_file(meta.string());
  return j.contains("recipe") ? j["recipe"] : json(nullptr);
}

json eval_config(const EvalOptions& o) {
  std::vector<std::string> tasks = o.tasks;
  std::sort(tasks.begin(), tasks.end());
  tasks.erase(std::unique(tasks.begin(), tasks.end()), tasks.end());
  json c;
  c["runner"] = {{"name", "g4u eval"}, {"record_version", kSampleRecordVersion}};
  c["model"] = {{"source", o.model}, {"dtype", o.dtype}, {"seed", o.seed}, {"quant", nullptr}};
  c["data"] = {{"manifest", fs::absolute(o.data).lexically_normal().string()},
               {"manifest_fnv1a64", hex64(fnv1a64_file(o.data))},
               {"tasks", tasks.empty() ? json("all") : json(tasks)},
               {"skip_invalid", o.skip_invalid}};
  c["prompt"] = {{"chat_format", "gemma4"},
                 {"placement", o.placement},
                 {"system_prompt", o.system_prompt},
                 {"thinking", o.thinking},
                 {"image_budget", o.budget},
                 {"vision_mask", o.vision_mask}};
  c["generation"] = {{"decoding", "greedy"},
                     {"max_new_tokens", o.max_new_tokens > 0 ? json(o.max_new_tokens) : json("task")},
                     {"stop", "config eos ids"}};
  // Only when set, so that the hash of every earlier run's config stays what it was.
  if (o.thinking && o.thinking_budget > 0) c["generation"]["thinking_budget"] = o.thinking_budget;
  if (!o.draft.draft.empty())
    c["speculative"] = {{"draft", o.draft.draft},
                        {"k", o.draft.k},
                        {"k_schedule", o.draft.schedule},
                        {"k_max", o.draft.k_max},
                        {"draft_quant", o.draft.draft_quant.empty() ? json(nullptr) : json(o.draft.draft_quant)}};
  c["scoring"] = o.scoring.to_json();
  return c;
}

int64_t eval_max_new_tokens(const EvalOptions& o, const datasets::TaskInfo& t) {
  const int64_t answer = o.max_new_tokens > 0 ? std::min<int64_t>(o.max_new_tokens, t.max_new_tokens) : t.max_new_tokens;
  return answer + (o.thinking ? o.thinking_budget : 0);
}

EvalRun run_eval(const EvalOptions& o, const std::function<model::LoadedModel()>& load) {
  check_options(o);
  auto say = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw_input("--out {}: cannot create folder: {}", o.out, ec.message());
  if (!fs::is_directory(o.out)) throw_input("--out {}: not a folder", o.out);

  // The run's identity: a resume must be the same config and shard.
  json config = eval_config(o);
  std::string hash = config_hash(config);
  std::string variant = o.variant.empty() ? default_variant(o) : o.variant;
  const std::string run_path = (fs::path(o.out) / "run.json").string();
  const std::string log_path = (fs::path(o.out) / "samples.jsonl").string();
  if (fs::exists(run_path)) {
    json prev = read_json_file(run_path);
    JsonObject po(prev, run_path);
    std::string prev_hash = po.get_string("config_hash");
    std::string prev_shard = po.get_string("shard");
    if (prev_hash != hash)
      throw_input("{}: field 'config_hash': this folder holds a run of another config ({} vs {} now: model, data, "
                  "tasks, prompt, generation or scoring differ); use a new --out",
                  run_path, prev_hash, hash);
    if (prev_shard != o.shard.str())
      throw_input("{}: field 'shard': this folder holds shard {}, not {}", run_path, prev_shard, o.shard.str());
  } else if (fs::exists(log_path)) {
    throw_input("{}: a sample log without run.json; refusing to mix runs (use a new --out)", log_path);
  } else {
    write_file_atomic(run_path, json({{"config", config}, {"config_hash", hash}, {"shard", o.shard.str()},
                                      {"variant", variant}, {"created_utc", utc_now()}})
                                        .dump(2) + "\n");
  }

  SampleLogWriter writer(log_path);  // exclusive lock first, then repair
  SampleLog log = read_sample_log(log_path, /*repair=*/true);
  if (log.torn_tail) say(fmt::format("{}: cut a torn last line (an interrupted write); that sample is redone", log_path));
  std::unordered_set<std::string> done;
  for (const auto& r : log.records) done.insert(r.id);

  Scorer scorer(o.scoring);
  for (const auto& t : o.tasks) {
    const datasets::TaskInfo& info = datasets::find_task(t);
    scorer.score_options(info.normalizer);  // a missing spelling file fails now, not after a model load
  }
  model::LoadedModel lm = load();

  datasets::ReaderOptions ro;
  ro.shard = o.shard;
  ro.skip_invalid = o.skip_invalid;
  datasets::ManifestReader reader(o.data, ro);
  std::set<std::string> wanted(o.tasks.begin(), o.tasks.end());
  Runner runner(o, lm, writer, scorer, make_run_id(o));
  std::shared_ptr<model::Drafter> drafter;
  const std::string spec_log_path = (fs::path(o.out) / kSpeculativeLogFile).string();
  if (!o.draft.draft.empty()) {
    drafter = o.load_drafter(lm);
    read_speculative_log(spec_log_path, /*repair=*/true);  // before appending after an interruption
    runner.set_drafter(drafter, spec_log_path);
  }
  // Samples wait per task until a batch is full; a deque of owned samples keeps pointers stable.
  std::map<std::string, std::vector<std::unique_ptr<datasets::Sample>>> pending;
  std::set<std::string> selected_ids;
  size_t selected = 0, resumed = 0, other_tasks = 0;
  auto flush = [&](const std::string& task) {
    auto& v = pending[task];
    if (v.empty()) return;
    std::vector<const datasets::Sample*> batch;
    for (auto& s : v) batch.push_back(s.get());
    runner.run_batch(batch);
    v.clear();
    say(fmt::format("{} samples generated, {} resumed, {} selected so far", runner.generated(), resumed, selected));
  };
  size_t beyond_limit = 0;  // samples of the selection past --limit (counted, not run)
  while (std::optional<datasets::Sample> s = reader.next()) {
    if (!wanted.empty() && !wanted.count(s->task->name)) {
      ++other_tasks;
      continue;
    }
    if (o.limit >= 0 && static_cast<int64_t>(selected) >= o.limit) {
      ++beyond_limit;
      continue;
    }
    ++selected;
    selected_ids.insert(s->id);
    if (done.count(s->id)) {
      ++resumed;
      continue;
    }
    const std::string task = s->task->name;
    pending[task].push_back(std::make_unique<datasets::Sample>(std::move(*s)));
    if (static_cast<int64_t>(pending[task].size()) >= o.batch) flush(task);
  }
  for (auto& [task, v] : pending) flush(task);

  // Results from the log: the selected samples only (a later run with a smaller --limit reports
  // its own selection).
  SampleLog final_log = read_sample_log(log_path);
  std::vector<SampleRecord> records;
  for (auto& r : final_log.records)
    if (selected_ids.count(r.id)) records.push_back(std::move(r));
  G4U_CHECK(records.size() == selected, "{} selected samples but {} logged", selected, records.size());

  json weights = weight_bytes_by_class(module_tensors(*lm.model)).to_json();
  std::optional<int64_t> cuda = model::peak_cuda_bytes();
  ResultsInput in;
  in.config = config;
  in.environment = environment_block({{"model_init", o.seed}, {"sampling", nullptr}, {"bootstrap", o.scoring.bootstrap_seed}});
  in.variant = {{"name", variant},
                {"group", o.group.empty() ? json(nullptr) : json(o.group)},
                {"model", lm.source},
                {"random_weights", lm.random_weights},
                {"dtype", o.dtype},
                {"device", model::describe_device(lm.model->device())},
                {"quant", quant_recipe(lm.source)},
                {"projector", lm.model->config().vision ? json(lm.model->config().vision->projector) : json(nullptr)},
                {"audio_projector", lm.model->config().audio ? json(lm.model->config().audio->projector) : json(nullptr)},
                // Parameters by component (text, vision_embedder, vision_projection, audio_projection,
                // ...) of the model's design, before any quantization.
                {"params", model::count_params(lm.model->tensor_specs())},
                {"drafter", drafter ? json({{"draft", o.draft.draft},
                                            {"kind", drafter->kind()},
                                            // Its weights before any --draft-quant (the packed ones are no parameters).
                                            {"params", model::count_params(drafter->tensor_specs())["total"]},
                                            {"draft_quant", o.draft.draft_quant.empty() ? json(nullptr) : json(o.draft.draft_quant)},
                                            {"k", o.draft.k},
                                            {"k_schedule", o.draft.schedule}})
                                    : json(nullptr)},
                {"weights", weights},
                {"memory", {{"peak_rss_bytes", peak_rss_bytes()}, {"peak_cuda_bytes", cuda ? json(*cuda) : json(nullptr)}}}};
  json summary = reader.summary();
  in.run = {{"shard", o.shard.str()},
            {"shards", json::array({o.shard.str()})},
            {"selected", selected},
            {"logged", records.size()},
            {"complete", beyond_limit == 0},
            {"beyond_limit", beyond_limit},
            {"limit", o.limit < 0 ? json(nullptr) : json(o.limit)},
            {"resumed_from_log", resumed},
            {"generated", runner.generated()},
            {"torn_tail_cut", log.torn_tail},
            {"other_tasks", other_tasks},
            {"manifest_lines", summary["lines"]},
            {"manifest_skipped", summary["skipped"]},
            {"other_shards", summary["other_shards"]},
            {"batch", o.batch},
            {"warmup", o.warmup},
            {"finished_utc", utc_now()}};
  if (drafter) {
    std::vector<std::string> ids;
    for (const auto& r : records) ids.push_back(r.id);
    in.variant["speculative"] = summarize_speculative(read_speculative_log(spec_log_path), ids);
  }
  EvalRun out;
  out.results = build_results(in, records, scorer);
  // A folder judged by `g4u judge` keeps its judged blocks, rescored over the records now logged.
  if (std::optional<JudgeRecords> judge = read_judge_records(o.out)) add_judged_scores(out.results, records, *judge, scorer);
  out.results_path = (fs::path(o.out) / "results.json").string();
  write_file_atomic(out.results_path, out.results.dump(2) + "\n");
  out.selected = selected;
  out.resumed = resumed;
  out.generated = runner.generated();
  out.torn_tail = log.torn_tail;
  return out;
}

}  // namespace g4u::runner
