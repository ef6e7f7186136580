#include "quant/algorithms/calibration.h"

#include "base/error.h"
#include "base/json_util.h"
#include "quant/io/checkpoint.h"

namespace g4u::quant {

nlohmann::json CalibrationSet::describe() const {
  return {{"file", source},
          {"segments", segments.size()},
          {"seq_len", seq_len},
          {"tokens", static_cast<int64_t>(segments.size()) * seq_len},
          {"selection", "first non-overlapping windows, BOS first"}};
}

CalibrationSet make_calibration_set(const std::string& text_file, const model::Tokenizer& tok, int64_t bos,
                                    int64_t segments, int64_t seq_len) {
  if (segments < 1) throw_input("--calib-segments {}: must be >= 1", segments);
  if (seq_len < 2) throw_input("--calib-len {}: must be >= 2", seq_len);
  const std::vector<int64_t> toks = tok.encode(read_text_file(text_file));
  const int64_t avail = static_cast<int64_t>(toks.size()) / seq_len;
  if (avail == 0) throw_input("{}: {} tokens, fewer than one calibration segment of {}", text_file, toks.size(), seq_len);
  CalibrationSet c;
  c.source = text_file;
  c.seq_len = seq_len;
  for (int64_t s = 0; s < std::min(avail, segments); ++s) {
    std::vector<int64_t> seg(toks.begin() + s * seq_len, toks.begin() + (s + 1) * seq_len);
    if (bos >= 0) seg[0] = bos;
    c.segments.push_back(std::move(seg));
  }
  return c;
}

void run_with_input_hooks(model::Gemma4Model& m, const CalibrationSet& calib,
                          const std::map<std::string, std::function<void(const torch::Tensor&)>>& hooks) {
  torch::NoGradGuard ng;
  auto linears = decoder_linears(m);
  std::map<std::string, std::shared_ptr<model::Linear>> originals;
  struct Restore {
    model::Gemma4Model& m;
    std::map<std::string, std::shared_ptr<model::Linear>>& originals;
    ~Restore() {
      for (auto& [n, l] : originals) replace_linear(m, n, l);
    }
  } restore{m, originals};
  for (const auto& [name, fn] : hooks) {
    auto it = linears.find(name);
    G4U_CHECK(it != linears.end(), "no decoder projection {}", name);
    originals[name] = it->second;
    replace_linear(m, name, std::make_shared<CaptureLinear>(it->second, fn));
  }
  for (const auto& seg : calib.segments) {
    torch::Tensor ids = torch::tensor(seg).view({1, -1});
    m.text().forward(m.text().embed(ids), torch::ones({1, ids.size(1)}, torch::kBool), nullptr);
  }
}

void SquaredMeanAccumulator::add(const torch::Tensor& x) {
  torch::Tensor xf = x.reshape({-1, x.size(-1)}).to(torch::kFloat64);
  sum_ += xf.pow(2).sum(0);
  count_ += xf.size(0);
}

std::vector<float> SquaredMeanAccumulator::mean() const {
  torch::Tensor v = (sum_ / static_cast<double>(std::max<int64_t>(1, count_))).to(torch::kFloat32).contiguous();
  return std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
}

std::map<std::string, std::vector<float>> collect_imatrix(model::Gemma4Model& m, const CalibrationSet& calib) {
  std::map<std::string, SquaredMeanAccumulator> acc;
  std::map<std::string, std::function<void(const torch::Tensor&)>> hooks;
  for (const auto& [name, lin] : decoder_linears(m)) {
    SquaredMeanAccumulator* a = &acc.emplace(name, SquaredMeanAccumulator(lin->in_features())).first->second;
    hooks[name] = [a](const torch::Tensor& x) { a->add(x); };
  }
  run_with_input_hooks(m, calib, hooks);
  std::map<std::string, std::vector<float>> out;
  for (auto& [name, a] : acc) out[name] = a.mean();
  return out;
}

}  // namespace g4u::quant
