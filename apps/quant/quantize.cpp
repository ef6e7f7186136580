// g4u quantize: streams an HF-layout checkpoint into a quantized checkpoint (quant/io/checkpoint.h),
// one tensor at a time, under the tensor policy of quant/layer/policy.h.
//
//   g4u quantize --model <checkpoint dir> --scheme <recipe> --out <dir> [--threads N] [--json]
//                [--calib <text file> [--calib-segments 32] [--calib-len 256]]
//
// <recipe>: any scheme of `g4u quant schemes` (pure), q4_k_m, gptq_{asym,sym}_g{32,64,128},
// awq_g{32,64,128} (quant/layer/policy.h). --calib: the imatrix for schemes with an importance-weighted
// encoder; required by gptq_* and awq_* (quant/algorithms/calibrated.h). Calibration runs one decoder layer
// at a time from the checkpoint (quant/algorithms/layerwise.h), so it never loads the whole model. The output directory is written
// as "<out>.tmp.<pid>" and renamed when complete; --out must not exist.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "base/error.h"
#include "quant/algorithms/calibrated.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>

namespace g4u::app {
namespace {

struct QuantizeFlags {
  std::string model, scheme, out;
  int threads = 0;
  quant::CalibrationOptions calib;
  bool json = false, quiet = false;
  bool storage_order = false;
};

Command quantize_cmd("quantize", "Quantize a checkpoint directory (streaming; optional calibration) into a quantized checkpoint",
                     [](CLI::App& sub) {
  auto f = std::make_shared<QuantizeFlags>();
  sub.add_option("--model", f->model, "Source checkpoint directory (e.g. from g4u init)")->required();
  sub.add_option("--scheme", f->scheme, "Recipe: a scheme name (pure) or q4_k_m")->required();
  sub.add_option("--out", f->out, "Output directory (must not exist)")->required();
  sub.add_option("--calib", f->calib.text_file, "Calibration text (imatrix, GPTQ, AWQ)");
  sub.add_option("--calib-segments", f->calib.segments, "Calibration segments")->capture_default_str();
  sub.add_option("--calib-len", f->calib.seq_len, "Tokens per calibration segment")->capture_default_str();
  sub.add_option("--threads", f->threads, "Encoder threads (0: all cores)")->capture_default_str();
  sub.add_flag("--json", f->json, "Print the metadata summary as JSON on stdout");
  sub.add_flag("-q,--quiet", f->quiet, "No per-tensor progress on stderr");
  sub.add_flag("--storage-order", f->storage_order,
               "Write q4_0 / q4_k codes in ggml's storage order (quantization.json version 1, readable by g4u "
               "before version 2) instead of the kernels' order, which loads as views of the file");
  return [f]() -> int {
    if (f->threads < 0) throw_input("--threads {}: must be >= 0", f->threads);
    quant::QuantizeOptions opt;
    opt.recipe = f->scheme;
    opt.threads = f->threads;
    opt.kernel_order = !f->storage_order;
    if (!f->quiet) opt.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    auto t0 = std::chrono::steady_clock::now();
    nlohmann::json meta = quant::quantize_calibrated(f->model, f->out, opt, f->calib);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {{"out", f->out}, {"recipe", meta["recipe"]}, {"seconds", secs}, {"totals", meta["totals"]},
                        {"quantized_tensors", meta["tensors"].size()}, {"kept_tensors", meta["kept"].size()}};
    if (f->json) {
      print_json(j);
    } else {
      const auto& t = meta["totals"];
      fmt::print(stderr, "{}: {} tensors quantized ({:.3f} bpw), {} kept; file {:.3f} bpw; {:.1f} s\n", f->out,
                 meta["tensors"].size(), t["quantized_bits_per_weight"].get<double>(), meta["kept"].size(),
                 t["file_bits_per_weight"].get<double>(), secs);
    }
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
