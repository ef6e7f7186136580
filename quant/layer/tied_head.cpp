#include "quant/layer/tied_head.h"

#include "base/error.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/torch_tensor.h"

namespace g4u::quant {

TiedBf16Head::TiedBf16Head(std::shared_ptr<model::Embedding> table) : table_(std::move(table)) {
  G4U_CHECK(table_ && table_->weight.dim() == 2, "TiedBf16Head needs a [V, H] embedding table");
}

KernelOptions TiedBf16Head::options() const {
  KernelOptions o = kernel_options;
  if (o.threads <= 0) o.threads = torch::get_num_threads();
  return o;
}

std::string TiedBf16Head::path() const {
  if (table_->weight.scalar_type() != torch::kBFloat16) return "dense";
  return "bf16-" + bf16_kernel_path(options());
}

torch::Tensor TiedBf16Head::forward(const torch::Tensor& x) {
  const torch::Tensor& E = table_->weight;
  const int64_t H = E.size(1), V = E.size(0);
  G4U_CHECK(x.size(-1) == H, "tied head [{}x{}]: input has {} features", V, H, x.size(-1));
  if (E.scalar_type() == x.scalar_type()) return model::linear_rows(x, E);
  const bool cpu_bf16 = E.device().is_cpu() && x.device().is_cpu() && E.scalar_type() == torch::kBFloat16 &&
                        x.scalar_type() == torch::kFloat32;
  // On a GPU the product runs in the table's dtype (its GEMMs accumulate in fp32) rather than widening
  // the whole table at every call.
  if (!cpu_bf16 && !E.device().is_cpu()) return torch::linear(x.to(E.scalar_type()), E).to(x.scalar_type());
  if (!cpu_bf16) return torch::linear(x, E.to(x.scalar_type()));

  torch::NoGradGuard no_grad;  // inference only: the table is not trained through this head
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = V;
  const int64_t n = x.numel() / H;
  const torch::Tensor xf = x.reshape({n, H}).contiguous();
  const torch::Tensor Ec = E.contiguous();
  torch::Tensor y = torch::empty({n, V}, torch::kFloat32);
  if (n == 1) {
    bf16_matvec(reinterpret_cast<const uint16_t*>(Ec.data_ptr<at::BFloat16>()), V, H, xf.data_ptr<float>(),
                y.data_ptr<float>(), options());
  } else if (n > 1) {
    for (int64_t r0 = 0; r0 < V; r0 += kSliceRows) {
      const int64_t rows = std::min(kSliceRows, V - r0);
      torch::Tensor slice = Ec.narrow(0, r0, rows).to(torch::kFloat32);
      y.narrow(1, r0, rows).copy_(torch::mm(xf, slice.t()));
    }
  }
  return y.view(out_shape);
}

void set_quantized_table(model::TextModel& text, QuantizedTensor q, torch::ScalarType dtype, bool packed_head) {
  model::Embedding& table = *text.embed_tokens;
  G4U_CHECK(q.rows == table.num_embeddings() && q.cols == table.embedding_dim(), "token table is [{}, {}], got [{}, {}]",
            table.num_embeddings(), table.embedding_dim(), q.rows, q.cols);
  if (packed_head && !q.scheme->reference_only()) {
    auto packed = std::make_shared<QuantLinear>(std::move(q), dtype);
    table.use_packed(packed);
    text.head = std::move(packed);
  } else {
    table.weight.set_data(dequantize_tensor(q, dtype));
  }
}

}  // namespace g4u::quant
