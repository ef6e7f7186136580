// Multimodal prompt assembly (architecture doc §3.4, §4, §2.8): placeholder expansion, soft-token
// scatter, mm_token_type_ids and the image blocks of the bidirectional vision mask.
#pragma once

#include "model/multimodal/audio.h"
#include "model/text/decoder.h"
#include "model/multimodal/image.h"
#include "model/model.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace g4u::model {

// Token types of mm_token_type_ids.
enum MMTokenType : int64_t { kTextToken = 0, kImageToken = 1, kVideoToken = 2, kAudioToken = 3 };

struct MultimodalPrompt {
  std::vector<int64_t> input_ids;          // placeholders expanded
  std::vector<int64_t> mm_token_type_ids;  // one per input id
  std::vector<ImagePatches> images;        // in placeholder order
  std::vector<AudioFrames> audios;
};

// Soft tokens an image contributes (after any token pooling of the projector).
int64_t image_soft_tokens(const ModelConfig& c, const ImagePatches& image);

// Expands every <|image|> / <|audio|> token of `ids` (one per media item, in order) into
// BOI + N x <|image|> + EOI (likewise audio). The number of placeholders must equal the number of
// media items of that kind: InputError naming `where` otherwise.
MultimodalPrompt expand_placeholders(const std::vector<int64_t>& ids, const ModelConfig& c,
                                     std::vector<ImagePatches> images, std::vector<AudioFrames> audios,
                                     const std::string& where = "prompt");

// mm_token_type_ids of (padded) ids [B, T].
torch::Tensor mm_token_types(const torch::Tensor& ids, const SpecialTokens& t);
// Image block ids [B, T]: each maximal run of image/video tokens gets 0, 1, 2, ... per row; -1
// elsewhere (the bidirectional blocks of §2.8).
torch::Tensor vision_block_ids(const torch::Tensor& mm_types);

// Input embeddings of ids [B, T] (placeholders already expanded, possibly left-padded): the text
// embedding with placeholder rows embedded as pad, then the k-th placeholder row in (batch, seq)
// order overwritten by the k-th soft token (not scaled). `images` / `audios` hold the media of all
// rows in that order. InputError if the soft-token and placeholder counts differ.
torch::Tensor embed_multimodal(Gemma4Model& model, const torch::Tensor& ids, const std::vector<ImagePatches>& images,
                               const std::vector<AudioFrames>& audios);

// Forward options of a multimodal prefill: the vision blocks with the chosen mask semantics.
ForwardOptions multimodal_forward_options(const torch::Tensor& ids, const ModelConfig& c,
                                          VisionMask mode = VisionMask::kSlidingBlocks);

}  // namespace g4u::model
