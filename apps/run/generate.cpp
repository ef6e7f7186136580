// g4u generate: prompt -> tokens with the KV cache; prints text (stderr/stdout) or JSON.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/draft_flags.h"
#include "apps/flags/model_flags.h"
#include "apps/flags/prompt_flags.h"
#include "model/text/chat.h"
#include "base/error.h"
#include "model/text/generate.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>

namespace g4u::app {
namespace {

struct GenerateFlags {
  ModelFlags model;
  PromptFlags prompt;
  int64_t max_new = 32;
  double temperature = 0.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  bool json = false;
  DraftFlags draft;
};

Command generate_cmd("generate", "Generate text from a prompt", [](CLI::App& sub) {
  auto f = std::make_shared<GenerateFlags>();
  add_model_flags(sub, f->model);
  add_prompt_flags(sub, f->prompt, /*prompt_required=*/true);
  sub.add_option("-n,--max-new-tokens", f->max_new, "Maximum new tokens")->capture_default_str();
  sub.add_option("--temperature", f->temperature, "0 = greedy")->capture_default_str();
  sub.add_option("--top-k", f->top_k, "Top-k filter (0 = off)")->capture_default_str();
  sub.add_option("--top-p", f->top_p, "Top-p filter (1 = off)")->capture_default_str();
  add_draft_flags(sub, f->draft);
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    if (f->max_new < 0) throw_input("-n {}: must be >= 0", f->max_new);
    if (!(f->temperature >= 0) || std::isinf(f->temperature))
      throw_input("--temperature {}: must be a finite number >= 0", f->temperature);
    if (f->top_k < 0) throw_input("--top-k {}: must be >= 0", f->top_k);
    if (!(f->top_p > 0 && f->top_p <= 1)) throw_input("--top-p {}: must be in (0, 1]", f->top_p);
    model::VisionMask mask = parse_vision_mask(f->prompt.vision_mask);
    model::LoadedModel lm = load_from_flags(f->model);
    model::MultimodalPrompt mp = build_prompt(lm, f->prompt);
    const std::vector<int64_t>& prompt = mp.input_ids;
    model::check_fits_positions(lm.model->config().text, static_cast<int64_t>(prompt.size()), f->max_new, "generate");
    model::check_fits_memory(lm.model->config().text, 1, static_cast<int64_t>(prompt.size()), f->max_new, 1,
                             c10::elementSize(parse_dtype_flag(f->model.dtype)), "generate");
    model::GenerateOptions go;
    go.max_new_tokens = f->max_new;
    go.sampling = {f->temperature, f->top_k, f->top_p, f->model.seed};
    model::Gemma4Model& m = *lm.model;
    auto prefill = [&](const torch::Tensor& ids) {
      return model::PrefillInputs{model::embed_multimodal(m, ids, mp.images, mp.audios),
                                  model::multimodal_forward_options(ids, m.config(), mask)};
    };
    // With --draft: the speculative run's tokens and timing, compared with a plain run of the same
    // prompt and sampling (both warmed up first so neither pays one-time costs).
    std::shared_ptr<model::Drafter> drafter;
    model::SpeculativeOptions so;
    if (f->draft.enabled()) {
      so = speculative_options(f->draft, go);
      drafter = load_drafter_from_flags(f->draft, lm, f->model);
      model::GenerateOptions warm = go;
      warm.max_new_tokens = std::min<int64_t>(go.max_new_tokens, 4);
      model::SpeculativeOptions warm_so = so;
      warm_so.max_new_tokens = warm.max_new_tokens;
      model::generate(m, {prompt}, warm, prefill);
      model::speculative_generate(m, *drafter, prompt, warm_so, prefill);
    }
    model::GenerateResult r = model::generate(m, {prompt}, go, prefill);
    nlohmann::json spec_json;
    if (drafter) {
      model::SpeculativeResult sr = model::speculative_generate(m, *drafter, prompt, so, prefill);
      double plain_tps = decode_tokens_per_s(static_cast<int64_t>(r.tokens[0].size()), r.timing.decode_seconds);
      spec_json = speculative_json(f->draft, *drafter, sr, plain_tps);
      if (go.sampling.temperature <= 0) spec_json["matches_plain"] = sr.tokens == r.tokens[0];
      spec_json["plain_tokens"] = r.tokens[0];
      r.tokens[0] = sr.tokens;
      r.stopped[0] = sr.stopped;
      r.timing = sr.timing;
      r.kv_cache_bytes = sr.kv_cache_bytes;
    }
    const auto& tokens = r.tokens[0];
    std::string out = lm.tokenizer->decode(tokens, /*skip_special=*/false);
    model::ThoughtSplit split = model::split_thoughts(out);
    const auto& t = r.timing;
    double decode_tps = t.decode_seconds > 0 ? (tokens.size() - 1) / t.decode_seconds : 0;
    nlohmann::json j = {{"model", lm.source},
                        {"random_weights", lm.random_weights},
                        {"prompt_tokens", prompt.size()},
                        {"prompt_ids", prompt},  // after chat rendering and media placeholders
                        {"images", mp.images.size()},
                        {"audios", mp.audios.size()},
                        {"tokens", tokens},
                        {"text", out},
                        {"answer", split.answer},
                        {"thought", split.thought},
                        {"stopped", r.stopped[0]},
                        {"timing",
                         {{"ttft_s", t.prefill_seconds},
                          {"prefill_tokens_per_s", t.prefill_seconds > 0 ? prompt.size() / t.prefill_seconds : 0},
                          {"decode_s", t.decode_seconds},
                          {"decode_tokens_per_s", decode_tps}}},
                        {"kv_cache_bytes", r.kv_cache_bytes}};
    for (auto& [k, v] : spec_json.items()) j[k] = v;
    if (f->json) {
      print_json(j);
    } else {
      std::fputs((out + "\n").c_str(), stdout);
      fmt::print(stderr, "[{} prompt tokens, {} new; ttft {:.3f} s; decode {:.1f} tok/s]\n", prompt.size(),
                 tokens.size(), t.prefill_seconds, decode_tps);
      if (drafter)
        fmt::print(stderr, "[draft {} k={} ({}): acceptance {:.3f}, tau {:.3f} (bonus token included), speedup {}]\n",
                   f->draft.draft, f->draft.k, f->draft.schedule, spec_json["acceptance_rate"].get<double>(),
                   spec_json["tau"].get<double>(), spec_json["speedup"].dump());
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
