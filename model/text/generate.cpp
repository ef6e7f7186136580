#include "model/text/generate.h"
#include "model/io/memory_plan.h"
#include "model/io/sysinfo.h"

#include "base/error.h"

#include <algorithm>
#include <chrono>

namespace g4u::model {

void check_fits_positions(const TextConfig& c, int64_t prompt_tokens, int64_t new_tokens, const std::string& where) {
  if (prompt_tokens + new_tokens > c.max_position_embeddings)
    throw_input("{}: prompt of {} tokens + {} new exceeds the model's {} positions", where, prompt_tokens, new_tokens,
                c.max_position_embeddings);
}

void check_fits_memory(const TextConfig& c, int64_t batch, int64_t prompt_tokens, int64_t new_tokens,
                       int64_t logit_rows, int64_t value_bytes, const std::string& where) {
  const MemoryPlan plan =
      run_memory_plan(c, batch, prompt_tokens, prompt_tokens + new_tokens, value_bytes, logit_rows);
  check_memory_plan(plan, fmt::format("{}: a prompt of {} tokens + {} new (batch {})", where, prompt_tokens,
                                      new_tokens, batch));
}

std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id) {
  G4U_CHECK(!prompts.empty(), "no prompts");
  size_t T = 0;
  for (const auto& p : prompts) T = std::max(T, p.size());
  G4U_CHECK(T > 0, "empty prompts");
  const int64_t B = static_cast<int64_t>(prompts.size());
  torch::Tensor ids = torch::full({B, static_cast<int64_t>(T)}, pad_id, torch::kInt64);
  torch::Tensor valid = torch::zeros({B, static_cast<int64_t>(T)}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[b];
    if (p.empty()) throw_input("prompt {} is empty", b);
    int64_t off = static_cast<int64_t>(T - p.size());
    ids[b].narrow(0, off, p.size()).copy_(torch::tensor(p, torch::kInt64));
    valid[b].narrow(0, off, p.size()).fill_(true);
  }
  return {ids, valid};
}

GenerateResult generate(Gemma4Model& model, const std::vector<std::vector<int64_t>>& prompts,
                        const GenerateOptions& options, const PrefillFn& prefill) {
  torch::NoGradGuard no_grad;
  const ModelConfig& cfg = model.config();
  TextModel& text = model.text();
  const int64_t V = cfg.text.vocab_size;
  std::vector<int64_t> stops = options.stop_ids;
  if (options.use_config_stop_ids) stops.insert(stops.end(), cfg.text.eos_token_ids.begin(), cfg.text.eos_token_ids.end());

  auto [ids, valid] = left_pad(prompts, cfg.text.pad_token_id);
  const int64_t B = ids.size(0);
  GenerateResult r;
  r.tokens.resize(B);
  r.stopped.assign(B, false);
  r.timing.prompt_tokens = valid.sum().item<int64_t>();
  if (options.max_new_tokens <= 0) return r;

  std::vector<Sampler> samplers;
  for (int64_t b = 0; b < B; ++b) {
    SamplingParams sp = options.sampling;
    sp.seed = options.sampling.seed + static_cast<uint64_t>(b);  // rows draw independently
    samplers.emplace_back(sp, cfg.suppress_tokens);
  }
  KVCache cache(cfg.text, B, model.dtype());

  auto pick = [&](const torch::Tensor& last_hidden, std::vector<bool>& done) {
    // The samplers read the logits on the host (V floats a row: on a GPU one small copy a step, which
    // also ends the step's kernels), so a seed draws the same tokens on every device.
    torch::Tensor logits = text.logits(last_hidden).to(torch::kCPU, torch::kFloat32).contiguous();  // [B, V]
    std::vector<int64_t> next(B, cfg.text.pad_token_id);
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      next[b] = samplers[b].sample(logits[b].data_ptr<float>(), V);
      r.tokens[b].push_back(next[b]);
      ++r.timing.generated_tokens;
      if (std::find(stops.begin(), stops.end(), next[b]) != stops.end()) {
        done[b] = true;
        r.stopped[b] = true;
      }
    }
    return next;
  };

  std::vector<bool> done(B, false);
  double t0 = now_seconds();
  PrefillInputs in = prefill ? prefill(ids) : PrefillInputs{text.embed(ids), {}};
  ForwardResult out = text.forward(in.embeds, valid, cache, in.options);
  std::vector<int64_t> next = pick(out.hidden.select(1, -1), done);
  r.timing.prefill_seconds = now_seconds() - t0;

  double t_decode = now_seconds();
  for (int64_t step = 1; step < options.max_new_tokens; ++step) {
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    double ts = now_seconds();
    torch::Tensor step_ids = torch::tensor(next, torch::kInt64).view({B, 1});
    torch::Tensor step_valid = torch::ones({B, 1}, torch::kBool);
    out = text.forward(text.embed(step_ids), step_valid, cache);
    next = pick(out.hidden.select(1, -1), done);
    r.timing.token_seconds.push_back(now_seconds() - ts);
  }
  r.timing.decode_seconds = now_seconds() - t_decode;
  r.kv_cache_bytes = cache.bytes();
  r.kv_cache_allocated_bytes = cache.allocated_bytes();
  return r;
}

}  // namespace g4u::model
