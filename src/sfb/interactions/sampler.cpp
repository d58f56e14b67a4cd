#include "interactions/sampler.hpp"

#include <cstring>

#include "core/counter_rng.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::interactions {

std::vector<std::pair<int64_t, int64_t>> sample_pairs(uint64_t seed, int64_t index, int64_t count,
                                                      const PlayerGrid& grid, PairSampling how) {
  const auto n = static_cast<uint64_t>(grid.num_players());
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(static_cast<size_t>(count));
  for (int64_t p = 0; p < count; ++p) {
    CounterRng rng(
        derive_seed(seed, {kStreamPairs, static_cast<uint64_t>(index), static_cast<uint64_t>(p)}));
    const auto i = static_cast<int64_t>(rng.below(n));
    int64_t j;
    if (how == PairSampling::kNeighbour) {
      const auto& nb = grid.neighbours(i);
      j = nb[rng.below(nb.size())];
    } else {
      j = static_cast<int64_t>(rng.below(n - 1));
      if (j >= i) ++j;
    }
    pairs.emplace_back(i, j);
  }
  return pairs;
}

std::vector<double> pair_weights(const PlayerGrid& grid, PairSampling how) {
  const int64_t n = grid.num_players();
  std::vector<double> w(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    if (how == PairSampling::kNeighbour) {
      const auto& nb = grid.neighbours(i);
      for (const int64_t j : nb) w[i * n + j] = 1.0 / (static_cast<double>(n) * nb.size());
    } else {
      for (int64_t j = 0; j < n; ++j) {
        if (j != i) w[i * n + j] = 1.0 / static_cast<double>(n * (n - 1));
      }
    }
  }
  return w;
}

void sample_context(uint64_t seed, uint64_t stream, int64_t index, int64_t p, int64_t m, int64_t k,
                    int64_t num_players, int64_t i, int64_t j, uint8_t* row) {
  // The candidates N \ {i, j} (j < 0: N \ {i}), then m steps of a partial Fisher–Yates shuffle.
  int64_t others[4096];
  SFB_ASSERT(num_players <= 4096, "at most 4096 players");
  int64_t count = 0;
  for (int64_t q = 0; q < num_players; ++q) {
    if (q != i && q != j) others[count++] = q;
  }
  SFB_ASSERT(m >= 0 && m <= count, "order outside [0, candidates]");
  std::memset(row, 0, static_cast<size_t>(num_players));
  CounterRng rng(derive_seed(seed, {stream, static_cast<uint64_t>(index), static_cast<uint64_t>(p),
                                    static_cast<uint64_t>(m), static_cast<uint64_t>(k)}));
  for (int64_t t = 0; t < m; ++t) {
    const int64_t pick = t + static_cast<int64_t>(rng.below(static_cast<uint64_t>(count - t)));
    std::swap(others[t], others[pick]);
    row[others[t]] = 1;
  }
}

}  // namespace sfb::interactions
