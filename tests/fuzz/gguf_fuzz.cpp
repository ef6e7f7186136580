// A GGUF file (quant/io/gguf_reader.h, gguf_import.h) given as `--model file.gguf`: the header,
// metadata and tensor table are validated at open, and a file that passes loads as a model whose
// tokenizer comes from its metadata (gguf_tokenizer.h). Seed: the tiny model exported by g4u.
#include "model/io/config.h"
#include "model/io/loader.h"
#include "quant/io/checkpoint.h"
#include "quant/io/gguf.h"
#include "quant/io/gguf_import.h"
#include "quant/io/gguf_reader.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::writing_seeds()) return 0;
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.vision.reset();
  cfg.audio.reset();
  const std::string dir = fuzz::scratch_dir();
  model::write_random_checkpoint(cfg, dir + "/f32", 1);
  for (const std::string recipe : {"q4_0", "q4_k_m"}) {
    quant::QuantizeOptions o;
    o.recipe = recipe;
    quant::quantize_checkpoint(dir + "/f32", dir + "/" + recipe, o);
    quant::export_gguf(dir + "/" + recipe, dir + "/" + recipe + ".gguf");
    fuzz::copy_seed(dir + "/" + recipe + ".gguf", "tiny_" + recipe + ".gguf");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "model.gguf");
  fuzz::expect_clean_errors([&] {
    const auto file = quant::GgufFile::open(path);
    for (const quant::GgufTensor& t : file->tensors())
      if (file->data_offset() + t.offset + t.nbytes > file->file_size()) std::abort();
    quant::gguf_model_config(*file);
    quant::load_gguf_model(path);
  });
  return 0;
}
