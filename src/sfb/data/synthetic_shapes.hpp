#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace sfb::data {

/// Parameters of the built-in synthetic-shapes generator. Everything that changes the bytes of a
/// sample is here and enters the fingerprint.
struct SyntheticShapesOptions {
  Split split = Split::kTrain;  ///< part of every sample's key: train and test images differ
  int64_t n = -1;               ///< number of samples; -1 = default (10000 train, 2000 test)
  uint64_t seed = 0;            ///< base seed; samples are keyed by (seed, split, index)
  int64_t image_size = 32;      ///< H = W in pixels, in [8, 1024]
  int64_t num_classes = 10;     ///< C in [2, SyntheticShapes::kMaxClasses]; uses the first C shapes
  double noise = 0.08;          ///< amplitude a of the uniform per-pixel noise in [-a, a], >= 0
  bool textured = true;         ///< two-colour wavy background texture; false = one flat colour
};

/// What the generator drew for one sample (exposed so tests and tools can check the rendering).
/// Coordinates are in pixels with pixel (x, y) centred at (x + 0.5, y + 0.5).
struct ShapeParams {
  int64_t label = 0;                   ///< class in [0, C): which shape
  double cx = 0, cy = 0;               ///< object centre
  double radius = 0;                   ///< object half-size in pixels (before the aspect stretch)
  double aspect = 1;                   ///< x half-size = radius * aspect, y = radius / aspect
  double angle = 0;                    ///< rotation in radians, in [-kMaxAngle, kMaxAngle]
  std::array<float, 3> colour{};       ///< object RGB in [0, 1], drawn independently of the class
  std::array<float, 3> background0{};  ///< background texture end colours (equal when flat)
  std::array<float, 3> background1{};
};

/// Procedurally generated RGB images of C classes of distinct silhouettes (disk, square,
/// triangle, plus, ring, star, horizontal bars, vertical bars, diamond, crescent), each drawn with
/// a random colour, size, aspect, position and a small random rotation (±25°, so that square /
/// diamond and horizontal / vertical bars stay distinct classes) over a noisy, textured
/// background, with a foreground mask. Labels are balanced: each block of C consecutive indices
/// holds every class once, in a random order.
///
/// A sample is a pure function of (seed, split, index, options): no files, identical bytes on every
/// rank and platform, and any rank can make any sample. The object colour is drawn independently
/// of the class (only constrained to contrast with the background), so the class cannot be read
/// from the mean colour. get() is const and thread-safe; it renders the batch with LibTorch's
/// intra-op thread pool.
class SyntheticShapes : public Dataset {
 public:
  /// Version of the rendering; bump it whenever the bytes of any sample change.
  static constexpr int kVersion = 1;
  /// Number of distinct shapes available (the largest allowed num_classes).
  static constexpr int64_t kMaxClasses = 10;
  /// Largest rotation, in radians (25 degrees).
  static constexpr double kMaxAngle = 0.4363323129985824;

  /// Throws ConfigError for options out of range (naming the option and value).
  explicit SyntheticShapes(const SyntheticShapesOptions& opts);

  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return opts_.num_classes; }
  /// {3, image_size, image_size}.
  std::vector<int64_t> image_shape() const override;
  /// images [B,3,S,S] float32 in [0,1], labels [B] int64, index [B] int64 (= indices), masks
  /// [B,1,S,S] float32 in {0,1} (1 = object pixel); all on the CPU. Throws DataError naming the
  /// first index outside [0, size()).
  Batch get(const std::vector<int64_t>& indices) const override;
  bool has_masks() const override { return true; }
  /// "synthetic-shapes:<n>".
  std::string spec() const override;
  /// SHA-256 of "synthetic-shapes", kVersion and every option (n, split, seed, size, classes,
  /// noise, textured).
  std::string fingerprint() const override;

  /// The parameters sample `index` is drawn with (index in [0, size()); throws DataError).
  ShapeParams params(int64_t index) const;
  /// The label of sample `index` without rendering it.
  int64_t label(int64_t index) const;
  /// Names of the first num_classes() shapes, in label order.
  std::vector<std::string> class_names() const;
  /// The options it was built with (n resolved to the actual count).
  const SyntheticShapesOptions& options() const { return opts_; }

 private:
  void check_index(int64_t index) const;
  void render(int64_t index, float* image, float* mask) const;

  SyntheticShapesOptions opts_;
  int64_t n_ = 0;
};

}  // namespace sfb::data
