#include "interactions/players.hpp"

#include <torch/torch.h>

#include "core/device.hpp"
#include "core/error.hpp"

namespace sfb::interactions {

PlayerGrid::PlayerGrid(int64_t grid, int64_t height, int64_t width)
    : grid_(grid), height_(height), width_(width) {
  SFB_ASSERT(grid >= 1 && grid <= height && grid <= width, "the grid must fit the image");
  pixel_player_ = torch::empty({height * width}, torch::kInt64);
  auto* p = pixel_player_.data_ptr<int64_t>();
  for (int64_t r = 0; r < height; ++r) {
    const int64_t g = band_of(r, grid, height);
    for (int64_t c = 0; c < width; ++c) p[r * width + c] = g * grid + band_of(c, grid, width);
  }
  neighbours_.resize(static_cast<size_t>(grid * grid));
  for (int64_t g = 0; g < grid; ++g) {
    for (int64_t h = 0; h < grid; ++h) {
      for (int64_t dg = -1; dg <= 1; ++dg) {
        for (int64_t dh = -1; dh <= 1; ++dh) {
          const int64_t a = g + dg, b = h + dh;
          if ((dg == 0 && dh == 0) || a < 0 || b < 0 || a >= grid || b >= grid) continue;
          neighbours_[static_cast<size_t>(g * grid + h)].push_back(a * grid + b);
        }
      }
    }
  }
}

const torch::Tensor& PlayerGrid::pixel_player_on(const torch::Device& device) const {
  // Copied once per device, not once per block of masked images.
  if (!pixel_player_on_.defined() || pixel_player_on_.device() != device) {
    pixel_player_on_ = to_device(pixel_player_, device);
  }
  return pixel_player_on_;
}

torch::Tensor PlayerGrid::compose(const torch::Tensor& x, const torch::Tensor& baseline,
                                  const torch::Tensor& members) const {
  SFB_ASSERT(members.dim() == 2 && members.size(1) == num_players(), "members must be [R, n_p]");
  const torch::Tensor keep = to_device(members, x.device())
                                 .index_select(1, pixel_player_on(x.device()))
                                 .view({members.size(0), 1, height_, width_})
                                 .to(x.scalar_type());
  // baseline + keep·(x − baseline): x where kept, the baseline elsewhere.
  return baseline.unsqueeze(0) + keep * (x - baseline).unsqueeze(0);
}

torch::Tensor log_probs(models::Classifier& model, const torch::Tensor& images,
                        const torch::Tensor& classes) {
  torch::NoGradGuard no_grad;
  const torch::Tensor lp = torch::log_softmax(model.forward(images).to(torch::kFloat64), 1);
  return lp.index_select(1, to_device(classes, lp.device()));
}

}  // namespace sfb::interactions
