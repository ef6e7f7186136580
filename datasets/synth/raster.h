// A tiny RGB raster for the synthetic image suites: filled shapes with integer geometry (so the
// pixels are the same on every platform), a 5x7 bitmap font for digits and capital letters, and
// PNG encoding through stb_image_write (deterministic zlib stream).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace g4u::datasets {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background);
  int width() const { return w_; }
  int height() const { return h_; }
  Rgb at(int x, int y) const;
  void set(int x, int y, Rgb c);  // ignores pixels outside the canvas

  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1) x [y0, y1)
  void fill_circle(int cx, int cy, int r, Rgb c);         // pixels with (dx^2 + dy^2) <= r^2
  // Triangle with apex up, inside the box [x0, x0 + size) x [y0, y0 + size).
  void fill_triangle(int x0, int y0, int size, Rgb c);
  // Diamond (|dx| + |dy| <= r) centred at (cx, cy).
  void fill_diamond(int cx, int cy, int r, Rgb c);
  // Text in the 5x7 font: each glyph cell is 6*scale wide (one column of spacing), 7*scale high.
  // Characters without a glyph are an error (G4U_CHECK): only the suites call this.
  void draw_text(int x, int y, std::string_view text, int scale, Rgb c);
  static int text_width(std::string_view text, int scale);  // without the trailing spacing

  // PNG bytes (8-bit RGB, stb_image_write).
  std::string encode_png() const;
  const std::vector<uint8_t>& pixels() const { return px_; }

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

// The 7 rows of a 5x7 glyph (bit 4 = leftmost column), or nullptr when `c` has none.
// Glyphs: 0-9, A-Z, space.
const uint8_t* glyph_5x7(char c);

}  // namespace g4u::datasets
