// MMMU-style image markers "<image k>" (k >= 1) inside question and option text: the marker refers
// to the k-th entry of the line's `images`.
#pragma once

#include <string_view>
#include <vector>

namespace g4u::datasets {

struct ImageMarker {
  size_t pos = 0;  // byte offset of '<'
  size_t len = 0;  // bytes of the whole marker
  int index = 0;   // k (1-based)
};

inline std::vector<ImageMarker> find_image_markers(std::string_view text) {
  std::vector<ImageMarker> out;
  constexpr std::string_view kOpen = "<image ";
  size_t p = 0;
  while ((p = text.find(kOpen, p)) != std::string_view::npos) {
    size_t q = p + kOpen.size();
    long k = 0;
    size_t digits = 0;
    while (q < text.size() && text[q] >= '0' && text[q] <= '9' && digits < 6) {
      k = k * 10 + (text[q] - '0');
      ++q;
      ++digits;
    }
    if (digits > 0 && q < text.size() && text[q] == '>' && k >= 1) {
      out.push_back({p, q + 1 - p, static_cast<int>(k)});
      p = q + 1;
    } else {
      p += 1;
    }
  }
  return out;
}

}  // namespace g4u::datasets
