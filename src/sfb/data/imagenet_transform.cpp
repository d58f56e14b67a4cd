#include "data/imagenet_transform.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace sfb::data {
namespace F = torch::nn::functional;

EvalGeometry eval_geometry(const ImageSize& size, const EvalTransform& t) {
  if (size.height <= 0 || size.width <= 0) {
    throw DataError("image of size " + std::to_string(size.height) + "x" +
                    std::to_string(size.width) + " cannot be transformed");
  }
  EvalGeometry g;
  const bool width_short = size.width <= size.height;
  const int64_t shorter = width_short ? size.width : size.height;
  const int64_t longer = width_short ? size.height : size.width;
  // Python: int(size * long / short), a float division truncated toward zero.
  const auto new_long = static_cast<int64_t>(
      static_cast<double>(t.resize) * static_cast<double>(longer) / static_cast<double>(shorter));
  g.resized_width = width_short ? t.resize : new_long;
  g.resized_height = width_short ? new_long : t.resize;
  if (g.resized_height < t.crop || g.resized_width < t.crop) {
    throw DataError("image of size " + std::to_string(size.height) + "x" +
                    std::to_string(size.width) + " resizes to " + std::to_string(g.resized_height) +
                    "x" + std::to_string(g.resized_width) + ", smaller than the " +
                    std::to_string(t.crop) + " crop");
  }
  // Python's round() rounds halves to even; std::nearbyint does too in the default rounding mode.
  g.top =
      static_cast<int64_t>(std::nearbyint(static_cast<double>(g.resized_height - t.crop) / 2.0));
  g.left =
      static_cast<int64_t>(std::nearbyint(static_cast<double>(g.resized_width - t.crop) / 2.0));
  g.crop = t.crop;
  return g;
}

torch::Tensor apply_eval_transform(const torch::Tensor& image, const EvalTransform& t) {
  SFB_ASSERT(image.dim() == 3, "apply_eval_transform expects [C, H, W]");
  const EvalGeometry g = eval_geometry({image.size(1), image.size(2)}, t);
  auto x = image.scalar_type() == torch::kUInt8 ? image.to(torch::kFloat32).div_(255.0)
                                                : image.to(torch::kFloat32);
  auto resized = F::interpolate(x.unsqueeze(0),
                                F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{g.resized_height, g.resized_width})
                                    .mode(torch::kBilinear)
                                    .align_corners(false)
                                    .antialias(true));
  return resized.squeeze(0)
      .narrow(1, g.top, g.crop)
      .narrow(2, g.left, g.crop)
      .clamp(0.0, 1.0)
      .contiguous();
}

torch::Tensor apply_eval_geometry_nearest(const torch::Tensor& mask, const EvalTransform& t) {
  auto m = mask.dim() == 2 ? mask.unsqueeze(0) : mask;
  SFB_ASSERT(m.dim() == 3 && m.size(0) == 1, "apply_eval_geometry_nearest expects [1, H, W]");
  const EvalGeometry g = eval_geometry({m.size(1), m.size(2)}, t);
  auto resized = F::interpolate(m.to(torch::kFloat32).unsqueeze(0),
                                F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{g.resized_height, g.resized_width})
                                    .mode(torch::kNearest));
  return resized.squeeze(0).narrow(1, g.top, g.crop).narrow(2, g.left, g.crop).contiguous();
}

torch::Tensor quantize_u8(const torch::Tensor& images) {
  return images.mul(255.0).round().clamp(0.0, 255.0).to(torch::kUInt8);
}

}  // namespace sfb::data
