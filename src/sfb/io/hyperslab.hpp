#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sfb::io {

/// Where one rank's rows of a per-sample dataset [n, d1, d2, ...] go in the file.
struct Hyperslab {
  std::vector<uint64_t> file_dims;  ///< [n, d1, ...]: the whole dataset
  std::vector<uint64_t> start;      ///< [offset, 0, ...]
  std::vector<uint64_t> count;      ///< [rows, d1, ...]
};

/// The hyperslab of rows [offset, offset + rows) of a dataset with `n` rows and trailing dims
/// `trailing`. Throws sfb::Error when the rows fall outside [0, n) or a size is negative.
Hyperslab per_sample_slab(int64_t n, int64_t offset, int64_t rows,
                          const std::vector<int64_t>& trailing);

/// Checks that the per-rank row ranges {offset_r, rows_r} tile [0, n) exactly once (in any order):
/// returns a description of the first gap or overlap, or nullopt when they tile. n = sum of rows.
std::optional<std::string> tiling_problem(const std::vector<std::pair<int64_t, int64_t>>& ranges);

}  // namespace sfb::io
