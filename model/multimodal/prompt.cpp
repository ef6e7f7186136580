#include "model/multimodal/prompt.h"

#include "base/error.h"

namespace g4u::model {

int64_t image_soft_tokens(const ModelConfig& c, const ImagePatches& image) {
  G4U_CHECK(c.vision, "no vision config");
  return pooled_token_count(image.grid_h, image.grid_w, c.vision->token_pooling);
}

MultimodalPrompt expand_placeholders(const std::vector<int64_t>& ids, const ModelConfig& c,
                                     std::vector<ImagePatches> images, std::vector<AudioFrames> audios,
                                     const std::string& where) {
  const SpecialTokens& t = c.tokens;
  int64_t n_img = 0, n_aud = 0;
  for (int64_t id : ids) {
    n_img += id == t.image;
    n_aud += id == t.audio;
  }
  if (n_img != static_cast<int64_t>(images.size()))
    throw_input("{}: {} image placeholder(s) but {} image(s) given", where, n_img, images.size());
  if (n_aud != static_cast<int64_t>(audios.size()))
    throw_input("{}: {} audio placeholder(s) but {} audio clip(s) given", where, n_aud, audios.size());
  if (n_img && !c.vision) throw_input("{}: the model has no vision config", where);
  if (n_aud && !c.audio) throw_input("{}: the model has no audio config", where);
  MultimodalPrompt p;
  size_t next_img = 0, next_aud = 0;
  auto emit = [&](int64_t id, int64_t type) {
    p.input_ids.push_back(id);
    p.mm_token_type_ids.push_back(type);
  };
  for (int64_t id : ids) {
    if (id == t.image) {
      int64_t n = image_soft_tokens(c, images[next_img++]);
      emit(t.boi, kTextToken);
      for (int64_t i = 0; i < n; ++i) emit(t.image, kImageToken);
      emit(t.eoi, kTextToken);
    } else if (id == t.audio) {
      const AudioFrames& a = audios[next_aud++];
      if (a.num_frames() > c.audio->max_frames)
        throw_input("{}: audio clip {} has {} frames, more than the model's {} ({} s)", where, next_aud,
                    a.num_frames(), c.audio->max_frames,
                    static_cast<double>(c.audio->max_frames * c.audio->audio_embed_dim) / c.audio->sample_rate);
      emit(t.boa, kTextToken);
      for (int64_t i = 0; i < a.num_frames(); ++i) emit(t.audio, kAudioToken);
      emit(t.eoa, kTextToken);
    } else {
      emit(id, id == t.video ? kVideoToken : kTextToken);
    }
  }
  p.images = std::move(images);
  p.audios = std::move(audios);
  return p;
}

torch::Tensor mm_token_types(const torch::Tensor& ids, const SpecialTokens& t) {
  torch::Tensor types = torch::zeros_like(ids);
  types.masked_fill_(ids == t.image, kImageToken);
  types.masked_fill_(ids == t.video, kVideoToken);
  types.masked_fill_(ids == t.audio, kAudioToken);
  return types;
}

torch::Tensor vision_block_ids(const torch::Tensor& mm_types) {
  torch::Tensor is_vis = (mm_types == kImageToken).logical_or(mm_types == kVideoToken);
  // A block starts where a vision token follows a non-vision one.
  torch::Tensor prev = torch::cat({torch::zeros({is_vis.size(0), 1}, torch::kBool), is_vis.narrow(1, 0, is_vis.size(1) - 1)}, 1);
  torch::Tensor starts = is_vis.logical_and(prev.logical_not()).to(torch::kInt64);
  torch::Tensor group = starts.cumsum(1) - 1;
  return group.masked_fill(is_vis.logical_not(), -1);
}

torch::Tensor embed_multimodal(Gemma4Model& model, const torch::Tensor& ids, const std::vector<ImagePatches>& images,
                               const std::vector<AudioFrames>& audios) {
  const ModelConfig& c = model.config();
  const SpecialTokens& t = c.tokens;
  torch::Tensor is_img = ids == t.image, is_aud = ids == t.audio;
  torch::Tensor placeholders = is_img.logical_or(is_aud).logical_or(ids == t.video);
  torch::Tensor embeds = model.text().embed(ids.masked_fill(placeholders, c.text.pad_token_id));
  auto scatter = [&](const torch::Tensor& mask, const torch::Tensor& soft, const char* kind) {
    int64_t rows = mask.sum().item<int64_t>();
    if (rows != soft.size(0))
      throw_input("prompt: {} {} placeholder rows but {} {} soft tokens", rows, kind, soft.size(0), kind);
    if (rows == 0) return;
    embeds.masked_scatter_(mask.unsqueeze(-1).to(embeds.device()), soft.to(embeds.device(), embeds.scalar_type()));
  };
  if (!images.empty()) {
    std::vector<torch::Tensor> soft;
    for (const auto& im : images) {
      torch::Tensor all = model.embed_image_patches(im.pixels.unsqueeze(0), im.positions.unsqueeze(0))[0];
      torch::Tensor valid = all.narrow(0, 0, im.num_soft_tokens);  // padding rows come last
      soft.push_back(pool_tokens(valid, im.grid_h, im.grid_w, c.vision->token_pooling));
    }
    scatter(is_img, torch::cat(soft, 0), "image");
  } else {
    scatter(is_img, torch::zeros({0, c.text.hidden_size}), "image");
  }
  std::vector<torch::Tensor> soft_audio;
  for (const auto& a : audios) soft_audio.push_back(model.embed_audio_frames(a.frames));
  scatter(is_aud, soft_audio.empty() ? torch::zeros({0, c.text.hidden_size}) : torch::cat(soft_audio, 0), "audio");
  return embeds;
}

ForwardOptions multimodal_forward_options(const torch::Tensor& ids, const ModelConfig& c, VisionMask mode) {
  ForwardOptions o;
  if (!c.text.bidirectional_vision || mode == VisionMask::kNone) return o;
  torch::Tensor blocks = vision_block_ids(mm_token_types(ids, c.tokens));
  if ((blocks >= 0).any().item<bool>()) o.blocks = BlockMask{blocks, mode};
  return o;
}

}  // namespace g4u::model
