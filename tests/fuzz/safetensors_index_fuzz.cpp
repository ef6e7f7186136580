// A sharded checkpoint's model.safetensors.index.json (model/io/safetensors.h, Checkpoint::open)
// beside two valid shards: every tensor it lists resolves to a shard that holds it.
#include "model/io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string& dir = fuzz::scratch_dir();
  model::save_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", torch::zeros({2, 3})}});
  model::save_safetensors(dir + "/model-00002-of-00002.safetensors", {{"b", torch::ones({4}, torch::kBFloat16)}});
  fuzz::write_seed(R"({"metadata": {"total_size": 32}, "weight_map": {"a": "model-00001-of-00002.safetensors", )"
                   R"("b": "model-00002-of-00002.safetensors"}})",
                   "index.json");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::write_input(data, size, "model.safetensors.index.json");
  fuzz::expect_clean_errors([&] {
    const model::Checkpoint ck = model::Checkpoint::open(fuzz::scratch_dir());
    for (const std::string& name : ck.names())
      if (ck.view(name).numel() != ck.info(name).numel()) std::abort();
  });
  return 0;
}
