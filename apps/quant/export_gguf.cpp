// g4u export-gguf: writes a checkpoint directory (quantized with a ggml scheme by `g4u quantize`,
// or plain float) as one GGUF v3 file for llama.cpp's gemma4 architecture, or a Gemma 4 assistant
// drafter checkpoint for its gemma4-assistant architecture (quant/io/gguf.h).
//
//   g4u export-gguf --model <checkpoint dir> --out <file.gguf> [--target <dir|gguf>] [--alignment 32] [--json] [-q]
//
// --target (drafters only): the target checkpoint or GGUF the drafter drafts for; its vocabulary is
// written (llama.cpp pairs a draft model only with a target of the same vocabulary).
// Text decoder only; vision/audio embedders are listed as skipped. Tensors quantized with a scheme
// ggml does not have (rtn4_*, hqq*, nf4*, gptq_*/awq_* recipes) are refused (exit code 2) and
// nothing is written. --out must not exist; the file appears only when complete.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "base/error.h"
#include "quant/io/gguf.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>

namespace g4u::app {
namespace {

struct ExportGgufFlags {
  std::string model, out, target;
  uint32_t alignment = 32;
  bool json = false, quiet = false;
};

Command export_gguf_cmd("export-gguf",
                        "Export a checkpoint (float or ggml-quantized) or an assistant drafter as a GGUF file for "
                        "llama.cpp (gemma4 / gemma4-assistant)",
                        [](CLI::App& sub) {
  auto f = std::make_shared<ExportGgufFlags>();
  sub.add_option("--model", f->model, "Checkpoint directory (g4u quantize output with a ggml scheme, float, or an assistant drafter)")->required();
  sub.add_option("--out", f->out, "Output .gguf file (must not exist)")->required();
  sub.add_option("--target", f->target,
                 "Drafter export: the target checkpoint folder or .gguf it drafts for (its vocabulary is written; "
                 "default: tokenizer.model beside the drafter, else g4u's byte vocabulary)");
  sub.add_option("--alignment", f->alignment, "general.alignment: tensor data alignment in bytes (power of two)")
      ->capture_default_str();
  sub.add_flag("--json", f->json, "Print the export summary as JSON on stdout");
  sub.add_flag("-q,--quiet", f->quiet, "No per-tensor progress on stderr");
  return [f]() -> int {
    quant::GgufExportOptions opt;
    opt.alignment = f->alignment;
    opt.target = f->target;
    if (!f->quiet && !f->json) opt.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    auto t0 = std::chrono::steady_clock::now();
    nlohmann::json s = quant::export_gguf(f->model, f->out, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s["seconds"] = secs;
    if (f->json) {
      print_json(s);
    } else {
      fmt::print(stderr, "{}: GGUF v{} ({}), {} tensors, {} metadata keys, {}; {} skipped; {:.1f} s\n", f->out,
                 s["version"].get<int>(), s["architecture"].get<std::string>(), s["tensor_count"].get<int64_t>(),
                 s["kv_count"].get<int64_t>(), human_bytes(s["file_bytes"].get<double>()), s["skipped"].size(), secs);
      for (const auto& n : s["notes"]) fmt::print(stderr, "note: {}\n", n.get<std::string>());
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
