// Prefill + incremental decode with the KV cache; a batch of prompts is left-padded and positions
// come from the padding mask (HF semantics).
#pragma once

#include "model/model.h"
#include "model/text/sampling.h"

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace g4u::model {

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  SamplingParams sampling;
  std::vector<int64_t> stop_ids;  // default: the config's eos ids
  bool use_config_stop_ids = true;
};

struct GenerationTiming {
  double prefill_seconds = 0;  // prompt forward + first token (= time to first token)
  double decode_seconds = 0;   // all later tokens
  std::vector<double> token_seconds;  // per decode step (batch), after the first token
  int64_t prompt_tokens = 0;   // real (unpadded) prompt tokens, summed over the batch
  int64_t generated_tokens = 0;
};

struct GenerateResult {
  std::vector<std::vector<int64_t>> tokens;  // new tokens per prompt (a stop token included)
  std::vector<bool> stopped;                 // ended on a stop id (else: hit max_new_tokens)
  GenerationTiming timing;
  int64_t kv_cache_bytes = 0;
  int64_t kv_cache_allocated_bytes = 0;
};

// InputError "<where>: prompt of P tokens + N new exceeds the model's L positions" when a run would
// pass max_position_embeddings: checked before any KV cache or activation is allocated.
void check_fits_positions(const TextConfig& c, int64_t prompt_tokens, int64_t new_tokens, const std::string& where);

// InputError "<where>: a prompt of P tokens + N new (batch B) needs about ... but only ... is
// available" when the KV cache and the transients of the prefill (model/io/memory_plan.h) exceed the
// memory available now (the weights are loaded by then); `value_bytes`: bytes per value of the run
// dtype; `logit_rows`: rows of logits computed at once. Checked before any of it is allocated.
void check_fits_memory(const TextConfig& c, int64_t batch, int64_t prompt_tokens, int64_t new_tokens,
                       int64_t logit_rows, int64_t value_bytes, const std::string& where);

// Left-pads `prompts` into ids [B, T] and the validity mask [B, T].
std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id);

// What the prefill feeds the decoder: embeddings of the padded ids and the forward options.
struct PrefillInputs {
  torch::Tensor embeds;
  ForwardOptions options;
};
// Turns the padded prompt ids [B, T] into the prefill inputs (default: the token embedding and no
// options); multimodal prompts scatter soft tokens into the placeholder rows and add the vision
// blocks (model/multimodal/prompt.h).
using PrefillFn = std::function<PrefillInputs(const torch::Tensor& ids)>;

GenerateResult generate(Gemma4Model& model, const std::vector<std::vector<int64_t>>& prompts,
                        const GenerateOptions& options, const PrefillFn& prefill = {});

}  // namespace g4u::model
