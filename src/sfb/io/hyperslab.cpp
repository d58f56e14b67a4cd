#include "io/hyperslab.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace sfb::io {

Hyperslab per_sample_slab(int64_t n, int64_t offset, int64_t rows,
                          const std::vector<int64_t>& trailing) {
  if (n < 0 || offset < 0 || rows < 0 || offset + rows > n) {
    throw Error("per-sample rows [" + std::to_string(offset) + ", " +
                std::to_string(offset + rows) + ") fall outside the dataset's [0, " +
                std::to_string(n) + ")");
  }
  Hyperslab h;
  h.file_dims.push_back(static_cast<uint64_t>(n));
  h.start.push_back(static_cast<uint64_t>(offset));
  h.count.push_back(static_cast<uint64_t>(rows));
  for (int64_t d : trailing) {
    if (d < 0) throw Error("negative trailing dimension " + std::to_string(d));
    h.file_dims.push_back(static_cast<uint64_t>(d));
    h.start.push_back(0);
    h.count.push_back(static_cast<uint64_t>(d));
  }
  return h;
}

std::optional<std::string> tiling_problem(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  std::vector<size_t> order(ranges.size());
  std::iota(order.begin(), order.end(), 0);
  // Empty ranges carry no rows; sort the others by offset.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ranges[a].first < ranges[b].first; });
  int64_t expect = 0;
  for (size_t i : order) {
    const auto [off, rows] = ranges[i];
    if (rows < 0 || off < 0) {
      return "rank " + std::to_string(i) + " passed offset " + std::to_string(off) + " and " +
             std::to_string(rows) + " rows";
    }
    if (rows == 0) continue;
    if (off > expect) {
      return "rows [" + std::to_string(expect) + ", " + std::to_string(off) +
             ") are written by no rank (gap before rank " + std::to_string(i) + ")";
    }
    if (off < expect) {
      return "rank " + std::to_string(i) + " writes rows from " + std::to_string(off) +
             " that another rank already writes (overlap up to row " + std::to_string(expect) + ")";
    }
    expect = off + rows;
  }
  return std::nullopt;
}

}  // namespace sfb::io
