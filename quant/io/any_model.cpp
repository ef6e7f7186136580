#include "quant/io/any_model.h"

#include "quant/io/checkpoint.h"
#include "quant/io/gguf_import.h"

namespace g4u::quant {

model::LoadedModel load_any_model(const std::string& source, const model::LoadOptions& options) {
  // A quantized checkpoint runs with QuantLinear; a GGUF file loads as the same quantized model.
  if (is_quantized_checkpoint(source)) return load_quantized_model(source, options);
  if (is_gguf_file(source)) return load_gguf_model(source, options);
  return model::load_model(source, options);
}

}  // namespace g4u::quant
