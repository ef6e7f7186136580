#include "apps/flags/prompt_flags.h"

#include "model/text/chat.h"
#include "base/error.h"

namespace g4u::app {

void add_prompt_flags(CLI::App& sub, PromptFlags& f, bool prompt_required) {
  auto* p = sub.add_option("--prompt", f.prompt, "User message (raw text with --raw)");
  if (prompt_required) p->required();
  sub.add_option("--image", f.images, "Image file (PNG/JPEG/BMP/GIF); repeatable");
  sub.add_option("--audio", f.audios, "Audio file (WAV/FLAC/OGG); repeatable");
  sub.add_option("--budget", f.budget, "Soft-token budget per image (70/140/280/560/1120 for the 12B; 0: model default)")
      ->capture_default_str();
  sub.add_option("--system", f.system, "System message");
  sub.add_flag("--thinking", f.thinking, "Enable the thinking channel in the chat format");
  sub.add_flag("--raw", f.raw, "Feed the prompt as is after <bos> (media placeholders must be written in it)");
  sub.add_option("--vision-mask", f.vision_mask,
                 "Image-token attention during prefill: sliding (bidirectional per image in sliding layers, "
                 "window kept; HF's corrected semantics), all-layers (older HF: both layer types, window "
                 "bypassed), causal")
      ->capture_default_str();
}

model::VisionMask parse_vision_mask(const std::string& name) {
  if (name == "sliding") return model::VisionMask::kSlidingBlocks;
  if (name == "all-layers") return model::VisionMask::kAllLayersNoWindow;
  if (name == "causal") return model::VisionMask::kNone;
  throw_input("--vision-mask {}: expected sliding, all-layers or causal", name);
}

model::MultimodalPrompt build_prompt(const model::LoadedModel& lm, const PromptFlags& f) {
  const model::ModelConfig& c = lm.model->config();
  std::vector<model::ImagePatches> images;
  std::vector<model::AudioFrames> audios;
  if (!f.images.empty() && !c.vision) throw_input("--image: model {} has no vision input", lm.source);
  if (!f.audios.empty() && !c.audio) throw_input("--audio: model {} has no audio input", lm.source);
  if (f.budget < 0) throw_input("--budget {}: must be positive", f.budget);
  for (const auto& path : f.images) images.push_back(model::preprocess_image_file(path, model::image_options(*c.vision, f.budget)));
  for (const auto& path : f.audios) audios.push_back(model::preprocess_audio_file(path, model::audio_options(*c.audio)));
  std::string text;
  if (f.raw) {
    text = "<bos>" + f.prompt;
  } else {
    std::vector<model::ChatMessage> msgs;
    if (!f.system.empty()) msgs.push_back(model::ChatMessage::plain("system", f.system));
    model::ChatMessage user;
    user.role = "user";
    for (const auto& p : f.images) user.content.push_back(model::ChatItem::image(p));
    for (const auto& p : f.audios) user.content.push_back(model::ChatItem::audio(p));
    user.content.push_back(model::ChatItem::text_item(f.prompt));
    msgs.push_back(user);
    model::ChatOptions co;
    co.enable_thinking = f.thinking;
    text = model::render_chat(msgs, co);
  }
  return model::expand_placeholders(lm.tokenizer->encode(text), c, std::move(images), std::move(audios), "--prompt");
}

}  // namespace g4u::app
