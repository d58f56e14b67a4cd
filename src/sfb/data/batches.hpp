#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/partition.hpp"
#include "data/dataset.hpp"

namespace sfb::data {

/// Walks `shard` of `ds` in batches of `batch_size` samples (the last may be smaller) in ascending
/// global index order and calls `fn` with each. The next batch is read on another thread while
/// `fn` runs, so data loading overlaps the compute. With `pin_memory` (set it when the batches go
/// to a CUDA device) the reading thread also copies images and labels into pinned host memory, so
/// the stage's copies to the device do not block. With `show_progress`, a progress line labelled
/// `label` counts samples. An exception from a read or from `fn` propagates (after any read in
/// flight has finished). Not collective.
void for_each_batch(const Dataset& ds, const Range& shard, int64_t batch_size,
                    const std::string& label, bool show_progress, bool pin_memory,
                    const std::function<void(const Batch&)>& fn);

/// `b` with images, labels and masks (when present) in pinned host memory.
Batch pinned(Batch b);

}  // namespace sfb::data
