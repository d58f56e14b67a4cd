// The batch loop every evaluation stage runs over its shard, with one batch read ahead.
#include "data/batches.hpp"

#include <algorithm>
#include <future>
#include <vector>

#include "core/error.hpp"
#include "core/progress.hpp"

namespace sfb::data {

Batch pinned(Batch b) {
  b.images = b.images.pin_memory();
  b.labels = b.labels.pin_memory();
  if (b.masks.defined()) b.masks = b.masks.pin_memory();
  return b;
}

void for_each_batch(const Dataset& ds, const Range& shard, int64_t batch_size,
                    const std::string& label, bool show_progress, bool pin_memory,
                    const std::function<void(const Batch&)>& fn) {
  if (batch_size < 1) throw ConfigError("batch_size must be >= 1");
  auto read = [&ds, &shard, batch_size, pin_memory](int64_t start) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(start + batch_size, shard.end()); ++i) idx.push_back(i);
    return pin_memory ? pinned(ds.get(idx)) : ds.get(idx);
  };
  Progress progress(label, shard.count, show_progress);
  std::future<Batch> next;
  if (shard.count > 0) next = std::async(std::launch::async, read, shard.begin);
  for (int64_t start = shard.begin; start < shard.end(); start += batch_size) {
    const Batch batch = next.get();
    if (start + batch_size < shard.end()) {
      next = std::async(std::launch::async, read, start + batch_size);
    }
    fn(batch);
    progress.advance(batch.labels.size(0));
  }
  progress.finish();
}

}  // namespace sfb::data
