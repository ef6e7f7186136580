// The drafter interface of speculative decoding (quant-and-mtp.md §7) and the registry of drafter
// kinds: the Gemma 4 assistant (model/mtp/assistant.h), DeepSeek-V3-style MTP modules and Medusa heads
// (model/mtp/mtp_heads.h). Every drafter drafts for the same verification loop (model/mtp/speculative.h)
// and trains with the same distillation function (model/mtp/drafter_train.h).
//
// Conventions shared by all drafters (batch 1 at inference, slot == position):
//  * A round starts with `x` = tokens[p], the newest token, emitted by the target but not yet
//    processed by it; the target's KV cache holds slots [0, p) and `hidden` row p - 1 is the
//    target's post-final-norm hidden state that produced x.
//  * The drafter proposes d_1..d_k for slots p+1..p+k. At temperature 0 each d_i is the argmax of
//    the drafter's (suppressed) logits; otherwise d_i is drawn from q_i, the drafter's distribution
//    processed like the target's (suppression, temperature, top-k, top-p) — drawing from the q that
//    the acceptance rule uses is what makes speculative sampling exact.
#pragma once

#include "model/io/config.h"
#include "model/text/kv_cache.h"
#include "model/model.h"
#include "model/text/sampling.h"
#include "model/io/tensor_specs.h"
#include "base/registry.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace g4u::model {

// What the target exposes to a drafter at the start of a round.
struct TargetState {
  Gemma4Model* target = nullptr;
  const KVCache* cache = nullptr;             // batch 1; slots [0, position)
  const std::vector<int64_t>* tokens = nullptr;  // slots [0, position]; tokens->back() is x
  torch::Tensor hidden;                       // [position, H] post-final-norm hidden per processed slot
  int64_t position = 0;                       // p
};

struct DraftRequest {
  int64_t k = 1;                                  // tokens wanted (>= 1)
  const std::vector<int64_t>* stop_ids = nullptr;  // drafting ends after a stop id
  Sampler* sampler = nullptr;                     // greedy: argmax; else draws from q
};

struct Draft {
  std::vector<int64_t> tokens;          // <= k proposed tokens
  std::vector<std::vector<float>> q;    // per token the distribution it was drawn from (empty if greedy)
};

// Target outputs over a batch of whole sequences, as a trainer computes them once per batch:
// ids/valid [B, T] (right padding), hidden [B, T, H] post-norm, and a cache holding every slot of
// every layer (built with rollback_margin >= T so sliding layers dropped nothing).
struct TargetPass {
  Gemma4Model* target = nullptr;
  torch::Tensor ids, valid, hidden;
  const KVCache* cache = nullptr;
};

// A projection a quantizer may swap for a packed one: `*member` is registered in `parent` as `child`;
// `name` is its weight's checkpoint name.
struct LinearSlot {
  std::string name;
  torch::nn::Module* parent = nullptr;
  std::string child;
  std::shared_ptr<Linear>* member = nullptr;
};

class Drafter {
 public:
  virtual ~Drafter() = default;

  virtual std::string kind() const = 0;  // "gemma4-assistant", "mtp", "medusa"
  // Starts a new sequence (drops any state of the previous one).
  virtual void reset() {}
  virtual Draft draft(const TargetState& state, const DraftRequest& request) = 0;
  // Most tokens one round can draft (Medusa: its number of heads).
  virtual int64_t max_draft() const { return std::numeric_limits<int64_t>::max(); }

  // Teacher-forced training forward: for j < steps, logits [B, T, V] whose row (b, i) is the j-th
  // draft (j = 0 first) of a round anchored at slot i — i.e. the drafter's prediction of slot
  // i + j + 1 given tokens up to slot i + j (fed from `ids`, not from the drafter's own argmax)
  // and the target state before slot i. Rows with i = 0 or i + j >= length are garbage the caller
  // masks out. Differentiable in the drafter's parameters only.
  virtual std::vector<torch::Tensor> unrolled_logits(const TargetPass& pass, int64_t steps) = 0;
  // Before training from scratch: drafter-specific initialisation from the target (Medusa copies
  // the target's head and zeroes the residual blocks). Default: nothing.
  virtual void init_for_training(Gemma4Model& /*target*/) {}

  // The drafter's own parameters (not the target's shared embedding/head).
  virtual torch::nn::Module& module() = 0;
  const torch::nn::Module& module() const { return const_cast<Drafter*>(this)->module(); }
  int64_t parameter_count() const;  // elements of module()'s parameters
  virtual std::vector<TensorSpec> tensor_specs() const = 0;
  // The projections that may be quantized (assistant: attention q/o and MLP of every layer; its
  // pre/post projections and tied head stay dense). Default: none.
  virtual std::vector<LinearSlot> linear_slots() { return {}; }
  virtual nlohmann::json config_json() const = 0;  // the config.json of a checkpoint
  virtual std::string name() const = 0;            // preset name or directory
};

// ---- registry ----------------------------------------------------------------------------------

struct DrafterLoadOptions {
  torch::ScalarType dtype = torch::kFloat32;
  uint64_t seed = 0;  // random weights of a preset
};

// One record per drafter kind (the Gemma 4 assistant, MTP modules, Medusa heads); adding a kind is
// adding one record in drafter.cpp. Presets are found by name across the kinds, checkpoints by
// their config.json model_type.
struct DrafterKind {
  std::string name;        // Drafter::kind(): "gemma4-assistant", "mtp", "medusa"
  std::string model_type;  // config.json "model_type" of its checkpoints
  std::function<std::vector<std::string>()> presets;
  // A preset's config.json and tensor list; nullopt when `preset` is not one of this kind.
  std::function<std::optional<std::pair<nlohmann::json, std::vector<TensorSpec>>>(const std::string& preset)> preset;
  // The drafter of a preset (uninitialised weights), nullptr when `preset` is not one of this kind;
  // `where` names it in messages.
  std::function<std::shared_ptr<Drafter>(const std::string& preset, Gemma4Model& target, const std::string& where)>
      from_preset;
  // The drafter a checkpoint's config.json describes (weights not loaded yet); `file` names it.
  std::function<std::shared_ptr<Drafter>(const nlohmann::json& config, const std::string& file, Gemma4Model& target)>
      from_config;
};
const Registry<DrafterKind>& drafter_kinds();

// Every drafter preset: the assistant presets plus the MTP and Medusa presets.
std::vector<std::string> drafter_preset_names();
bool is_drafter_preset(const std::string& name);
// Tensor list of a preset (nullopt if `name` is not a preset).
std::optional<std::vector<TensorSpec>> drafter_preset_specs(const std::string& name);
// A drafter for `target` from a preset (random weights from the seed) or a checkpoint directory
// (config.json decides the kind: gemma4_unified_assistant, g4u_mtp or g4u_medusa). InputError for
// an unknown name, a checkpoint with missing/extra/misshapen tensors, or a drafter that does not
// fit the target (hidden size, vocabulary, K/V geometry), naming the mismatch.
std::shared_ptr<Drafter> load_drafter(const std::string& preset_or_dir, Gemma4Model& target,
                                      const DrafterLoadOptions& options = {});

// Writes config.json + model.safetensors (weights in `dtype`).
void save_drafter(const Drafter& drafter, const std::string& dir, torch::ScalarType dtype);
// `g4u init` for a drafter preset: random weights (same as load_drafter(preset, seed)).
int64_t write_random_drafter_checkpoint(const std::string& preset, const std::string& dir, uint64_t seed,
                                        torch::ScalarType dtype = torch::kBFloat16);

// Shared helper of the drafters: picks a token from one row of logits [V] (fp32 contiguous),
// argmax when greedy else a draw from the processed distribution, which is appended to `q`.
int64_t choose_draft_token(const torch::Tensor& logits, Sampler& sampler, std::vector<std::vector<float>>& q);

}  // namespace g4u::model
