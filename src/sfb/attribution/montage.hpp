#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sfb::attribution {

/// Layout and normalization of write_montage().
struct MontageOptions {
  /// Smallest cell side in pixels: each image is upscaled by the integer factor
  /// s = max(1, ceil(min_cell / max(H, W))) with nearest neighbour (32×32 → 96×96 by default).
  int64_t min_cell = 96;
  /// White pixels between neighbouring cells (none around the border). ≥ 0.
  int64_t gap = 2;
  /// Each heat map is |a| / (this quantile of |a| over its cell), clipped to 1. In (0, 1].
  double clip_quantile = 0.99;
};

/// The "heat" colour map of the montage: t in [0, 1] (clamped; NaN → 0) →
/// 8-bit RGB (round(255·clamp(3t)), round(255·clamp(3t − 1)), round(255·clamp(3t − 2))), a
/// black → red → yellow → white ramp: heat_colour(0) = black, heat_colour(1) = white.
std::array<uint8_t, 3> heat_colour(double t);

/// Writes an 8-bit RGB PNG (no alpha) montage to `path`: one row per image; the first column is the
/// image itself (grey replicated to RGB), then one heat-map column per method. Every cell is
/// upscaled by the integer factor s of MontageOptions::min_cell with nearest neighbour to
/// s·W × s·H pixels; columns, and rows, are separated by MontageOptions::gap white pixels.
/// Labels are drawn in black on white with a built-in 5×9 bitmap font (printable ASCII; any other
/// character as '?') at the integer scale f = clamp(floor(s·W / 112), 1, 4), a text line being
/// 10f pixels: a header band of (3 + 10n)·f pixels at the top holds each column's name ("image",
/// then `names`) centred over its column, on n = 2 lines when some name is wider than its cell
/// (broken after a '-', '_', ' ' or '/', the rest shortened with ".."), else n = 1; above each
/// row's cells a band of 13f pixels holds its row label, left-aligned and shortened with ".."
/// to the montage's width. With C = 1 + M columns and K rows the PNG is
/// C·s·W + (C − 1)·gap wide and (3 + 10n)·f + K·(13f + s·H) + (K − 1)·gap high; without images
/// (montage_png) C = M. A heat cell shows t = min(1, |a| / q) through heat_colour(), where q is the
/// clip_quantile quantile of |a| over that cell's map (linear interpolation, as torch.quantile; the
/// cell's maximum when that quantile is 0); an all-zero map is drawn at t = 0. The PNG's tEXt
/// chunks also say what is shown: "Software" = "sfbench", "sfbench:columns" = "image," then `names`
/// joined by ",", "sfbench:rows" = `row_labels` joined by
/// "; ", "sfbench:layout", "sfbench:normalization", "sfbench:colormap" (formulas in words) and
/// "sfbench:scales" (each cell's q: a row's columns joined by ",", rows by "; ").
/// images: [K, C, H, W] float in [0, 1] (C = 1 or 3, any floating dtype and device; values outside
/// [0, 1] are clamped). maps: one [K, H, W] channel-reduced attribution per method (any dtype and
/// device); names: one column name per map; row_labels: K strings
/// (e.g. "index 17, label 3, pred 3").
/// The PNG is written to an exclusive temporary file (NewFile: "<path>.<tag>.partial") and renamed
/// into place, so a failed write leaves neither file. Throws ConfigError on bad shapes, counts or
/// options, IoError naming `path` when the file cannot be written. Not collective: call it on one
/// rank.
void write_montage(const std::string& path, const torch::Tensor& images,
                   const std::vector<torch::Tensor>& maps, const std::vector<std::string>& names,
                   const std::vector<std::string>& row_labels, const MontageOptions& o = {});

/// The montage of write_montage() as PNG bytes in memory (the same picture, labels included), for
/// embedding (e.g. `sfbench report`). `images` may be an undefined tensor: then there is no image
/// column and the columns are the methods only (K, H, W taken from the maps). Throws ConfigError
/// on bad shapes, counts or options, IoError when libpng fails. Not collective.
std::vector<uint8_t> montage_png(const torch::Tensor& images,
                                 const std::vector<torch::Tensor>& maps,
                                 const std::vector<std::string>& names,
                                 const std::vector<std::string>& row_labels,
                                 const MontageOptions& o = {});

/// True when `file` is a PNG with sfbench's tEXt chunks ("sfbench:..." keys): a montage of
/// write_montage(), which a run may replace. Not collective.
bool is_sfbench_montage(const std::filesystem::path& file);

}  // namespace sfb::attribution
