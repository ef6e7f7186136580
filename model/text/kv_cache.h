// KV cache for prefill + incremental decode (architecture doc §2.11).
//
// Slots are absolute sequence indices (left padding included), shared by every row of the batch.
// Full-attention layers keep every slot. Sliding layers keep the last W-1 slots after each step, as
// HF's DynamicSlidingWindowLayer does (a step's attention sees the kept slots plus the new ones; the
// mask applies the window). `rollback_margin` keeps that many extra sliding slots so a speculative
// decoding round can crop rejected tokens and still have every key the window needs.
//
// Storage grows by doubling and sliding layers compact in place, so appending one token costs O(1)
// copies amortized, not a re-concatenation of the whole cache.
#pragma once

#include "model/io/config.h"

#include <torch/torch.h>

#include <vector>

namespace g4u::model {

class KVCache {
 public:
  KVCache(const TextConfig& config, int64_t batch, torch::ScalarType dtype, int64_t rollback_margin = 0);

  int64_t batch() const { return batch_; }
  int64_t length() const { return length_; }  // slots processed so far
  torch::ScalarType dtype() const { return dtype_; }

  // Starts a step of `valid.size(1)` new slots; `valid` [B, T] bool marks real tokens (false: left
  // padding). Returns the RoPE positions [B, T] int64 of the new slots (HF: cumsum of the mask - 1,
  // padding slots get 1).
  torch::Tensor begin_step(const torch::Tensor& valid);
  // First slot a layer of type `t` attends to in the current step.
  int64_t first_visible_slot(LayerType t) const;
  // Appends this step's K/V [B, kv_heads, T, d] of layer `layer`; returns the keys and values the
  // attention uses: slots [first_visible_slot, length + T).
  std::pair<torch::Tensor, torch::Tensor> update(int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
  // Ends the step: the length advances and sliding layers drop slots outside their retention.
  void end_step();

  // Key validity [B, to - from] for slots [from, to) (covers the current step after begin_step).
  torch::Tensor valid_slots(int64_t from, int64_t to) const;

  // The K/V a layer currently holds (slots [first kept, length)); used by the MTP drafter, which
  // attends to the target's last sliding and last full layer.
  std::pair<torch::Tensor, torch::Tensor> layer_kv(int64_t layer) const;
  int64_t layer_first_slot(int64_t layer) const;

  // Drops slots >= new_length (speculative-decoding rollback). The sliding layers must still hold
  // every slot the window needs (guaranteed when the rolled-back count <= rollback_margin).
  void crop(int64_t new_length);

  // Bytes of K and V held (what HF's cache holds after the last step: sliding layers <= W-1+margin
  // slots, full layers every slot).
  int64_t bytes() const;
  // Bytes allocated (capacity, including growth headroom).
  int64_t allocated_bytes() const;

 private:
  struct Layer {
    LayerType type;
    torch::Tensor k, v;    // [B, kv, capacity, d]
    int64_t buffer_begin = 0;  // absolute slot of buffer index 0
    int64_t kept_begin = 0;    // first absolute slot still held
    int64_t capacity() const { return k.defined() ? k.size(2) : 0; }
  };
  void reserve(Layer& l, int64_t needed_end, const torch::Tensor& like);

  TextConfig config_;
  int64_t batch_;
  torch::ScalarType dtype_;
  int64_t margin_;
  int64_t length_ = 0;
  int64_t step_len_ = 0;        // slots of the step in progress (0 when none)
  std::vector<Layer> layers_;
  torch::Tensor valid_;         // [B, capacity] bool
  torch::Tensor token_count_;   // [B] int64: real tokens seen per row (for positions)
  int64_t sliding_kept_begin_ = 0;
};

}  // namespace g4u::model
