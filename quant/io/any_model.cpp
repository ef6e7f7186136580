#include "quant/io/any_model.h"

#include "quant/io/checkpoint.h"
#include "quant/io/gguf_import.h"

namespace g4u::quant {

model::LoadedModel load_any_model(const std::string& source, const model::LoadOptions& options) {
  // A quantized checkpoint runs with QuantLinear; a GGUF file loads as the same quantized model.
  model::LoadedModel lm = is_quantized_checkpoint(source) ? load_quantized_model(source, options)
                          : is_gguf_file(source)          ? load_gguf_model(source, options)
                                                          : model::load_model(source, options);
  // Read on the CPU, then moved a tensor at a time: the host holds one tensor's copy at most beside
  // the weights (or their mapping); QuantLinear::to builds each packed layer's device form.
  if (lm.model->device() != options.device) lm.model->to(options.device);
  return lm;
}

std::shared_ptr<model::Drafter> load_any_drafter(const std::string& source, model::LoadedModel& target, uint64_t seed,
                                                 const std::string& draft_quant) {
  model::DrafterLoadOptions o;
  o.dtype = target.model->dtype();
  o.seed = seed;  // same weights as `g4u init --model <drafter preset> --seed S`
  auto drafter = model::load_drafter(source, *target.model, o);
  if (!draft_quant.empty()) quantize_drafter_in_memory(*drafter, draft_quant);
  // The drafter runs beside its target (quantized on the CPU first: the recipes are CPU code).
  drafter->module().to(target.model->device());
  return drafter;
}

}  // namespace g4u::quant
