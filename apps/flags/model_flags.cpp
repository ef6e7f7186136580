#include "apps/flags/model_flags.h"
#include "model/io/device.h"
#include "model/io/sysinfo.h"

#include "base/error.h"
#include "quant/io/any_model.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf_reader.h"

namespace g4u::app {

void add_model_flags(CLI::App& sub, ModelFlags& f) {
  sub.add_option("--model", f.model, "Preset (tiny, small, medium, gemma4-12b), checkpoint directory or GGUF file")->required();
  sub.add_option("--dtype", f.dtype, "Execution dtype: fp32 or bf16")->capture_default_str();
  sub.add_option("--seed", f.seed, "Seed of a preset's random weights and of sampling")->capture_default_str();
  sub.add_option("--threads", f.threads, "CPU threads (0: LibTorch default)")->capture_default_str();
  sub.add_flag("--dense-head", f.dense_head,
               "Quantized checkpoint: run the tied head as a dense product in --dtype (a bf16 table widened, a "
               "quantized one dequantized) instead of reading the table as stored");
  sub.add_flag("--mmap", f.mmap,
               "Weights stored in the run dtype stay views of the memory-mapped checkpoint (no copy, instant load, "
               "pages shared with the page cache) instead of copies of their own; both cost the weights' bytes");
  sub.add_flag("--no-mmap", f.no_mmap,
               "Nothing stays a view of the checkpoint's mapping: packed weights stored in the kernels' order (quantized "
               "checkpoints, GGUF) are copied into memory of their own too")
      ->excludes("--mmap");
  sub.add_option("--device", f.device,
                 "Where the model runs: cpu, cuda or cuda:N (a CUDA build of g4u, scripts/gpu-build.sh); bf16 is the "
                 "dtype for a GPU")
      ->capture_default_str();
}

void add_quant_flag(CLI::App& sub, ModelFlags& f) {
  sub.add_option("--quant", f.quant,
                 "Quantize --model (a preset or float checkpoint) in memory with this round-to-nearest recipe (q4_0, "
                 "q4_k_m, ...) before it runs, on the host and then moved to --device: the 12B's random weights at a "
                 "4-bit size without a checkpoint on disk");
}

torch::ScalarType parse_dtype_flag(const std::string& dtype) {
  if (dtype == "fp32" || dtype == "float32") return torch::kFloat32;
  if (dtype == "bf16" || dtype == "bfloat16") return torch::kBFloat16;
  throw_input("--dtype {}: expected fp32 or bf16", dtype);
}

model::LoadedModel load_from_flags(const ModelFlags& f, bool with_tokenizer) {
  if (f.threads < 0) throw_input("--threads {}: must be >= 0", f.threads);
  if (f.threads > 0) set_compute_threads(f.threads);
  model::LoadOptions opt;
  opt.device = model::parse_device(f.device);  // checked before anything is read
  opt.dtype = parse_dtype_flag(f.dtype);
  opt.seed = f.seed;
  opt.packed_head = !f.dense_head;
  opt.tokenizer = with_tokenizer;
  opt.map_weights = f.mmap;
  opt.map_packed = !f.no_mmap;
  if (f.quant.empty()) return quant::load_any_model(f.model, opt);
  if (quant::is_quantized_checkpoint(f.model) || quant::is_gguf_file(f.model))
    throw_input("--quant {}: --model {} is quantized already; pass a preset or a float checkpoint", f.quant, f.model);
  // The recipes are CPU code: the model is quantized on the host, then moved. A preset's weights are
  // drawn and packed a tensor at a time (the host never holds its float model: the 12B at 4 bits
  // loads in about 8 GB); a checkpoint is loaded, then each projection's float weight is freed once
  // its packed form exists.
  const torch::Device device = opt.device;
  opt.device = torch::kCPU;
  model::LoadedModel lm;
  try {
    if (auto preset = model::model_preset(f.model)) {
      if (with_tokenizer && preset->tokenizer != "byte")
        throw_input("--model {}: this preset has no built-in tokenizer; only commands that feed token ids run it",
                    f.model);
      lm.model = quant::random_quantized_model(*preset, f.seed, opt.dtype, f.quant, f.threads, opt.packed_head);
      lm.source = f.model;
      lm.random_weights = true;
      if (with_tokenizer) lm.tokenizer = model::load_tokenizer(*preset, "");
    } else {
      lm = quant::load_any_model(f.model, opt);
      quant::quantize_in_memory(*lm.model, f.quant, f.threads, opt.packed_head);
    }
  } catch (const InputError& e) {
    throw_input("--quant {}: {}", f.quant, e.what());
  }
  lm.model->eval();
  if (!device.is_cpu()) lm.model->to(device);
  return lm;
}

std::vector<int64_t> parse_id_list(const std::string& text, const std::string& flag) {
  std::vector<int64_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    if (item.empty() || used != item.size()) throw_input("{}: '{}' is not an integer token id", flag, item);
    ids.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (ids.empty()) throw_input("{}: no token ids", flag);
  return ids;
}

}  // namespace g4u::app
