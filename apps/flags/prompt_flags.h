// Flags that build a (multimodal) prompt, shared by generate and forward: --prompt, --image,
// --audio, --budget, --system, --thinking, --raw, --vision-mask.
#pragma once

#include "model/io/loader.h"
#include "model/multimodal/prompt.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace g4u::app {

struct PromptFlags {
  std::string prompt;
  std::vector<std::string> images, audios;
  int64_t budget = 0;  // 0: the model's default soft-token budget
  std::string system;
  bool thinking = false;
  bool raw = false;
  std::string vision_mask = "sliding";
};

void add_prompt_flags(CLI::App& sub, PromptFlags& flags, bool prompt_required);
model::VisionMask parse_vision_mask(const std::string& name);
// Renders the chat (user content: images, then audio, then the text), tokenizes, preprocesses the
// media and expands the placeholders.
model::MultimodalPrompt build_prompt(const model::LoadedModel& lm, const PromptFlags& flags);

}  // namespace g4u::app
