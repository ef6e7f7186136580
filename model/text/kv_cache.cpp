#include "model/text/kv_cache.h"

#include "base/error.h"

#include <algorithm>

namespace g4u::model {

KVCache::KVCache(const TextConfig& config, int64_t batch, torch::ScalarType dtype, int64_t rollback_margin)
    : config_(config), batch_(batch), dtype_(dtype), margin_(rollback_margin) {
  G4U_CHECK(batch > 0 && rollback_margin >= 0, "batch {} margin {}", batch, rollback_margin);
  for (LayerType t : config.layer_types) layers_.push_back(Layer{t, {}, {}, 0, 0});
  valid_ = torch::zeros({batch, 64}, torch::kBool);
  token_count_ = torch::zeros({batch}, torch::kInt64);
}

torch::Tensor KVCache::begin_step(const torch::Tensor& valid) {
  G4U_CHECK(step_len_ == 0, "begin_step called twice");
  G4U_CHECK(valid.dim() == 2 && valid.size(0) == batch_, "valid mask shape {}", valid.sizes());
  const int64_t T = valid.size(1);
  G4U_CHECK(T > 0, "empty step");
  if (valid_.device() != valid.device()) {  // the first step tells where the model runs
    valid_ = valid_.to(valid.device());
    token_count_ = token_count_.to(valid.device());
  }
  if (length_ + T > valid_.size(1)) {
    torch::Tensor grown =
        torch::zeros({batch_, std::max(2 * valid_.size(1), length_ + T)}, valid_.options());
    grown.narrow(1, 0, length_).copy_(valid_.narrow(1, 0, length_));
    valid_ = grown;
  }
  torch::Tensor v = valid.to(torch::kBool);
  valid_.narrow(1, length_, T).copy_(v);
  torch::Tensor counts = token_count_.unsqueeze(1) + v.to(torch::kInt64).cumsum(1);
  torch::Tensor positions = (counts - 1).masked_fill(v.bitwise_not(), 1);
  token_count_ = counts.select(1, T - 1).clone();
  step_len_ = T;
  return positions;
}

int64_t KVCache::first_visible_slot(LayerType t) const { return t == LayerType::kFull ? 0 : sliding_kept_begin_; }

void KVCache::reserve(Layer& l, int64_t needed_end, const torch::Tensor& like) {
  if (l.k.defined() && needed_end - l.buffer_begin <= l.capacity()) return;
  const int64_t keep = length_ - l.kept_begin;  // slots to carry over
  if (l.k.defined() && needed_end - l.kept_begin <= l.capacity()) {
    // Compact: move the kept slots to the front of the buffer.
    if (l.kept_begin != l.buffer_begin && keep > 0) {
      int64_t off = l.kept_begin - l.buffer_begin;
      l.k.narrow(2, 0, keep).copy_(l.k.narrow(2, off, keep).clone());
      l.v.narrow(2, 0, keep).copy_(l.v.narrow(2, off, keep).clone());
    }
    l.buffer_begin = l.kept_begin;
    return;
  }
  int64_t cap = std::max<int64_t>({16, 2 * l.capacity(), needed_end - l.kept_begin});
  auto sizes = like.sizes().vec();  // [B, kv, T, d]
  sizes[2] = cap;
  torch::Tensor k = torch::empty(sizes, like.options());
  torch::Tensor v = torch::empty(sizes, like.options());
  if (l.k.defined() && keep > 0) {
    int64_t off = l.kept_begin - l.buffer_begin;
    k.narrow(2, 0, keep).copy_(l.k.narrow(2, off, keep));
    v.narrow(2, 0, keep).copy_(l.v.narrow(2, off, keep));
  }
  l.k = k;
  l.v = v;
  l.buffer_begin = l.kept_begin;
}

std::pair<torch::Tensor, torch::Tensor> KVCache::update(int64_t layer, const torch::Tensor& k, const torch::Tensor& v) {
  G4U_CHECK(step_len_ > 0, "update outside a step");
  G4U_CHECK(k.size(2) == step_len_ && v.size(2) == step_len_, "K/V length {} != step {}", k.size(2), step_len_);
  Layer& l = layers_.at(layer);
  reserve(l, length_ + step_len_, k);
  int64_t off = length_ - l.buffer_begin;
  l.k.narrow(2, off, step_len_).copy_(k);
  l.v.narrow(2, off, step_len_).copy_(v);
  int64_t first = first_visible_slot(l.type);
  G4U_CHECK(first >= l.kept_begin, "slot {} already dropped (kept from {})", first, l.kept_begin);
  int64_t from = first - l.buffer_begin, n = length_ + step_len_ - first;
  return {l.k.narrow(2, from, n), l.v.narrow(2, from, n)};
}

void KVCache::end_step() {
  G4U_CHECK(step_len_ > 0, "end_step without begin_step");
  length_ += step_len_;
  step_len_ = 0;
  // HF keeps the last W-1 slots of a sliding layer; we keep `margin` more for rollback.
  sliding_kept_begin_ = std::max<int64_t>(sliding_kept_begin_, length_ - (config_.sliding_window - 1) - margin_);
  sliding_kept_begin_ = std::max<int64_t>(sliding_kept_begin_, 0);
  for (auto& l : layers_)
    if (l.type == LayerType::kSliding) l.kept_begin = std::max(l.kept_begin, sliding_kept_begin_);
}

torch::Tensor KVCache::valid_slots(int64_t from, int64_t to) const {
  G4U_CHECK(from >= 0 && to <= length_ + step_len_ && from <= to, "slots [{}, {}) of {}", from, to, length_ + step_len_);
  return valid_.narrow(1, from, to - from);
}

std::pair<torch::Tensor, torch::Tensor> KVCache::layer_kv(int64_t layer) const {
  const Layer& l = layers_.at(layer);
  G4U_CHECK(l.k.defined(), "layer {} has no cached K/V", layer);
  int64_t from = l.kept_begin - l.buffer_begin;
  return {l.k.narrow(2, from, length_ - l.kept_begin), l.v.narrow(2, from, length_ - l.kept_begin)};
}

int64_t KVCache::layer_first_slot(int64_t layer) const { return layers_.at(layer).kept_begin; }

void KVCache::crop(int64_t new_length) {
  G4U_CHECK(step_len_ == 0, "crop during a step");
  G4U_CHECK(new_length >= 0 && new_length <= length_, "crop to {} of {}", new_length, length_);
  if (new_length == length_) return;
  // After the crop the next query is slot new_length; sliding layers must still hold the window.
  int64_t needed = std::max<int64_t>(0, new_length - (config_.sliding_window - 1));
  G4U_CHECK(sliding_kept_begin_ <= needed,
            "cannot roll back to slot {}: sliding layers dropped slots before {} (rollback margin {} too small)",
            new_length, sliding_kept_begin_, margin_);
  length_ = new_length;
  valid_.narrow(1, new_length, valid_.size(1) - new_length).fill_(false);
  token_count_ = valid_.narrow(1, 0, new_length).to(torch::kInt64).sum(1);
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (const auto& l : layers_) {
    if (!l.k.defined()) continue;
    total += 2 * batch_ * l.k.size(1) * (length_ - l.kept_begin) * l.k.size(3) * l.k.element_size();
  }
  return total;
}

int64_t KVCache::allocated_bytes() const {
  int64_t total = valid_.numel();
  for (const auto& l : layers_)
    if (l.k.defined()) total += 2 * l.k.numel() * l.k.element_size();
  return total;
}

}  // namespace g4u::model
