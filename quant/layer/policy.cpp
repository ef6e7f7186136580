#include "quant/layer/policy.h"

#include "base/error.h"

#include <regex>

namespace g4u::quant {

std::vector<Recipe> all_recipes() {
  std::vector<Recipe> out;
  for (const SchemeTraits* s : all_schemes())
    out.push_back({std::string(s->name), "pure: every decoder linear " + std::string(s->name), s, false,
                   Method::kRoundToNearest, false, s->ggml.llama_ftype});
  out.push_back({"q4_k_m", "llama.cpp Q4_K_M mix: q4_k, q6_k for part of v_proj/down_proj and the embedding",
                 &find_scheme("q4_k"), true, Method::kRoundToNearest, false, /*LLAMA_FTYPE_MOSTLY_Q4_K_M*/ 15});
  for (const char* g : {"32", "64", "128"}) {
    for (bool sym : {false, true}) {
      Recipe r;
      r.name = std::string("gptq_") + (sym ? "sym" : "asym") + "_g" + g;
      r.summary = std::string("GPTQ (act-order, static groups, damp 0.01, block 128), stored as rtn4_") +
                  (sym ? "sym" : "asym") + "_g" + g + "; needs --calib";
      r.base = &find_scheme(std::string("rtn4_") + (sym ? "sym" : "asym") + "_g" + g);
      r.method = Method::kGptq;
      r.sym = sym;
      out.push_back(r);
    }
    Recipe a;
    a.name = std::string("awq_g") + g;
    a.summary = std::string("AWQ (scale search, norm folding, clip search), stored as rtn4_asym_g") + g + "; needs --calib";
    a.base = &find_scheme(std::string("rtn4_asym_g") + g);
    a.method = Method::kAwq;
    out.push_back(a);
  }
  return out;
}

Recipe find_recipe(std::string_view name) {
  std::string known;
  for (const Recipe& r : all_recipes()) {
    if (r.name == name) return r;
    known += (known.empty() ? "" : ", ") + r.name;
  }
  throw_input("unknown quantization recipe '{}' (known: {})", name, known);
}

bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

namespace {

bool fits(const SchemeTraits& s, int64_t cols) { return cols % s.cols_multiple == 0 && cols % s.group_size(cols) == 0; }

// The scheme a [rows, cols] tensor gets when `want` cannot store it.
const SchemeTraits* with_fallback(const SchemeTraits* want, int64_t cols, std::string& rule) {
  if (fits(*want, cols)) return want;
  const SchemeTraits* fb = want->fallback.empty() ? nullptr : &find_scheme(want->fallback);
  if (fb && fits(*fb, cols)) {
    rule += "; fallback " + std::string(want->name) + "->" + std::string(fb->name) + " (cols " + std::to_string(cols) + ")";
    return fb;
  }
  rule += "; kept float (cols " + std::to_string(cols) + " fits no block)";
  return nullptr;
}

}  // namespace

std::vector<TensorAssignment> plan_tensors(const std::vector<model::TensorSpec>& specs, const Recipe& recipe) {
  G4U_CHECK(recipe.base != nullptr, "recipe {} without a base scheme", recipe.name);
  static const std::regex layer_re(R"(layers\.(\d+)\.)");
  int64_t n_layers = 0, n_v = 0;
  for (const auto& s : specs) {
    std::smatch m;
    if (s.component == "text" && s.kind == model::TensorKind::kLinear && std::regex_search(s.name, m, layer_re)) {
      n_layers = std::max<int64_t>(n_layers, std::stoll(m[1]) + 1);
      if (s.name.find("self_attn.v_proj.") != std::string::npos) ++n_v;
    }
  }
  const SchemeTraits* q6 = &find_scheme("q6_k");
  std::vector<TensorAssignment> out;
  int64_t i_v = 0;
  for (const auto& s : specs) {
    TensorAssignment a{s, nullptr, "kept (not a decoder linear)"};
    const bool matrix = s.shape.size() == 2;
    if (s.component == "text" && s.kind == model::TensorKind::kLinear && matrix) {
      const SchemeTraits* want = recipe.base;
      a.rule = "decoder linear";
      if (recipe.q4_k_m) {
        std::smatch m;
        int64_t layer = std::regex_search(s.name, m, layer_re) ? std::stoll(m[1]) : 0;
        if (s.name.find("self_attn.v_proj.") != std::string::npos) {
          if (use_more_bits(i_v, n_v)) {
            want = q6;
            a.rule = "q4_k_m: attn_v use_more_bits(" + std::to_string(i_v) + ", " + std::to_string(n_v) + ")";
          }
          ++i_v;
        } else if (s.name.find("mlp.down_proj.") != std::string::npos && use_more_bits(layer, n_layers)) {
          want = q6;
          a.rule = "q4_k_m: ffn_down use_more_bits(" + std::to_string(layer) + ", " + std::to_string(n_layers) + ")";
        }
      }
      a.scheme = with_fallback(want, s.shape[1], a.rule);
    } else if (s.kind == model::TensorKind::kEmbedding && s.component == "text") {
      a.rule = "tied embedding/head kept in source dtype";
      if (recipe.q4_k_m && matrix) {
        a.rule = "q4_k_m: tied embedding/head q6_k";
        a.scheme = with_fallback(q6, s.shape[1], a.rule);
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace g4u::quant
