// A safetensors file (model/io/safetensors.h): the header is validated at open, after which every
// tensor's bytes lie inside the mapping (touching each byte must not fault) and views have the
// declared shape.
#include "model/io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Seed: a valid two-tensor file with metadata.
  const std::string path = fuzz::scratch_dir() + "/seed.safetensors";
  model::save_safetensors(path, {{"a", torch::arange(6, torch::kFloat32).view({2, 3})}, {"b", torch::ones({4}, torch::kBFloat16)}},
                          {{"format", "pt"}});
  fuzz::copy_seed(path, "two_tensors.safetensors");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "model.safetensors");
  fuzz::expect_clean_errors([&] {
    auto file = model::SafetensorsFile::open(path);
    unsigned sum = 0;
    for (const model::TensorInfo& t : file->tensors()) {
      if (t.offset + t.nbytes > file->file_size() || t.nbytes != t.numel() * model::dtype_size(t.dtype)) std::abort();
      const uint8_t* p = file->data(t);
      for (uint64_t i = 0; i < t.nbytes; ++i) sum += p[i];
      torch::Tensor v = file->view(t);
      if (v.numel() != t.numel()) std::abort();
    }
    if (sum == 0xdeadbeef) std::abort();  // keeps the reads
  });
  return 0;
}
