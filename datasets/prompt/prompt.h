// From a manifest sample to the prompt the model sees: the task's template filled in
// (TaskInfo::prompt_template) and the media placed as the reference harness does.
#pragma once

#include "datasets/manifest/manifest.h"
#include "model/text/chat.h"

#include <string>
#include <vector>

namespace g4u::datasets {

// "A. first\nB. second" (letters A, B, ... in order).
std::string format_options(const std::vector<std::string>& choices);

// The task's template with {question}, {options} and {meta:KEY} filled in, image markers still in
// place. Question-form samples only (InputError for message-form samples).
std::string render_prompt_text(const Sample& s);

enum class MediaPlacement {
  // lmms-eval's Gemma wrappers: all media before the text (images, then audio). With image markers
  // in the text, only the referenced images are sent, once each, in increasing k, and the marker
  // text is deleted; without markers every image of the line is sent.
  kBeforeText,
  // VLMEvalKit's Gemma 4 wrapper: the text is split at the markers and each marker is replaced by
  // its image (repeats allowed); unreferenced images are not sent. Without markers: as kBeforeText.
  kInterleaved,
};
MediaPlacement parse_media_placement(const std::string& name);  // before-text | interleaved

struct PromptOptions {
  MediaPlacement placement = MediaPlacement::kBeforeText;
  std::string system_prompt;  // non-empty: a system message first
  std::string spill_dir = "/tmp/g4u-inline-media";  // where inline (data:) media are written as files
};

// The conversation for model::render_chat: question-form samples become one user message
// (template text + media as placed above); message-form samples are passed through. Media items
// carry file paths (inline data are spilled to files).
std::vector<model::ChatMessage> build_chat(const Sample& s, const PromptOptions& options = {});

}  // namespace g4u::datasets
