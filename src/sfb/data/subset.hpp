#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace sfb::data {

/// A view of another dataset restricted to m of its samples, in a given order.
///
/// Index convention: the subset is itself a Dataset of size m, addressed by *position* in the
/// subset. get(positions) returns Batch::index = the positions (so per-sample outputs of a run
/// over a subset have rows 0..m-1, as for any dataset), and original_indices()[p] is the index
/// of position p in the wrapped dataset (written next to the results when provenance needs it).
class SubsetDataset : public Dataset {
 public:
  /// The first `n` samples of `base` (0 <= n <= base->size(); DataError otherwise).
  static std::unique_ptr<SubsetDataset> first(std::unique_ptr<Dataset> base, int64_t n);
  /// The samples listed in a text file, one base index per line, in file order. Blank lines and
  /// lines starting with '#' are skipped; surrounding spaces are allowed. Throws DataError naming
  /// the file and line for an unreadable file, a line that is not one integer, an index outside
  /// [0, base->size()) or a duplicate (naming the line of its first occurrence too).
  static std::unique_ptr<SubsetDataset> from_file(std::unique_ptr<Dataset> base,
                                                  const std::filesystem::path& file);
  /// The samples at `indices` of `base`, in that order (validated like from_file; `origin` names
  /// the source in errors).
  SubsetDataset(std::unique_ptr<Dataset> base, std::vector<int64_t> indices, std::string origin);

  /// m, the number of selected samples.
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::vector<int64_t> image_shape() const override { return base_->image_shape(); }
  /// The base samples at original_indices()[positions]; Batch::index = positions, [B] int64.
  /// Throws DataError naming the first position outside [0, size()).
  Batch get(const std::vector<int64_t>& positions) const override;
  bool has_masks() const override { return base_->has_masks(); }
  /// The wrapped dataset's spec (the subset is configured separately, see DataOptions::subset).
  std::string spec() const override { return base_->spec(); }
  /// SHA-256 of the base fingerprint, and the selected indices in order.
  std::string fingerprint() const override;

  /// [m] base index of every position.
  const std::vector<int64_t>& original_indices() const { return indices_; }
  /// Where the selection came from, e.g. "first:100" or "file:/path/list.txt".
  const std::string& origin() const { return origin_; }
  /// The wrapped dataset.
  const Dataset& base() const { return *base_; }

 private:
  std::unique_ptr<Dataset> base_;
  std::vector<int64_t> indices_;
  std::string origin_;
};

}  // namespace sfb::data
