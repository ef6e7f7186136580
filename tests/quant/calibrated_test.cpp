// GPTQ, AWQ and the imatrix collector: independent facts (formulas, RTN equivalence, exact folding).
#include "model/io/loader.h"
#include "quant/algorithms/awq.h"
#include "quant/algorithms/calibrated.h"
#include "quant/algorithms/calibration.h"
#include "quant/io/checkpoint.h"
#include "quant/algorithms/gptq.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/torch_tensor.h"
#include "quant_test_util.h"
#include "test_paths.h"
#include "cli_runner.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace g4u;
using namespace g4u::quant;

namespace {

using g4u::test::ScratchDir;

// Strongly correlated activations (K/4 latent factors plus 10 % noise) with uneven column scales,
// as in LLM hidden states - what makes GPTQ/AWQ worthwhile.
torch::Tensor calib_activations(int64_t T, int64_t K, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor z = torch::randn({T, K / 4});
  torch::Tensor mix = torch::randn({K / 4, K}) / std::sqrt(static_cast<double>(K / 4));
  torch::Tensor scale = torch::exp(0.5 * torch::randn({K}));
  return (torch::matmul(z, mix) + 0.1 * torch::randn({T, K})) * scale;
}

double output_error(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& w_hat) {
  return (torch::matmul(x, (w - w_hat).t())).pow(2).sum().item<double>();
}



}  // namespace

TEST_CASE("HessianAccumulator is (2/n) X^T X over all rows added", "[unit]") {
  torch::Tensor x = calib_activations(50, 16, 1);
  HessianAccumulator h(16);
  h.add(x.narrow(0, 0, 7));
  h.add(x.narrow(0, 7, 30).view({1, 30, 16}));
  h.add(x.narrow(0, 37, 13));
  CHECK(h.samples() == 50);
  torch::Tensor want = 2.0 / 50 * torch::matmul(x.t().to(torch::kFloat64), x.to(torch::kFloat64));
  CHECK(torch::allclose(h.hessian().to(torch::kFloat64), want, 1e-4, 1e-4));
}

TEST_CASE("GPTQ with an identity Hessian is exactly RTN (no error to propagate)", "[unit]") {
  torch::manual_seed(3);
  torch::Tensor w = 0.05 * torch::randn({16, 256});
  for (bool sym : {false, true})
    for (bool act_order : {false, true}) {
      GptqOptions o;
      o.group_size = 64;
      o.sym = sym;
      o.act_order = act_order;
      GptqResult r = gptq_quantize(w, torch::eye(256), o);
      QuantizedTensor rtn = quantize_tensor(w, sym ? "rtn4_sym_g64" : "rtn4_asym_g64");
      INFO("sym " << sym << " act_order " << act_order);
      CHECK(r.q.scheme == rtn.scheme);
      CHECK(to_bytes(r.q) == to_bytes(rtn));
    }
}

TEST_CASE("GPTQ beats RTN on a layer's output error", "[unit]") {
  const int64_t K = 256, N = 64;
  torch::Tensor x = calib_activations(2048, K, 5);
  torch::manual_seed(9);
  torch::Tensor w = 0.05 * torch::randn({N, K});
  HessianAccumulator h(K);
  h.add(x);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.group_size = 128;
    o.act_order = act_order;
    GptqResult r = gptq_quantize(w, h.hessian(), o);
    const double e_gptq = output_error(x, w, dequantize_tensor(r.q));
    const double e_rtn = output_error(x, w, dequantize_tensor(quantize_tensor(w, "rtn4_asym_g128")));
    INFO("act_order " << act_order << ": gptq " << e_gptq << " rtn " << e_rtn);
    CHECK(e_gptq < 0.5 * e_rtn);
    CHECK(r.static_groups == act_order);
  }
}

TEST_CASE("AWQ folding leaves the float model's output unchanged", "[unit]") {
  model::LoadedModel m = model::load_model("tiny");
  torch::NoGradGuard ng;
  torch::Tensor ids = torch::tensor({2, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60}).view({1, -1});
  auto logits = [&] {
    auto r = m.model->text().forward(m.model->text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr);
    return m.model->text().logits(r.hidden);
  };
  torch::Tensor before = logits();
  torch::manual_seed(4);
  for (auto& Lp : m.model->text().layers) {
    auto& L = *Lp;
    auto W = [](const std::shared_ptr<model::Linear>& l) { return dynamic_cast<model::DenseLinear&>(*l).weight; };
    std::vector<torch::Tensor> qkv = {W(L.self_attn->q_proj), W(L.self_attn->k_proj)};
    if (L.self_attn->v_proj) qkv.push_back(W(L.self_attn->v_proj));
    fold_into_norm(*L.input_layernorm, qkv, torch::exp(torch::randn({64})));
    fold_into_norm(*L.pre_feedforward_layernorm, {W(L.mlp->gate_proj), W(L.mlp->up_proj)}, torch::exp(torch::randn({64})));
    fold_into_linear(W(L.mlp->up_proj), W(L.mlp->down_proj), torch::exp(torch::randn({128})));
  }
  torch::Tensor after = logits();
  CHECK(torch::allclose(before, after, 1e-4, 1e-4));
  CHECK((before - after).abs().max().item<double>() < 1e-3);
}

TEST_CASE("AWQ scale search never loses to no scaling, and its quantizer matches the formula", "[unit]") {
  const int64_t K = 128, N = 32;
  torch::Tensor x = calib_activations(512, K, 8);
  torch::manual_seed(2);
  torch::Tensor w = 0.05 * torch::randn({N, K});
  AwqOptions o;
  o.group_size = 32;
  auto out = [](const torch::Tensor& xx, const std::vector<torch::Tensor>& ws) { return torch::matmul(xx, ws[0].t()); };
  double alpha = -1;
  torch::Tensor s = awq_search_scales(x, {w}, out, o, &alpha);
  CHECK(alpha >= 0.0);
  CHECK(alpha < 1.0);
  const double e_plain = output_error(x, w, awq_fake_quant(w, 32));
  const double e_awq = output_error(x, w, awq_fake_quant(w * s, 32) / s);
  CHECK(e_awq <= e_plain);
  // Quantizer of one group by hand: values 0..31 * 0.1 - 1 -> min -1, max 2.1, scale 3.1/15,
  // zero = clamp(-round(-1 / scale), 0, 15) = round(4.8387) = 5.
  torch::Tensor g = (torch::arange(32, torch::kFloat32) * 0.1 - 1).view({1, 32});
  const double sc = 3.1 / 15;
  torch::Tensor fq = awq_fake_quant(g, 32);
  for (int i = 0; i < 32; ++i) {
    const double v = i * 0.1 - 1;
    const double q = std::min(15.0, std::max(0.0, std::nearbyint(v / sc) + 5));
    CHECK(fq[0][i].item<double>() == Approx((q - 5) * sc).margin(1e-6));
  }
  // awq_pack stores the same grid with the scale in fp16.
  QuantizedTensor p = awq_pack(w, 32);
  CHECK(p.scheme->name == "rtn4_asym_g32");
  CHECK(torch::allclose(dequantize_tensor(p), awq_fake_quant(w, 32), 1e-3, 2e-3));
}

TEST_CASE("AWQ clip search: the clamp each (row, group) gets is the direct search's", "[unit]") {
  // The direct search, in double, one (row, group) at a time: for i = 0..steps-1 clamp the group's
  // weights to max|w| * (1 - i/20), fake-quantize, and keep the clamp whose outputs over the sampled
  // tokens have the least mean squared error (the first one on ties).
  const int64_t K = 64, N = 6, g = 32, T = 40;
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({T, K});
  torch::Tensor w = 0.05 * torch::randn({N, K});
  w[2][7] = 0.6;  // an outlier: clipping its group pays
  AwqOptions o;
  o.group_size = g;
  o.clip_tokens = T;
  torch::Tensor got = awq_search_clip(x, w, o);
  REQUIRE(got.sizes() == torch::IntArrayRef({N, K / g}));
  torch::Tensor xd = x.to(torch::kFloat64);
  int shrunk = 0;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t grp = 0; grp < K / g; ++grp) {
      torch::Tensor wg = w[r].narrow(0, grp * g, g);
      torch::Tensor xs = xd.narrow(1, grp * g, g);
      const double org_max = wg.abs().max().item<double>();
      torch::Tensor ref = xs.matmul(wg.to(torch::kFloat64));
      double best = std::numeric_limits<double>::infinity(), best_max = org_max;
      for (int i = 0; i < o.clip_steps; ++i) {
        const double m = org_max * (1 - i / 20.0);
        torch::Tensor q = awq_fake_quant(torch::clamp(wg, -m, m).view({1, g}), g).view({g}).to(torch::kFloat64);
        const double err = (xs.matmul(q) - ref).pow(2).mean().item<double>();
        if (err < best * (1 - 1e-9)) {
          best = err;
          best_max = m;
        }
      }
      CHECK(got[r][grp].item<double>() == Approx(best_max).epsilon(1e-6));
      shrunk += best_max < org_max;
    }
  CHECK(shrunk > 0);  // the search does clip somewhere, so the check above is not only the identity
}

TEST_CASE("Calibrated quantize: imatrix, GPTQ and AWQ checkpoints load and generate", "[integration]") {
  ScratchDir dir("e2e");
  model::write_random_checkpoint(*model::model_preset("tiny"), dir / "dense", 3);
  {
    std::ofstream f(dir / "calib.txt");
    for (int i = 0; i < 200; ++i) f << "The quick brown fox " << i << " jumps over the lazy dog. ";
  }
  CalibrationOptions co{dir / "calib.txt", 4, 64};
  QuantizeOptions opt;
  // imatrix collector: mean x^2 per column equals a direct computation on the same activations.
  model::LoadedModel lm = model::load_model(dir / "dense");
  CalibrationSet cs = make_calibration_set(co.text_file, *lm.tokenizer, 2, 4, 64);
  REQUIRE(cs.segments.size() == 4);
  auto im = collect_imatrix(*lm.model, cs);
  CHECK(im.size() == 40);
  std::vector<torch::Tensor> xs;
  run_with_input_hooks(*lm.model, cs, {{"model.language_model.layers.1.mlp.down_proj.weight",
                                        [&](const torch::Tensor& x) { xs.push_back(x.reshape({-1, 128}).clone()); }}});
  torch::Tensor want = torch::cat(xs).pow(2).mean(0);
  auto got = im["model.language_model.layers.1.mlp.down_proj.weight"];
  REQUIRE(got.size() == 128);
  for (int j = 0; j < 128; j += 17) CHECK(got[j] == Approx(want[j].item<float>()).epsilon(1e-4));
  CHECK(dynamic_cast<model::DenseLinear*>(decoder_linears(*lm.model).begin()->second.get()));  // hooks removed

  for (const char* recipe : {"q4_0", "gptq_asym_g32", "awq_g32"}) {
    INFO(recipe);
    opt.recipe = recipe;
    const std::string out = dir / (std::string("q_") + recipe);
    nlohmann::json meta = quantize_calibrated(dir / "dense", out, opt, co);
    CHECK(meta["calibration"]["segments"] == 4);
    CHECK(meta["tensors"]["model.language_model.layers.0.self_attn.q_proj.weight"]["scheme"] ==
          (std::string(recipe) == "q4_0" ? "q4_0" : "rtn4_asym_g32"));
    auto r = g4u::test::run_g4u("generate --model " + out + " --prompt hello -n 4 --json");
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("\"tokens\"") != std::string::npos);
  }
  // The checkpoints are written layer by layer from the checkpoint on disk (LayerwiseCalibration);
  // each must equal what the whole-model algorithm gives on the model loaded in memory.
  //
  // GPTQ, true-sequential: every group of every layer quantized with its Hessian collected by a
  // whole-model forward over the already quantized earlier groups and layers. o_proj of layer 0
  // must also differ from a single pass over the float layer (the order matters).
  {
    CHECK(gptq_sequential_groups().front() == std::vector<std::string>{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"});
    model::LoadedModel ref = model::load_model(dir / "dense");
    auto lin = decoder_linears(*ref.model);
    GptqOptions go;
    go.group_size = 32;
    auto gptq_of = [&](const std::vector<std::string>& names, bool write_back) {
      std::map<std::string, std::unique_ptr<HessianAccumulator>> acc;
      std::map<std::string, std::function<void(const torch::Tensor&)>> hooks;
      for (const auto& n : names) {
        if (!lin.count(n)) continue;
        acc[n] = std::make_unique<HessianAccumulator>(lin.at(n)->in_features());
        HessianAccumulator* h = acc[n].get();
        hooks[n] = [h](const torch::Tensor& x) { h->add(x); };
      }
      run_with_input_hooks(*ref.model, cs, hooks);
      std::map<std::string, torch::Tensor> out;
      for (auto& [n, h] : acc) {
        auto* dense = dynamic_cast<model::DenseLinear*>(lin.at(n).get());
        out[n] = dequantize_tensor(gptq_quantize(dense->weight, h->hessian(), go).q);
        torch::NoGradGuard ng;
        if (write_back) dense->weight.copy_(out[n]);
      }
      return out;
    };
    const std::string o0 = "model.language_model.layers.0.self_attn.o_proj.weight";
    const torch::Tensor o_one_pass = gptq_of({o0}, false).at(o0);
    std::map<std::string, torch::Tensor> want;
    for (size_t l = 0; l < ref.model->text().layers.size(); ++l)
      for (const auto& group : gptq_sequential_groups()) {
        std::vector<std::string> names;
        for (const auto& proj : group) names.push_back("model.language_model.layers." + std::to_string(l) + "." + proj + ".weight");
        for (auto& [n, w] : gptq_of(names, true)) want[n] = w;
      }
    model::LoadedModel q = load_quantized_model(dir / "q_gptq_asym_g32");
    auto qlin = decoder_linears(*q.model);
    REQUIRE(want.size() == qlin.size());
    for (const auto& [n, w] : want) {
      INFO(n);
      auto* ql = dynamic_cast<QuantLinear*>(qlin.at(n).get());
      REQUIRE(ql);
      CHECK(torch::equal(dequantize_tensor(ql->weight()), w));
    }
    CHECK_FALSE(torch::equal(want.at(o0), o_one_pass));
  }
  // AWQ: awq_apply on the whole float model, then awq_pack of each projection; the rescaled norms
  // are stored in fp32, everything else as in the source.
  {
    model::LoadedModel ref = model::load_model(dir / "dense");
    AwqOptions ao;
    ao.group_size = 32;
    awq_apply(*ref.model, cs, ao);
    model::LoadedModel q = load_quantized_model(dir / "q_awq_g32");
    auto qlin = decoder_linears(*q.model);
    for (const auto& [n, l] : decoder_linears(*ref.model)) {
      INFO(n);
      auto* ql = dynamic_cast<QuantLinear*>(qlin.at(n).get());
      REQUIRE(ql);
      CHECK(torch::equal(dequantize_tensor(ql->weight()),
                         dequantize_tensor(awq_pack(dynamic_cast<model::DenseLinear*>(l.get())->weight, 32))));
    }
    auto qp = q.model->named_parameters(true);
    auto rp = ref.model->named_parameters(true);
    CHECK(torch::equal(qp["model.language_model.layers.1.input_layernorm.weight"],
                       rp["model.language_model.layers.1.input_layernorm.weight"]));
    CHECK(torch::equal(qp["model.language_model.layers.1.pre_feedforward_layernorm.weight"],
                       rp["model.language_model.layers.1.pre_feedforward_layernorm.weight"]));
    CHECK_FALSE(torch::equal(rp["model.language_model.layers.1.input_layernorm.weight"],
                             lm.model->named_parameters(true)["model.language_model.layers.1.input_layernorm.weight"]));
    nlohmann::json meta = nlohmann::json::parse(g4u::test::read_file(dir / "q_awq_g32/quantization.json"));
    CHECK(meta["kept"]["model.language_model.layers.1.input_layernorm.weight"]["dtype"] == "F32");
    CHECK(meta["kept"]["model.language_model.norm.weight"]["dtype"] ==
          meta["kept"]["model.language_model.layers.1.post_attention_layernorm.weight"]["dtype"]);
    CHECK(meta["kept"]["model.language_model.norm.weight"]["dtype"] == "BF16");
  }
  // imatrix: the q4_0 checkpoint equals one written with collect_imatrix of the whole model.
  {
    QuantizeOptions o2;
    o2.recipe = "q4_0";
    o2.imatrix = im;
    quantize_checkpoint(dir / "dense", dir / "q4_0_whole", o2);
    CHECK(g4u::test::read_file(dir / "q4_0_whole/model.safetensors") == g4u::test::read_file(dir / "q_q4_0/model.safetensors"));
  }

  opt.recipe = "gptq_asym_g32";
  g4u::test::expect_input_error([&] { quantize_calibrated(dir / "dense", dir / "x", opt, {}); }, "needs --calib");
  opt.recipe = "rtn4_sym_g32";
  g4u::test::expect_input_error([&] { quantize_calibrated(dir / "dense", dir / "x", opt, co); }, "no importance-weighted");
}
