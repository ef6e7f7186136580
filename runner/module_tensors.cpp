#include "runner/module_tensors.h"

namespace g4u::runner {
namespace {

TensorEntry entry(const std::string& name, const torch::Tensor& t, bool buffer) {
  TensorEntry e;
  e.name = name;
  e.dtype = std::string(c10::toString(t.scalar_type()));
  e.shape = t.sizes().vec();
  e.numel = t.numel();
  e.bytes = t.numel() * static_cast<int64_t>(t.element_size());
  e.buffer = buffer;
  e.storage = t.numel() > 0 ? t.data_ptr() : nullptr;
  return e;
}

}  // namespace

std::vector<TensorEntry> module_tensors(const torch::nn::Module& module) {
  std::vector<TensorEntry> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.push_back(entry(p.key(), p.value(), false));
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    if (b.value().defined()) out.push_back(entry(b.key(), b.value(), true));
  return out;
}

}  // namespace g4u::runner
