#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "comm/context.hpp"
#include "core/config.hpp"
#include "data/dataset.hpp"
#include "data/imagenet_folder.hpp"
#include "io/h5_node.hpp"

namespace sfb::data {

/// Version of the packed ImageNet layout (root attribute `sfbench_packed_imagenet`).
inline constexpr int64_t kPackedImageNetVersion = 1;

/// Packed ImageNet: one HDF5 file with
///   /images  uint8 [N, 3, H, W]   transformed pixels, round(x * 255) of the float image in [0, 1]
///   /labels  int64 [N]            in [0, num_classes)
///   root attributes: sfbench_packed_imagenet (layout version), num_classes, source (the folder's
///   spec), source_fingerprint (the folder's fingerprint()), transform ("resize=256 crop=224 ...").
/// Every rank opens the file read-only on its own and reads its rows with independent hyperslab
/// reads. Batch::images = uint8 / 255 as float32.
///
/// fingerprint() = SHA-256 over the layout version, N, H, W, num_classes and source_fingerprint:
/// hashing the pixels (7.5 GB for the validation set) at open would be too slow.
class ImageNetH5 : public Dataset {
 public:
  /// Opens and validates `file`: datasets present with the shapes above, labels in range. Throws
  /// DataError naming the file and what is wrong.
  explicit ImageNetH5(const std::filesystem::path& file);

  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return num_classes_; }
  /// {3, H, W}.
  std::vector<int64_t> image_shape() const override { return {3, height_, width_}; }
  /// images [B, 3, H, W] float32 (= stored uint8 / 255), labels/index [B] int64. Thread-safe
  /// (reads are serialized: HDF5 is not thread-safe).
  Batch get(const std::vector<int64_t>& indices) const override;
  /// The stored pixels of `indices`: [B, 3, H, W] uint8. Thread-safe.
  torch::Tensor get_u8(const std::vector<int64_t>& indices) const;
  /// "imagenet-h5:FILE".
  std::string spec() const override;
  std::string fingerprint() const override;

 private:
  std::filesystem::path file_;
  io::H5Node h5_;
  io::H5Node images_;
  torch::Tensor labels_;  // [N] int64
  int64_t n_ = 0, height_ = 0, width_ = 0, num_classes_ = 0;
  std::string source_fingerprint_;
  mutable std::mutex mu_;
};

/// Options of pack_imagenet.
struct PackOptions {
  int64_t chunk_rows = 64;  ///< rows each rank decodes and writes per collective write
};

/// The `[pack]` config section of `sfbench pack-imagenet`.
struct PackConfig {
  std::string data;            ///< "imagenet-folder:DIR" (--data)
  std::string labels;          ///< label file (--labels); empty = DIR/<wnid>/<file> layout
  int64_t num_classes = 1000;  ///< labels must lie in [0, num_classes)
  int64_t threads = 4;         ///< decoder threads per rank
  int64_t chunk_rows = 64;     ///< rows per rank per collective write (memory bound)
  /// Registers pack.data, pack.labels, pack.num_classes, pack.threads, pack.chunk_rows.
  void register_keys(ConfigSchema& schema);
};

/// Packs `folder` into `out` (layout: ImageNetH5). Every rank decodes its balanced share of the
/// samples (core/partition.hpp) with the folder's decoder threads, in chunks of chunk_rows rows,
/// and writes each chunk collectively with MPI-IO, so memory stays at one chunk per rank. Rank 0
/// holds the lock of `out` (lock_output(): a second pack into `out` is refused, exit code 2). The
/// file is written under a temporary name unique to the run, `out.<tag>.partial`, created
/// exclusively, and renamed to `out` once complete. An existing `out` is replaced only when it is
/// a packed ImageNet file (else IoError, exit code 2). Collective; a decode error
/// on any rank becomes an AgreedError on every rank (naming the image), and `out` is untouched.
void pack_imagenet(Context& ctx, const ImageNetFolder& folder, const std::filesystem::path& out,
                   const PackOptions& options);

}  // namespace sfb::data
