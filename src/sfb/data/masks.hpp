#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/imagenet_transform.hpp"
#include "io/h5_node.hpp"

namespace sfb::data {

class ImageNetFolder;

/// Decodes a PNG file (any bit depth/colour type) with libpng and binarizes it: a pixel is
/// foreground when any colour channel is > 0 (8-bit; alpha ignored). Returns [H, W] uint8 in
/// {0, 1}. Throws DataError naming the file when it is missing or not a valid PNG.
torch::Tensor read_png_mask(const std::filesystem::path& file);

/// Writes `mask` ([H, W] uint8, CPU) as an 8-bit grayscale PNG. Throws IoError naming the file.
void write_png_gray(const std::filesystem::path& file, const torch::Tensor& mask);

/// Where the masks of a MaskedDataset come from.
struct MaskSource {
  enum class Kind { kPngFolder, kHdf5 };
  Kind kind = Kind::kPngFolder;
  /// kPngFolder: the folder of PNGs. kHdf5: the file holding `/masks` uint8 [N, H, W].
  std::filesystem::path path;
  /// kPngFolder naming: true = `<index>.png` (decimal global sample index, no padding);
  /// false = the image's relative path with its extension replaced by `.png` (needs an
  /// ImageNetFolder as the base dataset).
  bool by_index = false;
};

/// A Dataset decorator that adds Batch::masks ([B, 1, H, W] float32 in {0, 1}, 1 = foreground) to
/// the batches of a base dataset.
///
/// PNG masks of an ImageNetFolder have the size of the original JPEG and go through the same
/// geometry as the image (Resize + CenterCrop, nearest neighbour). Every other mask (PNG masks of
/// other datasets, and HDF5 masks of any dataset) must already have the output size image_shape()
/// [1:] and is used as is. Errors (DataError): a mask whose size differs from its image's (naming
/// the mask file and both sizes), a mask with no foreground pixel after the geometry (naming the
/// sample index and mask), an HDF5 `/masks` whose shape is not [size(), H, W] (checked at open).
class MaskedDataset : public Dataset {
 public:
  /// Wraps `base`; opens and validates `source` (the PNG folder must exist; the HDF5 file's /masks
  /// must be uint8 [base->size(), H, W]). Throws DataError.
  MaskedDataset(std::shared_ptr<const Dataset> base, MaskSource source);

  int64_t size() const override { return base_->size(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::vector<int64_t> image_shape() const override { return base_->image_shape(); }
  /// The base batch plus masks [B, 1, H, W] float32 in {0, 1}. Thread-safe.
  Batch get(const std::vector<int64_t>& indices) const override;
  bool has_masks() const override { return true; }
  /// The base spec followed by "+masks:<path>".
  std::string spec() const override;
  /// SHA-256 over the base fingerprint and the mask source (file names and sizes of the PNGs used,
  /// or the HDF5 file's size and /masks shape).
  std::string fingerprint() const override;

  /// The mask of sample `i` at output size: [1, H, W] float32 in {0, 1}.
  torch::Tensor mask(int64_t i) const;
  /// The PNG file of sample `i` (kPngFolder only).
  std::filesystem::path png_path(int64_t i) const;

 private:
  std::shared_ptr<const Dataset> base_;
  MaskSource source_;
  const ImageNetFolder* folder_ = nullptr;  // base_ as an ImageNetFolder, or null
  io::H5Node h5_;
  io::H5Node masks_;
  mutable std::mutex mu_;
};

}  // namespace sfb::data
