#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sfb::data {

/// One batch of samples, in the order of the indices asked for.
struct Batch {
  torch::Tensor images;  ///< [B, C, H, W] float32 in [0, 1], CPU
  torch::Tensor labels;  ///< [B] int64 in [0, num_classes)
  torch::Tensor index;   ///< [B] int64 global sample indices (row order of every per-sample output)
  torch::Tensor masks;   ///< [B, 1, H, W] float32 in {0, 1} (1 = foreground), or undefined
};

/// Which split of a dataset to read.
enum class Split { kTrain, kTest };

/// A dataset of labelled images addressed by global sample index in [0, size()). Readers validate
/// their files when opened and throw DataError naming the file and what is wrong (byte offset,
/// record, label). get() is const and thread-safe, so several loader threads may call it.
class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Number of samples (after any subset).
  virtual int64_t size() const = 0;
  /// Number of classes C; labels are in [0, C).
  virtual int64_t num_classes() const = 0;
  /// {channels, height, width} of every image.
  virtual std::vector<int64_t> image_shape() const = 0;
  /// The samples at `indices` (each in [0, size()); throws DataError otherwise).
  virtual Batch get(const std::vector<int64_t>& indices) const = 0;
  /// True when get() fills Batch::masks.
  virtual bool has_masks() const { return false; }
  /// The spec string that recreates it, e.g. "cifar10:/data/cifar-10-batches-bin".
  virtual std::string spec() const = 0;
  /// SHA-256 fingerprint of what defines the samples: the files read (hashed in a fixed order) or,
  /// for generated data, the generator's name, version and parameters.
  virtual std::string fingerprint() const = 0;
};

}  // namespace sfb::data
