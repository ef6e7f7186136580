// A quantized token table kept packed (quant::set_quantized_table, model::Embedding::use_packed):
// the rows a lookup dequantizes must be exactly the rows of the table that dequantize_tensor makes,
// and a model reading its table that way must give the logits and greedy tokens of one that holds
// the dequantized table (what the loaders did before).
#include "model/io/loader.h"
#include "model/text/generate.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/tied_head.h"
#include "quant/layer/torch_tensor.h"

#include <catch2/catch.hpp>

using namespace g4u;
using namespace g4u::quant;

namespace {

// The table schemes of the ggml mixes: q4_0 / q4_k are kept interleaved by QuantLinear, q6_k (the
// q4_k_m table) and q8_0 in storage order.
const char* const kTableSchemes[] = {"q4_0", "q4_k", "q6_k", "q8_0"};

torch::Tensor greedy_tokens(model::Gemma4Model& m) {
  model::GenerateOptions opt;
  opt.max_new_tokens = 6;
  opt.use_config_stop_ids = false;
  return torch::tensor(model::generate(m, {{2, 70, 71, 72, 73, 74, 75}}, opt).tokens.at(0));
}

}  // namespace

TEST_CASE("Packed token table: gathered rows equal the dequantized table's rows", "[unit]") {
  const int64_t V = 37, H = 512;  // two Q4_K/Q6_K super-blocks and two interleaved Q4_0 groups per row
  torch::manual_seed(11);
  const torch::Tensor E = torch::randn({V, H});
  const torch::Tensor ids = torch::tensor({{5, 0, 36}, {5, 17, 2}});
  for (const char* scheme : kTableSchemes) {
    INFO(scheme);
    const QuantizedTensor q = quantize_tensor(E, scheme);
    auto packed = std::make_shared<QuantLinear>(q);
    for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
      // The independent fact: the whole table dequantized from storage order, then gathered.
      const torch::Tensor table = dequantize_tensor(q, dtype);
      const torch::Tensor rows = packed->weight_rows(ids, dtype);
      CHECK(rows.sizes() == torch::IntArrayRef({2, 3, H}));
      CHECK(rows.scalar_type() == dtype);
      CHECK(torch::equal(rows, torch::embedding(table, ids)));

      model::Embedding emb(V, H);
      emb.use_packed(packed);
      CHECK_FALSE(emb.weight.defined());
      CHECK(emb.named_parameters().is_empty());  // no parameter left to convert, train or count
      CHECK(torch::equal(emb.lookup(ids, dtype), torch::embedding(table, ids)));
      CHECK(torch::equal(emb.table(dtype), table));
      emb.to(torch::kBFloat16);  // nothing to convert: the packed table stays as it is
      CHECK(torch::equal(emb.lookup(ids, dtype), torch::embedding(table, ids)));
    }
    CHECK_THROWS(packed->weight_rows(torch::tensor({V}), torch::kFloat32));
    model::Embedding wrong(V + 1, H);
    CHECK_THROWS(wrong.use_packed(packed));
  }
  // A bf16 table read through the dense projection: its rows widen exactly.
  model::DenseLinear dense(H, V);
  dense.weight.set_data(E.to(torch::kBFloat16));
  CHECK(torch::equal(dense.weight_rows(ids, torch::kFloat32), torch::embedding(dense.weight, ids).to(torch::kFloat32)));
  CHECK(torch::equal(dense.weight_rows(ids, torch::kBFloat16), torch::embedding(dense.weight, ids)));
}

TEST_CASE("Packed token table: a quantized model's logits and greedy tokens equal the dequantized table's",
          "[integration]") {
  torch::NoGradGuard ng;
  const torch::Tensor ids = torch::tensor({2, 70, 71, 72, 73, 74, 75, 76}).view({1, -1});
  // "small" has 256 columns, so every table scheme applies.
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    model::LoadOptions lo;
    lo.dtype = dtype;
    model::LoadedModel packed_lm = model::load_model("small", lo), dense_lm = model::load_model("small", lo);
    const torch::Tensor E = packed_lm.model->text().embed_tokens->weight.to(torch::kFloat32);
    for (const char* scheme : kTableSchemes) {
      INFO(scheme << " run in " << c10::toString(dtype));
      model::TextModel& p = packed_lm.model->text();
      model::TextModel& d = dense_lm.model->text();
      // Packed: the head and the lookups read one QuantLinear.
      auto fresh = std::make_shared<model::Embedding>(E.size(0), E.size(1));
      p.embed_tokens = p.replace_module("embed_tokens", fresh);
      set_quantized_table(p, quantize_tensor(E, scheme), dtype, /*packed_head=*/true);
      REQUIRE(p.embed_tokens->packed() != nullptr);
      CHECK(p.embed_tokens->packed() == p.head);
      // Before: the table dequantized for the lookups, the head over the packed table.
      const QuantizedTensor q = quantize_tensor(E, scheme);
      d.embed_tokens->weight.set_data(dequantize_tensor(q, dtype));
      d.head = std::make_shared<QuantLinear>(q, dtype);

      CHECK(torch::equal(p.embed(ids), d.embed(ids)));
      const auto valid = torch::ones({1, ids.size(1)}, torch::kBool);
      const torch::Tensor lp = p.logits(p.forward(p.embed(ids), valid, nullptr).hidden);
      const torch::Tensor ld = d.logits(d.forward(d.embed(ids), valid, nullptr).hidden);
      CHECK(torch::equal(lp, ld));
      CHECK(torch::equal(greedy_tokens(*packed_lm.model), greedy_tokens(*dense_lm.model)));
    }
  }
}
