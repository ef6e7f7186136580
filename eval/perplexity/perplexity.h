// Perplexity and KL-divergence statistics with llama.cpp's `llama-perplexity` protocol
// (quant-and-mtp.md §4.1, §4.2), computed online: each chunk's logits are reduced to five numbers
// per scored token right away, never stored.
//
// Protocol: the text is tokenized once (no BOS added), split into floor(tokens / n_ctx)
// non-overlapping chunks; each chunk is run from an empty cache with its first token replaced by
// BOS; positions first = n_ctx/2 .. n_ctx-2 predict the next token (n_ctx/2 - 1 scored tokens per
// chunk: 255 at n_ctx 512). PPL = exp(mean NLL).
//
// KL mode (a base model beside the evaluated one, same chunks): per scored token
//   KL = sum_i p_base,i (log p_base,i - log p_i) over the whole vocabulary, in double from fp32
//        logits (exact; llama.cpp's uint16 base file truncates entries below max-16, so its KL can be
//        slightly negative - ours cannot),
//   same_top = argmax(logits) == argmax(base logits),
//   dp = p(correct) - p_base(correct).
// The summary has every statistic of §4.2 with the uncertainties stated there.
#pragma once

#include "model/io/loader.h"
#include "model/model.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace g4u::quant {

// Token windows of the protocol: chunk c = tokens[c*n_ctx, (c+1)*n_ctx) with [0] set to `bos`
// (bos < 0: keep). At most max_chunks chunks (<= 0: all). InputError if n_ctx < 4 or the text has
// fewer than n_ctx tokens.
std::vector<std::vector<int64_t>> ppl_chunks(const std::vector<int64_t>& tokens, int64_t n_ctx, int64_t bos,
                                             int64_t max_chunks = 0);

class PerplexityStats {
 public:
  // logits [T, V] for one chunk of T tokens (any float dtype); base_logits undefined or [T, V].
  // Scores positions T/2 .. T-2 (each predicting the next token of `chunk`).
  void add_chunk(const torch::Tensor& logits, const std::vector<int64_t>& chunk,
                 const torch::Tensor& base_logits = torch::Tensor());

  int64_t count() const { return static_cast<int64_t>(nll_.size()); }
  bool has_base() const { return !nll_base_.empty(); }
  double ppl() const;
  // Everything of §4.2 (PPL block; with a base also the KL and token-probability blocks).
  nlohmann::json summary() const;

  const std::vector<double>& nll() const { return nll_; }
  const std::vector<double>& kl() const { return kl_; }
  const std::vector<double>& dp() const { return dp_; }

 private:
  std::vector<double> nll_, nll_base_, kl_, dp_;
  std::vector<uint8_t> same_top_;
};

// Percentile by linear interpolation at p * (n - 1) of the sorted values (p in [0, 1]).
double percentile(std::vector<double> values, double p);

// Runs `model` (and `base`, if not null) over the chunks, logits in fp32, one chunk at a time.
// `progress` (optional) gets (chunk index, running PPL).
PerplexityStats run_perplexity(model::Gemma4Model& model, model::Gemma4Model* base,
                               const std::vector<std::vector<int64_t>>& chunks,
                               const std::function<void(int64_t, double)>& progress = {});

// `g4u ppl` (and the ppl step of `g4u run`): the model over a text file, optionally quantized in
// memory first, optionally against a KL base; the model and the base are loaded with `load`.
struct PerplexityRun {
  std::string model, data;  // model source; UTF-8 text file
  int64_t ctx = 512;
  int64_t chunks = 0;       // at most this many chunks (0: all)
  std::string quant;        // RTN recipe applied to the model in memory ("" : as loaded)
  bool packed_head = true;  // quantize_in_memory's packed_head
  std::string kl_base;      // base model source ("" : no KL statistics)
};
using ModelSourceLoader = std::function<model::LoadedModel(const std::string& source)>;
// The summary (PerplexityStats::summary) plus model, quant, kl_base, data, ctx, chunks,
// text_tokens and seconds. `progress` as in run_perplexity. The KL base is loaded with `load_base`
// when given (e.g. fp32 while the model runs in bf16), else with `load`.
nlohmann::json measure_perplexity(const PerplexityRun& run, const ModelSourceLoader& load,
                                  const std::function<void(int64_t, double)>& progress = {},
                                  const ModelSourceLoader& load_base = {});

}  // namespace g4u::quant
