#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// A small built-in bitmap font for the labels of the montage PNG (there is no font library in the
// build): one 5×9 glyph per printable ASCII character (32–126), 7 rows above the baseline and 2
// for descenders, drawn at an integer scale.
namespace sfb::attribution::detail {

constexpr int64_t kGlyphWidth = 5;   ///< font pixels
constexpr int64_t kGlyphHeight = 9;  ///< font pixels, descenders included
constexpr int64_t kAdvance = 6;      ///< font pixels from one character to the next

/// The rows of the glyph of `c`, top first; bit 4 of a row is its leftmost pixel. Characters
/// outside 32–126 get the glyph of '?'.
const std::array<uint8_t, kGlyphHeight>& glyph(char c);

/// `text` as the font can draw it: printable ASCII kept, every other UTF-8 character (and every
/// control character) replaced by one '?'.
std::string font_text(const std::string& text);

/// Width in pixels of `chars` characters at `scale`: (6·chars − 1)·scale (no space after the
/// last), 0 for none.
int64_t text_width(std::size_t chars, int64_t scale);

/// `text` (font text) when it has at most `max_chars` characters, else its first max_chars − 2
/// and "..".
std::string fit_text(const std::string& text, std::size_t max_chars);

/// Draws `text` (font text) into `rgb`, a width×height 8-bit RGB image (row-major, 3 bytes per
/// pixel), its top-left corner at (x, y): each set font pixel becomes a scale×scale square of
/// `colour`; unset pixels are left as they are, pixels outside the image are clipped.
void draw_text(std::vector<uint8_t>& rgb, int64_t width, int64_t height, int64_t x, int64_t y,
               const std::string& text, int64_t scale, const std::array<uint8_t, 3>& colour);

}  // namespace sfb::attribution::detail
