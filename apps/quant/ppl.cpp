// g4u ppl: perplexity with llama.cpp's protocol and, with --kl-base, the online KL-divergence
// statistics against a base model (eval/perplexity/perplexity.h; quant-and-mtp.md §4.1-§4.2).
//
//   g4u ppl --model <preset|dir> --data <text file> [--ctx 512] [--chunks N] [--quant <recipe>]
//           [--kl-base <preset|dir>] [--json]
// --quant quantizes --model's decoder projections in memory (RTN recipes, same policy as
// `g4u quantize`); the base is always loaded unquantized as given.
//
// Both models run in --dtype with logits reduced in fp32/double; the base is loaded with the same
// flags. Quantized checkpoints load through --model like everywhere else.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/model_flags.h"
#include "base/error.h"
#include "base/json_util.h"
#include "quant/io/checkpoint.h"
#include "eval/perplexity/perplexity.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>

namespace g4u::app {
namespace {

struct PplFlags {
  ModelFlags model;
  std::string data, kl_base, quant;
  int64_t ctx = 512, chunks = 0;
  bool json = false;
};

Command ppl_cmd("ppl", "Perplexity (llama.cpp protocol) and KL divergence against a base model", [](CLI::App& sub) {
  auto f = std::make_shared<PplFlags>();
  add_model_flags(sub, f->model);
  sub.add_option("--data", f->data, "Text file (e.g. wiki.test.raw)")->required();
  sub.add_option("--ctx", f->ctx, "Context (chunk) length")->capture_default_str();
  sub.add_option("--chunks", f->chunks, "Use at most this many chunks (0: all)")->capture_default_str();
  sub.add_option("--quant", f->quant, "Quantize --model in memory with this recipe first");
  sub.add_option("--kl-base", f->kl_base, "Base model (preset or dir) for the KL-divergence statistics");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    if (f->chunks < 0) throw_input("--chunks {}: must be >= 0", f->chunks);
    const std::string text = read_text_file(f->data);
    model::LoadedModel lm = load_from_flags(f->model);
    if (!f->quant.empty()) quant::quantize_in_memory(*lm.model, f->quant, 0, !f->model.dense_head);
    std::unique_ptr<model::LoadedModel> base;
    if (!f->kl_base.empty()) {
      ModelFlags bf = f->model;
      bf.model = f->kl_base;
      base = std::make_unique<model::LoadedModel>(load_from_flags(bf));
      if (base->model->config().text.vocab_size != lm.model->config().text.vocab_size)
        throw_input("--kl-base {}: vocabulary {} differs from the model's {}", f->kl_base,
                    base->model->config().text.vocab_size, lm.model->config().text.vocab_size);
    }
    std::vector<int64_t> tokens = lm.tokenizer->encode(text);
    auto chunks = quant::ppl_chunks(tokens, f->ctx, lm.model->config().text.bos_token_id, f->chunks);
    auto t0 = std::chrono::steady_clock::now();
    quant::PerplexityStats st = quant::run_perplexity(
        *lm.model, base ? base->model.get() : nullptr, chunks,
        [&](int64_t c, double ppl) { if (!f->json) fmt::print(stderr, "[{}]{:.4f} ", c + 1, ppl); });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = st.summary();
    j["model"] = lm.source;
    j["quant"] = f->quant.empty() ? nlohmann::json(nullptr) : nlohmann::json(f->quant);
    j["kl_base"] = f->kl_base.empty() ? nlohmann::json(nullptr) : nlohmann::json(f->kl_base);
    j["data"] = f->data;
    j["ctx"] = f->ctx;
    j["chunks"] = chunks.size();
    j["text_tokens"] = tokens.size();
    j["dtype"] = f->model.dtype;
    j["seconds"] = secs;
    if (f->json) {
      print_json(j);
      return 0;
    }
    fmt::print(stderr, "\n{} chunks x ctx {} ({} scored tokens), {:.1f} s\n", chunks.size(), f->ctx, st.count(), secs);
    fmt::print(stderr, "PPL = {:.4f} +/- {:.5f}\n", j["ppl"]["value"].get<double>(), j["ppl"]["uncertainty"].get<double>());
    if (st.has_base()) {
      fmt::print(stderr, "PPL(base) = {:.4f}; PPL ratio {:.6f} +/- {:.6f}; mean KLD {:.6f} +/- {:.6f}; "
                         "same top {:.3f} %; RMS dp {:.3f} %\n",
                 j["ppl_base"]["value"].get<double>(), j["ppl_ratio"]["value"].get<double>(),
                 j["ppl_ratio"]["uncertainty"].get<double>(), j["kld"]["mean"].get<double>(),
                 j["kld"]["uncertainty"].get<double>(), 100 * j["same_top"]["fraction"].get<double>(),
                 100 * j["delta_p"]["rms"]["value"].get<double>());
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
