// config.json of a model or an assistant drafter (model/io/config.h): parsed and validated, and a
// valid config's tensor shapes and KV-cache size computed as a loader would (no weights built).
#include "model/io/config.h"
#include "model/io/tensor_specs.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "config.json");
  fuzz::expect_clean_errors([&] {
    if (model::is_assistant_config(path)) {
      const model::AssistantConfig c = model::load_assistant_config(path);
      model::count_params(model::assistant_tensor_specs(c));
    } else {
      const model::ModelConfig c = model::load_model_config(path);
      for (const auto& [group, n] : model::count_params(model::model_tensor_specs(c)))
        if (n < 0) std::abort();
      if (model::kv_cache_bytes(c.text, c.text.max_position_embeddings, 2) < 0) std::abort();
    }
  });
  return 0;
}
