#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::interactions {

/// The players of SPEC §4: a G×G grid of patches of an H×W image, numbered row-major. Player
/// g·G + h covers rows [⌊g·H/G⌋, ⌊(g+1)·H/G⌋) and columns [⌊h·W/G⌋, ⌊(h+1)·W/G⌋): equal patches
/// when G divides the side, otherwise patches of ⌊L/G⌋ and ⌈L/G⌉ pixels spread evenly.
class PlayerGrid {
 public:
  /// 1 <= G <= min(H, W) (resolve_config checks it), so no patch is empty.
  PlayerGrid(int64_t grid, int64_t height, int64_t width);
  /// The first pixel of band g along a side of `length` pixels: ⌊g·length/G⌋ (g in [0, G]).
  static int64_t band_start(int64_t g, int64_t grid, int64_t length) { return g * length / grid; }
  /// The band (patch row or column) of pixel r along a side of `length` pixels: the largest g with
  /// ⌊g·length/G⌋ <= r, i.e. ⌊((r + 1)·G − 1) / length⌋.
  static int64_t band_of(int64_t r, int64_t grid, int64_t length) {
    return ((r + 1) * grid - 1) / length;
  }
  int64_t grid() const { return grid_; }
  /// n_p = G².
  int64_t num_players() const { return grid_ * grid_; }
  /// The players adjacent to `i` in the grid (up to 8: sides and corners), ascending.
  const std::vector<int64_t>& neighbours(int64_t i) const { return neighbours_[i]; }
  /// The player of every pixel: [H·W] int64 on the CPU.
  const torch::Tensor& pixel_player() const { return pixel_player_; }
  /// Masked images: row r keeps the patches of the players in members[r] and replaces the others
  /// with `baseline`. x, baseline: [C, H, W] on the model's device and dtype; members: [R, n_p]
  /// bool (any device). Returns [R, C, H, W] in x's dtype and device.
  torch::Tensor compose(const torch::Tensor& x, const torch::Tensor& baseline,
                        const torch::Tensor& members) const;

 private:
  /// pixel_player_ on `device` (cached; not thread-safe, like the stage that owns the grid).
  const torch::Tensor& pixel_player_on(const torch::Device& device) const;
  int64_t grid_, height_, width_;
  std::vector<std::vector<int64_t>> neighbours_;
  torch::Tensor pixel_player_;             // [H·W] int64, host
  mutable torch::Tensor pixel_player_on_;  // its copy on the device compose() last ran on
};

/// v(S) of SPEC §4 for a block of masked images: log softmax of the model's logits at the classes
/// `classes` (row-wise targets). images: [R, C, H, W]; classes: [Q] int64 (same classes for every
/// row). Returns [R, Q] float64 on the images' device. Runs without a graph.
torch::Tensor log_probs(models::Classifier& model, const torch::Tensor& images,
                        const torch::Tensor& classes);

}  // namespace sfb::interactions
