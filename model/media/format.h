// Media formats by their magic numbers.
#pragma once

#include <string>
#include <string_view>

namespace g4u::media {

// File extension (without dot) for media bytes: png, jpg, gif, bmp, webp, wav, flac, ogg, mp3;
// "" when unknown.
std::string sniff_extension(std::string_view bytes);

}  // namespace g4u::media
