#include "experiments/trainer.h"

#include "datasets/manifest/manifest.h"
#include "datasets/prompt/prompt.h"
#include "base/rng.h"
#include "datasets/manifest/shard.h"
#include "datasets/synth/synth.h"
#include "experiments/adamw.h"
#include "experiments/progress.h"
#include "model/text/chat.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"
#include "model/io/loader.h"
#include "model/io/memory_plan.h"
#include "model/io/tensor_specs.h"
#include "model/multimodal/prompt.h"
#include "model/io/safetensors.h"
#include "model/io/sysinfo.h"
#include "model/text/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <stdexcept>

namespace g4u::experiments {
namespace fs = std::filesystem;
namespace {

// ---- interruption ---------------------------------------------------------------------------

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

// Installs SIGINT/SIGTERM handlers for the lifetime of the object (the loop checkpoints and
// returns at the end of the current step).
struct StopSignals {
  using Handler = void (*)(int);
  Handler old_int, old_term;
  StopSignals() {
    g_stop = false;
    old_int = std::signal(SIGINT, on_stop_signal);
    old_term = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
  }
};

// ---- examples -------------------------------------------------------------------------------

// One training or evaluation sequence: the prompt (media placeholders not yet expanded) and the
// target tokens the loss is taken on (answer + <turn|>, or a whole text chunk).
struct Example {
  std::string id;
  std::string task;  // task name, or "text" for plain-text chunks
  std::string prompt_text, target_text;  // before tokenisation (chat examples)
  std::vector<int64_t> prompt_ids, target_ids;
  std::vector<std::string> images, audios;  // media files in placeholder order
};

Example example_from_sample(const datasets::Sample& s) {
  if (s.answers.empty()) throw_input("{}: field 'answers': training needs at least one answer", s.where);
  Example e;
  e.id = s.id;
  e.task = s.task->name;
  std::vector<model::ChatMessage> msgs = datasets::build_chat(s);
  for (const auto& m : msgs)
    for (const auto& item : m.content) {
      if (item.kind == model::ChatItem::Kind::kImage) e.images.push_back(item.path);
      if (item.kind == model::ChatItem::Kind::kAudio) e.audios.push_back(item.path);
    }
  e.prompt_text = model::render_chat(msgs);
  e.target_text = s.answers.front();
  return e;
}

std::vector<Example> examples_from_manifest(const std::string& path, int64_t limit) {
  std::vector<Example> out;
  datasets::ManifestReader reader(path);
  while (auto s = reader.next()) {
    out.push_back(example_from_sample(*s));
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
  }
  return out;
}

// The generated suite in `dir` (reused when a previous attempt of this run already wrote it).
std::string ensure_suite(const std::string& suite, int64_t n, uint64_t seed, const fs::path& dir) {
  if (!fs::exists(dir / "manifest.jsonl")) {
    fs::create_directories(dir.parent_path());
    datasets::SynthOptions o;
    o.suite = suite;
    o.n = n;
    o.seed = seed;
    o.out = dir.string();
    o.overwrite = true;
    datasets::synthesize(o);
  }
  return (dir / "manifest.jsonl").string();
}

// A seed for held-out items that no training seed of a nearby run uses.
uint64_t eval_seed(uint64_t seed) { return mix_seed(seed, 0x45564131ULL /* "EVA1" */); }

struct DataSet {
  std::vector<Example> train;
  std::vector<Example> eval;             // held-out items of the synthetic suites
  std::map<std::string, nlohmann::json> chance;  // task -> chance level (null when none)
  std::vector<std::string> text_files;   // read after the tokenizer exists
};

// <out>/data/<split>.jsonl: the items of one split of every suite in one manifest (media paths
// made relative to data/). eval.jsonl: for `g4u eval` of the trained model on exactly what the
// curves report; train.jsonl: what it was trained on (e.g. prompts to distil a drafter on).
void write_combined_manifest(const TrainConfig& c, const fs::path& data_dir, const std::string& split) {
  std::string text;
  for (const auto& s : c.suites) {
    const fs::path manifest = data_dir / s.suite / split / "manifest.jsonl";
    std::ifstream in(manifest);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::ordered_json j = nlohmann::ordered_json::parse(line);
      for (const char* key : {"images", "audios"})
        if (j.contains(key))
          for (auto& m : j[key]) m = s.suite + "/" + split + "/" + m.get<std::string>();
      text += j.dump() + "\n";
    }
  }
  write_file_atomic((data_dir / (split + ".jsonl")).string(), text);
}

DataSet prepare_data(const TrainConfig& c, const fs::path& out) {
  DataSet d;
  for (const auto& s : c.suites) {
    const datasets::SuiteInfo& info = datasets::find_suite(s.suite);
    fs::path dir = out / "data" / s.suite;
    auto train = examples_from_manifest(ensure_suite(s.suite, s.n, c.seed, dir / "train"), 0);
    d.train.insert(d.train.end(), train.begin(), train.end());
    if (c.eval_n > 0) {
      auto ev = examples_from_manifest(ensure_suite(s.suite, c.eval_n, eval_seed(c.seed), dir / "eval"), 0);
      d.eval.insert(d.eval.end(), ev.begin(), ev.end());
    }
    d.chance[info.task->name] = info.chance ? nlohmann::json(*info.chance) : nlohmann::json(nullptr);
  }
  if (c.eval_n > 0 && !c.suites.empty()) write_combined_manifest(c, out / "data", "eval");
  if (!c.suites.empty()) write_combined_manifest(c, out / "data", "train");
  for (const auto& m : c.manifests) {
    auto ex = examples_from_manifest(m.path, m.limit);
    d.train.insert(d.train.end(), ex.begin(), ex.end());
  }
  return d;
}

// Plain-text chunks of `ctx` tokens (after <bos>), loss on every token.
std::vector<Example> text_examples(const TextSource& t, const model::Tokenizer& tok, int64_t bos) {
  std::string text = read_text_file(t.path);
  std::vector<int64_t> ids = tok.encode(text);
  std::vector<Example> out;
  for (int64_t r = 0; r < t.repeat; ++r)
    for (size_t off = 0; off + 8 <= ids.size(); off += static_cast<size_t>(t.ctx)) {
      Example e;
      e.id = fmt::format("{}#{}", t.path, off);
      e.task = "text";
      e.prompt_ids = {bos};
      size_t end = std::min(ids.size(), off + static_cast<size_t>(t.ctx));
      e.target_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(off), ids.begin() + static_cast<std::ptrdiff_t>(end));
      out.push_back(std::move(e));
    }
  if (out.empty()) throw_input("{}: too short to give one training chunk", t.path);
  return out;
}

// ---- tokenizer ------------------------------------------------------------------------------

// Every text the model will see, one line per sentence, for SentencePiece training.
void write_tokenizer_corpus(const DataSet& d, const TrainConfig& c, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  auto put = [&](const std::string& text) {
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      if (nl > start) f << text.substr(start, nl - start) << '\n';
      start = nl + 1;
    }
  };
  for (const auto& e : d.train) {
    put(e.prompt_text);
    put(e.target_text);
  }
  for (const auto& t : c.texts) put(read_text_file(t.path));
  if (!f) throw_input("{}: cannot write the tokenizer corpus", path);
}

// ---- batches --------------------------------------------------------------------------------

struct Batch {
  torch::Tensor ids, valid;  // [B, T]
  torch::Tensor targets;     // [B, T] next token at positions with loss, -1 elsewhere
  std::vector<model::ImagePatches> images;
  std::vector<model::AudioFrames> audios;
  int64_t loss_tokens = 0;
};

Batch make_batch(const std::vector<const Example*>& examples, const model::ModelConfig& mc) {
  Batch b;
  std::vector<std::vector<int64_t>> seqs;
  std::vector<int64_t> target_start;
  for (const Example* e : examples) {
    if (!e->images.empty() && !mc.vision) throw_input("{}: has images but model {} has no vision input", e->id, mc.name);
    if (!e->audios.empty() && !mc.audio) throw_input("{}: has audio but model {} has no audio input", e->id, mc.name);
    std::vector<model::ImagePatches> images;
    std::vector<model::AudioFrames> audios;
    for (const auto& p : e->images) images.push_back(model::preprocess_image_file(p, model::image_options(*mc.vision)));
    for (const auto& p : e->audios) audios.push_back(model::preprocess_audio_file(p, model::audio_options(*mc.audio)));
    model::MultimodalPrompt mp = model::expand_placeholders(e->prompt_ids, mc, std::move(images), std::move(audios), e->id);
    std::vector<int64_t> seq = mp.input_ids;
    target_start.push_back(static_cast<int64_t>(seq.size()));
    seq.insert(seq.end(), e->target_ids.begin(), e->target_ids.end());
    seqs.push_back(std::move(seq));
    for (auto& im : mp.images) b.images.push_back(std::move(im));
    for (auto& a : mp.audios) b.audios.push_back(std::move(a));
  }
  int64_t T = 0;
  for (const auto& s : seqs) T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
  const int64_t B = static_cast<int64_t>(seqs.size());
  b.ids = torch::full({B, T}, mc.text.pad_token_id, torch::kInt64);
  b.valid = torch::zeros({B, T}, torch::kBool);
  b.targets = torch::full({B, T}, -1, torch::kInt64);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto valid = b.valid.accessor<bool, 2>();
  auto tgt = b.targets.accessor<int64_t, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = seqs[i];
    const int64_t n = static_cast<int64_t>(s.size());
    for (int64_t t = 0; t < n; ++t) {
      ids[i][t] = s[t];
      valid[i][t] = true;
    }
    // Position t predicts token t + 1; the loss covers the target tokens.
    for (int64_t t = target_start[i]; t < n; ++t) {
      tgt[i][t - 1] = s[t];
      ++b.loss_tokens;
    }
  }
  return b;
}

struct StepOutput {
  torch::Tensor loss;            // mean over the batch's target tokens (differentiable)
  torch::Tensor correct;         // [N] bool: argmax == target, in (row, position) order
  torch::Tensor row_of_target;   // [N] the batch row of each target token
};

// Loss weighting: "token" averages over all target tokens of the batch (long text chunks dominate);
// "sequence" averages each sequence's tokens first, so a one-token answer weighs as much as a chunk.
StepOutput run_batch(model::Gemma4Model& m, const Batch& b, bool per_sequence) {
  torch::Tensor embeds = model::embed_multimodal(m, b.ids, b.images, b.audios);
  model::ForwardOptions fo = model::multimodal_forward_options(b.ids, m.config());
  torch::Tensor hidden = m.text().forward(embeds, b.valid, nullptr, fo).hidden;  // [B, T, H]
  torch::Tensor mask = b.targets.ge(0);
  torch::Tensor rows = hidden.index({mask});  // [N, H]
  torch::Tensor targets = b.targets.index({mask});
  torch::Tensor logits = m.text().logits(rows).to(torch::kFloat32);  // [N, V]
  StepOutput o;
  o.row_of_target = torch::arange(b.ids.size(0)).unsqueeze(1).expand_as(mask).index({mask});
  if (per_sequence) {
    torch::Tensor ce = torch::nn::functional::cross_entropy(
        logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    torch::Tensor per_row = mask.sum(1).to(torch::kFloat32).index({o.row_of_target});  // tokens of each row
    const int64_t rows = mask.any(1).sum().item<int64_t>();
    o.loss = (ce / per_row).sum() / static_cast<double>(rows);
  } else {
    o.loss = torch::nn::functional::cross_entropy(logits, targets);
  }
  o.correct = logits.argmax(-1).eq(targets);
  return o;
}

// Teacher-forced evaluation per task. "exact": every target token (answer and <turn|>) is the
// argmax given the correct prefix, which is exactly when greedy decoding reproduces the answer.
nlohmann::json evaluate(model::Gemma4Model& m, const std::vector<Example>& eval, int64_t batch_size,
                        const std::map<std::string, nlohmann::json>& chance) {
  torch::NoGradGuard ng;
  m.eval();
  struct Acc {
    int64_t n = 0, exact = 0, tokens = 0, correct_tokens = 0;
  };
  std::map<std::string, Acc> acc;
  for (size_t start = 0; start < eval.size(); start += static_cast<size_t>(batch_size)) {
    std::vector<const Example*> part;
    for (size_t i = start; i < std::min(eval.size(), start + static_cast<size_t>(batch_size)); ++i) part.push_back(&eval[i]);
    Batch b = make_batch(part, m.config());
    StepOutput o = run_batch(m, b, /*per_sequence=*/false);
    torch::Tensor all_ok = torch::ones({static_cast<int64_t>(part.size())}, torch::kBool);
    torch::Tensor wrong_rows = o.row_of_target.index({o.correct.logical_not()});
    if (wrong_rows.numel()) all_ok.index_fill_(0, wrong_rows, false);
    torch::Tensor counts = torch::bincount(o.row_of_target, {}, static_cast<int64_t>(part.size()));
    torch::Tensor good = torch::bincount(o.row_of_target, o.correct.to(torch::kFloat64), static_cast<int64_t>(part.size()));
    for (size_t i = 0; i < part.size(); ++i) {
      Acc& a = acc[part[i]->task];
      a.n += 1;
      a.exact += all_ok[static_cast<int64_t>(i)].item<bool>() ? 1 : 0;
      a.tokens += counts[static_cast<int64_t>(i)].item<int64_t>();
      a.correct_tokens += static_cast<int64_t>(good[static_cast<int64_t>(i)].item<double>());
    }
  }
  m.train();
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [task, a] : acc) {
    auto it = chance.find(task);
    out[task] = {{"n", a.n},
                 {"exact", static_cast<double>(a.exact) / a.n},
                 {"token_accuracy", a.tokens ? static_cast<double>(a.correct_tokens) / a.tokens : 0.0},
                 {"chance", it == chance.end() ? nlohmann::json(nullptr) : it->second}};
  }
  return out;
}

// ---- checkpoints ----------------------------------------------------------------------------

std::string config_hash(const TrainConfig& c) {
  return fmt::format("{:016x}", fnv1a64(c.json.dump()));
}

// Writes <out>/checkpoint atomically: a fresh folder renamed over the old one.
void save_checkpoint(const fs::path& out, const model::Gemma4Model& m, const NamedAdamW& opt, int64_t step,
                     const std::string& hash, const nlohmann::json& curves, const std::string& tokenizer_path) {
  fs::path tmp = out / "checkpoint.tmp", dst = out / "checkpoint", old = out / "checkpoint.old";
  fs::remove_all(tmp);
  model::save_model(m, tmp.string(), torch::kFloat32, tokenizer_path);
  opt.save((tmp / "optimizer.safetensors").string());
  write_file_atomic((tmp / "curves.json").string(), curves.dump(1));
  write_file_atomic((tmp / "trainer_state.json").string(),
                    nlohmann::json({{"step", step}, {"config_hash", hash}}).dump(2) + "\n");
  fs::remove_all(old);
  if (fs::exists(dst)) fs::rename(dst, old);
  fs::rename(tmp, dst);
  fs::remove_all(old);
}

// The final model: the files of save_model moved into <out> one by one after all were written.
void save_final(const fs::path& out, const model::Gemma4Model& m, const std::string& tokenizer_path) {
  fs::path tmp = out / "final.tmp";
  fs::remove_all(tmp);
  model::save_model(m, tmp.string(), torch::kFloat32, tokenizer_path);
  for (const auto& entry : fs::directory_iterator(tmp)) fs::rename(entry.path(), out / entry.path().filename());
  fs::remove_all(tmp);
}

// Gemma 4 attends with scale 1.0 and relies on its learned QK-norm weights for the logit scale.
// With those weights at 1 (the generic norm init), q.k of unit-RMS vectors has a standard deviation
// of sqrt(head_dim) (8 for 64 dims): attention starts nearly one-hot on random keys and learns
// slowly. Starting q_norm and k_norm at head_dim^(-1/4) each gives unit-variance logits, what the
// 1/sqrt(d) scale of other models gives; the architecture is unchanged.
void scale_qk_norms_for_unit_logits(model::Gemma4Model& m) {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters(true)) {
    const std::string& name = p.key();
    if (name.find("self_attn.q_norm.weight") == std::string::npos && name.find("self_attn.k_norm.weight") == std::string::npos)
      continue;
    p.value().fill_(std::pow(static_cast<double>(p.value().size(0)), -0.25));
  }
}

// A deterministic permutation of [0, n) for epoch `epoch`, the same on every platform (base/rng.h:
// unbiased draws, no std:: distributions).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  Rng(mix_seed(seed, static_cast<uint64_t>(epoch) + 1)).shuffle(idx);
  return idx;
}

double mean_of_last(const nlohmann::json& train_curve, size_t k, const char* key) {
  double s = 0;
  size_t n = 0;
  for (size_t i = train_curve.size() > k ? train_curve.size() - k : 0; i < train_curve.size(); ++i, ++n)
    s += train_curve[i][key].get<double>();
  return n ? s / n : 0.0;
}

}  // namespace

model::ModelConfig train_model_config(const TrainConfig& c) {
  model::ModelConfig mc;
  if (auto preset = model::model_preset(c.model)) {
    mc = *preset;
  } else if (fs::exists(fs::path(c.model) / "config.json")) {
    mc = model::load_model_config((fs::path(c.model) / "config.json").string());
  } else {
    throw_input("{}: model '{}' is neither a preset ({}) nor a checkpoint folder", c.where, c.model,
                fmt::join(model::model_preset_names(), ", "));
  }
  if (!c.config_overrides.empty()) {
    nlohmann::json j = model::model_config_to_json(mc);
    j.merge_patch(c.config_overrides);
    std::string name = mc.name;
    mc = model::model_config_from_json(j, c.where + ": config_overrides");
    mc.name = name;
  }
  if (mc.text.vocab_size > 4096 || mc.text.num_layers > 32)
    throw_input("{}: model '{}' is too large to train on a CPU (vocab {}, {} layers)", c.where, c.model,
                mc.text.vocab_size, mc.text.num_layers);
  return mc;
}

// Before the model is built: fp32 weights, their gradients and AdamW's two moments; every layer's
// activations kept for the backward pass at the longest training sequence (text tokens plus each
// image's soft tokens; audio counted as its placeholder, an underestimate); fp32 logits, their
// log-softmax and gradient. InputError naming what does not fit and how much memory there is.
void check_training_memory(const model::ModelConfig& mc, const DataSet& data, int64_t batch) {
  int64_t longest = 1;
  for (const Example& e : data.train) {
    int64_t n = static_cast<int64_t>(e.prompt_ids.size() + e.target_ids.size());
    if (mc.vision) n += static_cast<int64_t>(e.images.size()) * mc.vision->num_soft_tokens;
    longest = std::max(longest, n);
  }
  const double params = static_cast<double>(model::count_params(model::model_tensor_specs(mc))["total"]);
  const model::MemoryPlan layer = model::run_memory_plan(mc.text, batch, longest, longest, 4, 0);
  const double logits = 3.0 * static_cast<double>(batch * longest * mc.text.vocab_size) * 4;
  model::MemoryPlan plan{{{"weights, gradients and AdamW state (fp32)", 16 * params},
                          {"activations kept for the backward pass", static_cast<double>(mc.text.num_layers) * layer.parts[1].second},
                          {"logits and their gradient", logits}}};
  model::check_memory_plan(plan, fmt::format("training (batch {} of up to {} tokens)", batch, longest));
}

nlohmann::json train(const TrainConfig& c, const TrainRunOptions& options) {
  const auto wall0 = std::chrono::steady_clock::now();
  if (options.out.empty()) throw_input("--out: required");
  const fs::path out = options.out;
  create_output_folder(out.string());
  set_compute_threads(c.threads);
  const std::string hash = config_hash(c);

  // An earlier attempt of the same run may have left a checkpoint to resume from.
  const fs::path ckpt = out / "checkpoint";
  int64_t start_step = 0;
  if (fs::exists(ckpt / "trainer_state.json")) {
    nlohmann::json st = read_json_file((ckpt / "trainer_state.json").string());
    if (st.value("config_hash", "") != hash)
      throw_input("{}: holds a run of a different training config (hash {} vs {}); use another --out", out.string(),
                  st.value("config_hash", "?"), hash);
    start_step = st.at("step").get<int64_t>();
  } else if (fs::exists(out / "summary.json")) {
    throw_input("{}: already holds a finished run; use another --out", out.string());
  }
  write_file_atomic((out / "train_config.json").string(), train_config_to_json(c).dump(2) + "\n");

  model::ModelConfig mc = train_model_config(c);
  DataSet data = prepare_data(c, out);

  // Tokenizer: the byte tokenizer, or a SentencePiece vocabulary trained on the training texts.
  std::string tokenizer_path;
  if (c.tokenizer == "sentencepiece") {
    tokenizer_path = (out / "tokenizer.model").string();
    if (!fs::exists(tokenizer_path)) {
      const std::string corpus = (out / "tokenizer_corpus.txt").string();
      write_tokenizer_corpus(data, c, corpus);
      model::train_sentencepiece(corpus, c.tokenizer_vocab_size ? c.tokenizer_vocab_size : mc.text.vocab_size,
                                 tokenizer_path, c.seed);
      fs::remove(corpus);
    }
    mc.tokenizer = "sentencepiece";
  } else {
    mc.tokenizer = "byte";
  }
  std::unique_ptr<model::Tokenizer> tok = model::load_tokenizer(mc, out.string());
  const int64_t turn_end = tok->token_id("<turn|>").value();
  const int64_t bos = tok->token_id("<bos>").value();
  for (auto* set : {&data.train, &data.eval})
    for (auto& e : *set) {
      e.prompt_ids = tok->encode(e.prompt_text);
      e.target_ids = tok->encode(e.target_text);
      e.target_ids.push_back(turn_end);
    }
  for (const auto& t : c.texts) {
    auto ex = text_examples(t, *tok, bos);
    data.train.insert(data.train.end(), ex.begin(), ex.end());
  }

  check_training_memory(mc, data, c.batch_size);

  // Model: fresh seeded init, or the weights of a checkpoint folder; then a resumed state.
  torch::manual_seed(c.seed);
  auto m = std::make_shared<model::Gemma4Model>(mc);
  if (model::model_preset(c.model)) {
    model::init_random(*m, m->tensor_specs(), c.seed);
    if (c.qk_norm_init == "unit-logits") scale_qk_norms_for_unit_logits(*m);
  } else {
    model::load_weights(*m, c.model);
  }
  NamedParameters params;
  for (const auto& p : m->named_parameters(true)) params.emplace_back(p.key(), p.value());
  NamedAdamW opt(std::move(params), {c.beta1, c.beta2, c.eps, c.weight_decay}, decays_by_default);
  nlohmann::json curves = {{"train", nlohmann::json::array()}, {"eval", nlohmann::json::array()}};
  if (start_step > 0) {
    model::load_weights(*m, ckpt.string());
    opt.load((ckpt / "optimizer.safetensors").string());
    curves = read_json_file((ckpt / "curves.json").string());
    if (options.progress) fmt::print(stderr, "resuming {} at step {}\n", out.string(), start_step);
  }
  m->train();

  const size_t n_train = data.train.size();
  const size_t B = static_cast<size_t>(c.batch_size);
  if (options.progress)
    fmt::print(stderr, "training {} ({} parameters) on {} sequences, {} held out; {} steps of {}\n", mc.name,
               model::count_params(m->tensor_specs())["total"], n_train, data.eval.size(), c.steps, B);

  StopSignals signals;
  Progress progress(c.steps, start_step, options.progress);
  int64_t step = start_step;
  bool interrupted = false;
  std::vector<size_t> order;
  int64_t order_epoch = -1;
  while (step < c.steps) {
    // Batch `step` = items [step*B, step*B + B) of the concatenated epoch permutations.
    std::vector<const Example*> batch;
    for (size_t k = 0; k < B; ++k) {
      const uint64_t pos = static_cast<uint64_t>(step) * B + k;
      const int64_t epoch = static_cast<int64_t>(pos / n_train);
      if (epoch != order_epoch) {
        order = epoch_order(n_train, c.seed, epoch);
        order_epoch = epoch;
      }
      batch.push_back(&data.train[order[pos % n_train]]);
    }
    const auto t0 = std::chrono::steady_clock::now();
    Batch b = make_batch(batch, mc);
    opt.clear_grads();
    StepOutput o = run_batch(*m, b, c.loss_weighting == "sequence");
    o.loss.backward();
    double grad_norm = 0;
    if (c.grad_clip > 0) grad_norm = torch::nn::utils::clip_grad_norm_(opt.parameters(), c.grad_clip);
    const double lr = warmup_cosine_lr(step, c.steps, c.warmup_steps, c.lr, c.min_lr_ratio);
    opt.step(lr);
    ++step;
    const double loss = o.loss.item<double>();
    if (!std::isfinite(loss)) throw std::runtime_error(fmt::format("training diverged: loss {} at step {}", loss, step));
    const double tok_acc = o.correct.to(torch::kFloat64).mean().item<double>();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    curves["train"].push_back({{"step", step}, {"loss", loss}, {"token_accuracy", tok_acc}, {"lr", lr},
                               {"grad_norm", grad_norm}, {"loss_tokens", b.loss_tokens},
                               {"tokens", b.valid.sum().item<int64_t>()}, {"seconds", secs}});
    progress.update(step, loss, lr);

    const bool last = step == c.steps;
    if (!data.eval.empty() && ((c.eval_every > 0 && step % c.eval_every == 0) || last)) {
      nlohmann::json ev = evaluate(*m, data.eval, c.batch_size, data.chance);
      curves["eval"].push_back({{"step", step}, {"tasks", ev}});
      progress.note(fmt::format("eval at step {}: {}", step, ev.dump()));
    }
    const bool stop_now = g_stop || (options.stop_at_step > 0 && step >= options.stop_at_step);
    if (!last && ((c.checkpoint_every > 0 && step % c.checkpoint_every == 0) || stop_now)) {
      save_checkpoint(out, *m, opt, step, hash, curves, tokenizer_path);
      write_file_atomic((out / "curves.json").string(), curves.dump(1) + "\n");
    }
    if (!last && stop_now) {
      interrupted = true;
      break;
    }
  }
  progress.finish();

  nlohmann::json summary = {{"model", mc.name},
                            {"out", out.string()},
                            {"config_hash", hash},
                            {"steps", step},
                            {"interrupted", interrupted},
                            {"resumed_from_step", start_step},
                            {"train_sequences", n_train},
                            {"tokenizer", c.tokenizer},
                            {"parameters", model::count_params(m->tensor_specs())["total"]},
                            {"seconds_this_run", std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count()}};
  if (!curves["train"].empty()) summary["final_loss_mean_last_10"] = mean_of_last(curves["train"], 10, "loss");
  if (interrupted) return summary;

  double train_seconds = 0;
  for (const auto& r : curves["train"]) train_seconds += r["seconds"].get<double>();
  summary["train_step_seconds_total"] = train_seconds;
  if (!curves["eval"].empty()) summary["eval"] = curves["eval"].back()["tasks"];
  save_final(out, *m, tokenizer_path);
  write_file_atomic((out / "curves.json").string(), curves.dump(1) + "\n");
  write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");
  fs::remove_all(ckpt);
  return summary;
}

}  // namespace g4u::experiments
