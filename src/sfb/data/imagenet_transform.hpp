#pragma once
#include <torch/types.h>

#include <cstdint>

#include "data/jpeg.hpp"

namespace sfb::data {

/// torchvision's ImageNet evaluation transform: Resize(resize) then CenterCrop(crop).
struct EvalTransform {
  int64_t resize = 256;  ///< the shorter side is scaled to this many pixels
  int64_t crop = 224;    ///< side of the square center crop
};

/// Where an image of a given size goes under EvalTransform, computed as torchvision does.
struct EvalGeometry {
  int64_t resized_height = 0;  ///< after Resize: shorter side = resize,
  int64_t resized_width = 0;   ///< longer side = int(resize * long / short) (truncation)
  int64_t top = 0;             ///< crop offsets: int(round((resized - crop) / 2.0)),
  int64_t left = 0;            ///< round half to even as Python's round()
  int64_t crop = 0;            ///< output side
};

/// The geometry for an input of `size`. Throws DataError for an empty image or one whose resized
/// size is smaller than the crop (torchvision would pad; ImageNet images never need it).
EvalGeometry eval_geometry(const ImageSize& size, const EvalTransform& t);

/// Applies EvalTransform to `image` ([C, H, W] uint8 or float32 in [0, 1], CPU): converts to
/// float32 in [0, 1] (uint8 / 255), resizes with bilinear interpolation and antialiasing
/// (align_corners = false, as torchvision's Resize on tensors), and center-crops. Returns [C, crop,
/// crop] float32 in [0, 1], contiguous.
torch::Tensor apply_eval_transform(const torch::Tensor& image, const EvalTransform& t);

/// Applies the same geometry to a mask ([1, H, W] or [H, W], any dtype, CPU) with nearest-neighbour
/// resizing (torch's "nearest"), so every mask pixel lands where its image pixel does. Returns
/// [1, crop, crop] float32 with the input's values.
torch::Tensor apply_eval_geometry_nearest(const torch::Tensor& mask, const EvalTransform& t);

/// float32 images in [0, 1] -> uint8 as round(x * 255) (half to even), clamped to [0, 255]. Shape
/// kept. This is how packed ImageNet stores transformed pixels.
torch::Tensor quantize_u8(const torch::Tensor& images);

}  // namespace sfb::data
