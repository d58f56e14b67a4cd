#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/imagenet_transform.hpp"

namespace sfb::data {

/// Options of ImageNetFolder.
struct ImageNetFolderOptions {
  /// Label file; empty = the `DIR/<wnid>/<file>.JPEG` layout (see ImageNetFolder).
  std::filesystem::path label_file;
  int64_t num_classes = 1000;  ///< labels must lie in [0, num_classes)
  int64_t threads = 4;         ///< decoder threads per get() call (per rank)
  EvalTransform transform;     ///< Resize + CenterCrop applied to every image
};

/// ImageNet as a folder of JPEG files, decoded with libjpeg and transformed with torchvision's eval
/// transform (EvalTransform) on the fly.
///
/// Two layouts:
///  - With a label file: one sample per non-blank line, `relative/path.JPEG <label>` (path relative
///    to the folder, may contain spaces; the label is the last whitespace-separated field, a
///    decimal integer in [0, num_classes)). Lines starting with `#` are comments. Sample i is the
///    i-th line.
///  - Without: `DIR/<wnid>/<file>` for every .jpeg/.jpg file (any case); classes are the sorted
///    names of the sub-folders (label = position in that list), samples sorted by (wnid, file).
///
/// Validated when opened: the folder exists, every listed file exists, labels are in range (errors
/// name the label file and line). Decode errors surface in get(), naming the image file.
///
/// fingerprint() = SHA-256 over the label file's SHA-256 (or the class folder names), the ordered
/// list of (relative path, byte size, label) and the transform parameters. It does not hash the
/// JPEG contents: reading 50k images (6.4 GB) to open a dataset is too slow; an image rewritten in
/// place with the same size is not detected.
class ImageNetFolder : public Dataset {
 public:
  /// Opens and validates `dir`. Throws DataError naming the folder, label file (and line) or image.
  ImageNetFolder(const std::filesystem::path& dir, ImageNetFolderOptions options);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override { return options_.num_classes; }
  /// {3, crop, crop}.
  std::vector<int64_t> image_shape() const override;
  /// Decodes and transforms the images at `indices` with options().threads threads. images:
  /// [B, 3, crop, crop] float32 in [0, 1]; labels, index: [B] int64. Throws DataError naming the
  /// image for an index out of range or a file that fails to decode. Thread-safe.
  Batch get(const std::vector<int64_t>& indices) const override;
  /// "imagenet-folder:DIR".
  std::string spec() const override;
  std::string fingerprint() const override;

  /// The transformed image `i`: [3, crop, crop] float32 in [0, 1].
  torch::Tensor transformed(int64_t i) const;
  /// Full path of image `i`.
  std::filesystem::path path(int64_t i) const;
  /// Path of image `i` relative to the folder, as listed.
  const std::string& relative_path(int64_t i) const { return files_.at(static_cast<size_t>(i)); }
  /// Label of image `i`.
  int64_t label(int64_t i) const { return labels_.at(static_cast<size_t>(i)); }
  /// Size of image `i` before the transform (reads the JPEG header).
  ImageSize source_size(int64_t i) const;
  /// The folder.
  const std::filesystem::path& dir() const { return dir_; }
  /// The options it was opened with.
  const ImageNetFolderOptions& options() const { return options_; }

 private:
  void load_label_file();
  void scan_class_folders();
  void check_index(int64_t i) const;

  std::filesystem::path dir_;
  ImageNetFolderOptions options_;
  std::vector<std::string> files_;  // relative paths, sample order
  std::vector<int64_t> labels_;
  std::vector<uint64_t> sizes_;  // bytes per file
  std::string identity_;         // label file SHA-256 or the class folder names
};

/// Runs fn(k) for k in [0, n) on up to `threads` threads; rethrows the first exception after all
/// threads stopped. threads <= 1 runs inline.
void parallel_for(int64_t n, int64_t threads, const std::function<void(int64_t)>& fn);

}  // namespace sfb::data
