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
#include "eval/perplexity/perplexity.h"

#include <fmt/format.h>

#include <memory>

namespace g4u::app {
namespace {

struct PplFlags {
  ModelFlags model;
  std::string data, kl_base, quant, variant, kl_base_dtype;
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
  sub.add_option("--kl-base-dtype", f->kl_base_dtype,
                 "Execution dtype of the KL base (default: --dtype; e.g. fp32 to measure a bf16 run against full precision)");
  sub.add_option("--variant", f->variant, "Name of the measured variant, for `g4u report --ppl` (written as \"variant\")");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    quant::PerplexityRun run;
    run.model = f->model.model;
    run.data = f->data;
    run.ctx = f->ctx;
    run.chunks = f->chunks;
    run.quant = f->quant;
    run.packed_head = !f->model.dense_head;
    run.kl_base = f->kl_base;
    // The base is loaded with the same flags as the model, but for --kl-base-dtype.
    const ModelFlags flags = f->model;
    auto load = [flags](const std::string& source) {
      ModelFlags mf = flags;
      mf.model = source;
      return load_from_flags(mf);
    };
    ModelFlags base_flags = flags;
    if (!f->kl_base_dtype.empty()) {
      parse_dtype_flag(f->kl_base_dtype);
      base_flags.dtype = f->kl_base_dtype;
    }
    auto load_base = [base_flags](const std::string& source) {
      ModelFlags mf = base_flags;
      mf.model = source;
      return load_from_flags(mf);
    };
    const bool json = f->json;
    nlohmann::json j = quant::measure_perplexity(
        run, load, [json](int64_t c, double ppl) { if (!json) fmt::print(stderr, "[{}]{:.4f} ", c + 1, ppl); }, load_base);
    j["dtype"] = f->model.dtype;
    if (!f->variant.empty()) j["variant"] = f->variant;
    if (f->json) {
      print_json(j);
      return 0;
    }
    fmt::print(stderr, "\n{} chunks x ctx {} ({} scored tokens), {:.1f} s\n", j["chunks"].get<int64_t>(), f->ctx,
               j["scored_tokens"].get<int64_t>(), j["seconds"].get<double>());
    fmt::print(stderr, "PPL = {:.4f} +/- {:.5f}\n", j["ppl"]["value"].get<double>(), j["ppl"]["uncertainty"].get<double>());
    if (!j["kl_base"].is_null()) {
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
