#include "eval/runner/module_tensors.h"

#include "model/text/decoder.h"
#include "model/text/layers.h"


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
  // Packed (quantized) projections hold their weight outside parameters and buffers: one entry
  // per layer with the weights it stands for and the bytes it occupies (codes + scales + ...).
  for (const auto& m : module.named_modules("", /*include_self=*/false)) {
    const auto* lin = dynamic_cast<const model::Linear*>(m.value().get());
    if (!lin || lin->scheme() == "dense") continue;
    TensorEntry e;
    e.name = m.key() + ".weight";
    e.dtype = lin->scheme();
    e.shape = {lin->out_features(), lin->in_features()};
    e.numel = lin->out_features() * lin->in_features();
    e.bytes = lin->storage_bytes();
    e.storage = lin;
    out.push_back(e);
  }
  // A packed token table (model::Embedding::use_packed) is no parameter: its weights and bytes as
  // "<name>.weight", with the packed layer as the storage it shares with the head.
  for (const auto& m : module.named_modules("", /*include_self=*/false)) {
    const auto* table = dynamic_cast<const model::Embedding*>(m.value().get());
    if (!table || !table->packed()) continue;
    TensorEntry e;
    e.name = m.key() + ".weight";
    e.dtype = table->packed()->scheme();
    e.shape = {table->num_embeddings(), table->embedding_dim()};
    e.numel = table->num_embeddings() * table->embedding_dim();
    e.bytes = table->packed()->storage_bytes();
    e.storage = table->packed().get();
    out.push_back(e);
  }
  // A packed tied head (model::TextModel::head over a quantized table, q4_k_m) is outside the
  // module tree: its bytes as "<text>.lm_head.weight", no weights of its own (the tied table's are
  // counted once, as the embedding: the same storage when the table is packed). A head over the
  // bf16 table itself ("tied-*") adds nothing.
  for (const auto& m : module.named_modules("", /*include_self=*/true)) {
    const auto* text = dynamic_cast<const model::TextModel*>(m.value().get());
    if (!text || !text->head || text->head->scheme() == "dense" || text->head->scheme().rfind("tied-", 0) == 0) continue;
    TensorEntry e;
    e.name = (m.key().empty() ? "" : m.key() + ".") + "lm_head.weight";
    e.dtype = text->head->scheme();
    e.shape = {text->head->out_features(), text->head->in_features()};
    e.numel = 0;
    e.bytes = text->head->storage_bytes();
    e.storage = text->head.get();
    out.push_back(e);
  }
  return out;
}

}  // namespace g4u::runner
