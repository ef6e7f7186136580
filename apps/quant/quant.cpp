// g4u quant: encode/decode one raw fp32 matrix with a quantization scheme, list the schemes.
//
//   g4u quant encode --scheme S --rows R --cols C --input W.f32 [--imatrix I.f32] --output W.q
//   g4u quant decode --scheme S --rows R --cols C --input W.q --output W.f32
//   g4u quant schemes
//
// Raw fp32 files are little-endian float32, row-major [R, C] (the imatrix: C values). The encoded
// file is QuantizedTensor's byte form (quant/formats/quantized_tensor.h): for ggml schemes exactly the
// ggml blocks row after row; for the others the code array, then scales, zeros and meta. Outputs
// are written to a temp file and renamed into place.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "base/error.h"
#include "base/json_util.h"
#include "quant/kernels/kernels.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

namespace g4u::app {
namespace {

struct QuantArgs {
  std::string scheme, input, output, imatrix;
  int64_t rows = 0, cols = 0;
  int threads = 0;
  bool json = false;
};

std::vector<float> read_f32_file(const std::string& path, int64_t expected_count, const std::string& what) {
  const std::string bytes = read_text_file(path);
  if (static_cast<int64_t>(bytes.size()) != expected_count * 4)
    throw_input("{}: {} bytes, but {} needs exactly {} float32 values ({} bytes)", path, bytes.size(), what,
                expected_count, expected_count * 4);
  std::vector<float> v(static_cast<size_t>(expected_count));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

nlohmann::json accounting_json(const quant::QuantizedTensor& q) {
  const quant::ByteAccounting a = q.bytes();
  return {{"codes", a.codes}, {"scales", a.scales}, {"zeros_mins", a.zeros_mins}, {"codebook", a.codebook},
          {"other", a.other}, {"total", a.total()}};
}

int run_encode(const QuantArgs& a) {
  const quant::SchemeTraits& s = quant::find_scheme(a.scheme);
  quant::check_shape(s, a.rows, a.cols, a.input);
  if (a.rows > (int64_t{1} << 34) / a.cols) throw_input("{}: [{}, {}] is too large for one file", a.input, a.rows, a.cols);
  std::vector<float> w = read_f32_file(a.input, a.rows * a.cols, fmt::format("a [{}, {}] matrix", a.rows, a.cols));
  std::vector<float> imatrix;
  if (!a.imatrix.empty()) {
    if (!s.uses_imatrix) {
      std::string with;
      for (const auto* t : quant::all_schemes())
        if (t->uses_imatrix) with += (with.empty() ? "" : ", ") + std::string(t->name);
      throw_input("{}: scheme {} has no importance-matrix path (schemes with one: {})", a.imatrix, s.name, with);
    }
    imatrix = read_f32_file(a.imatrix, a.cols, fmt::format("an importance matrix of {} columns", a.cols));
    for (int64_t j = 0; j < a.cols; ++j)
      if (!std::isfinite(imatrix[j]) || imatrix[j] < 0)
        throw_input("{}: value {} is {}: importance values must be finite and >= 0", a.imatrix, j, imatrix[j]);
  }
  quant::QuantizedTensor q =
      quant::quantize(s, w.data(), a.rows, a.cols, imatrix.empty() ? nullptr : imatrix.data(), a.input, a.threads);
  write_file_atomic(a.output, quant::to_bytes(q));
  const double rel = quant::relative_error(q, w.data());
  nlohmann::json j = {{"scheme", std::string(s.name)},
                      {"rows", a.rows},
                      {"cols", a.cols},
                      {"imatrix", !imatrix.empty()},
                      {"bytes", accounting_json(q)},
                      {"bits_per_weight", q.bits_per_weight()},
                      {"relative_error", rel},
                      {"output", a.output}};
  if (a.json) print_json(j);
  else
    fmt::print(stderr, "{}: [{}, {}] -> {} ({} bytes, {:.4f} bits/weight, relative error {:.6f})\n", s.name, a.rows,
               a.cols, a.output, q.bytes().total(), q.bits_per_weight(), rel);
  return 0;
}

int run_decode(const QuantArgs& a) {
  const quant::SchemeTraits& s = quant::find_scheme(a.scheme);
  quant::check_shape(s, a.rows, a.cols, a.input);
  const std::string bytes = read_text_file(a.input);
  quant::QuantizedTensor q = quant::from_bytes(s, a.rows, a.cols, bytes, a.input);
  std::vector<float> w = q.dequantize();
  for (size_t i = 0; i < w.size(); ++i)
    if (!std::isfinite(w[i]))
      throw_input("{}: element [{}, {}] decodes to {}: corrupt or not a {} file", a.input,
                  static_cast<int64_t>(i) / a.cols, static_cast<int64_t>(i) % a.cols, w[i], s.name);
  std::string out(w.size() * 4, '\0');
  std::memcpy(out.data(), w.data(), out.size());
  write_file_atomic(a.output, out);
  nlohmann::json j = {{"scheme", std::string(s.name)}, {"rows", a.rows}, {"cols", a.cols}, {"output", a.output}};
  if (a.json) print_json(j);
  else fmt::print(stderr, "{}: {} -> {} ([{}, {}] float32)\n", s.name, a.input, a.output, a.rows, a.cols);
  return 0;
}

int run_schemes(bool json) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto* s : quant::all_schemes()) {
    list.push_back({{"name", std::string(s->name)},
                    {"summary", std::string(s->summary)},
                    {"layout", s->layout == quant::Layout::kGgmlBlocks ? "ggml" : "planar"},
                    {"block", s->block},
                    {"cols_multiple", s->cols_multiple},
                    {"imatrix", s->uses_imatrix},
                    {"kernel", s->reference_only() ? "reference" : "packed"},
                    {"bits_per_weight_4096x4096", quant::bits_per_weight(*s, 4096, 4096)},
                    {"gguf_type", s->has_ggml_type() ? nlohmann::json(std::string(s->ggml.type_name)) : nlohmann::json()},
                    {"interleaved", s->interleaved},
                    {"fallback", s->fallback.empty() ? nlohmann::json() : nlohmann::json(std::string(s->fallback))}});
  }
  if (json) {
    print_json({{"schemes", list},
                {"cpu_avx2", quant::cpu_has_avx2()},
                {"cpu_avx512", quant::cpu_has_avx512()},
                {"kernel_isa", quant::kernel_isa()}});
  } else {
    for (const auto& j : list)
      fmt::print(stderr, "{:<15} {:<9} {}\n", j["name"].get<std::string>(), j["kernel"].get<std::string>(),
                 j["summary"].get<std::string>());
  }
  return 0;
}

void add_common(CLI::App* sub, QuantArgs& a) {
  sub->add_option("--scheme", a.scheme, "Quantization scheme (see `g4u quant schemes`)")->required();
  sub->add_option("--rows", a.rows, "Rows (output channels)")->required();
  sub->add_option("--cols", a.cols, "Columns (input features)")->required();
  sub->add_option("--input", a.input, "Input file")->required();
  sub->add_option("--output", a.output, "Output file (written via temp file + rename)")->required();
  sub->add_flag("--json", a.json, "Print a JSON summary on stdout");
}

Command quant_cmd("quant", "Encode/decode raw fp32 matrices with a quantization scheme", [](CLI::App& sub) {
  auto args = std::make_shared<QuantArgs>();
  auto list_json = std::make_shared<bool>(false);
  sub.require_subcommand(1);
  CLI::App* enc = sub.add_subcommand("encode", "Quantize a raw float32 [rows, cols] file");
  add_common(enc, *args);
  enc->add_option("--imatrix", args->imatrix, "Raw float32 file of `cols` importance values (llama-imatrix)");
  enc->add_option("--threads", args->threads, "Encoder threads (default: all cores)");
  CLI::App* dec = sub.add_subcommand("decode", "Dequantize an encoded file to raw float32");
  add_common(dec, *args);
  CLI::App* list = sub.add_subcommand("schemes", "List the quantization schemes");
  list->add_flag("--json", *list_json, "Print JSON on stdout");
  return [args, list_json, enc, dec, list]() -> int {
    if (enc->parsed()) return run_encode(*args);
    if (dec->parsed()) return run_decode(*args);
    if (list->parsed()) return run_schemes(*list_json);
    return 2;
  };
});

}  // namespace
}  // namespace g4u::app
