// quantization.json of a quantized checkpoint (quant/io/checkpoint.h), beside the packed tensors of
// the tiny model: whatever it says about schemes, shapes and recipes, loading either succeeds with a
// complete model or names the file and field.
#include "model/io/config.h"
#include "model/io/loader.h"
#include "quant/io/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"


using namespace g4u;

namespace {
std::string quantized_dir() { return fuzz::scratch_dir() + "/q"; }
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.vision.reset();
  cfg.audio.reset();
  const std::string src = fuzz::scratch_dir() + "/f32";
  model::write_random_checkpoint(cfg, src, 1);
  quant::QuantizeOptions o;
  o.recipe = "q4_k_m";
  quant::quantize_checkpoint(src, quantized_dir(), o);
  fuzz::copy_seed(quantized_dir() + "/" + quant::kQuantMetadataFile, "q4_k_m.json");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::write_input(data, size, std::string("q/") + quant::kQuantMetadataFile);
  fuzz::expect_clean_errors([&] { quant::load_quantized_model(quantized_dir()); });
  return 0;
}
