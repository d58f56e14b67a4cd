#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "interactions/players.hpp"

namespace sfb::interactions {

/// Random stream ids of the interactions stage (keys of derive_seed, next to the global index).
enum Stream : uint64_t {
  kStreamPairs = 0x696E7472000001ULL,     ///< pairs (i, j) of an image
  kStreamContexts = 0x696E7472000002ULL,  ///< contexts S of a (pair, order)
  kStreamShapley = 0x696E7472000003ULL,   ///< contexts S of φ^(m)
};

/// How pairs are drawn: i uniform over the players, then j uniform over i's grid neighbours
/// (kNeighbour, SPEC §4's default) or over all other players (kUniform).
enum class PairSampling { kNeighbour, kUniform };

/// P pairs (i, j), i ≠ j, of the image with global index `index`, from the stream
/// derive_seed(seed, {kStreamPairs, index, p}) for pair p; independent of ranks and batching.
std::vector<std::pair<int64_t, int64_t>> sample_pairs(uint64_t seed, int64_t index, int64_t count,
                                                      const PlayerGrid& grid, PairSampling how);

/// The probability of each ordered pair under `how`: [n_p, n_p] float64 (CPU), zero diagonal,
/// summing to 1. Exact mode averages I^(m)_ij with these weights.
std::vector<double> pair_weights(const PlayerGrid& grid, PairSampling how);

/// Context k of order m for pair p of image `index`: m players drawn uniformly without
/// replacement from N \ {i, j} (partial Fisher–Yates over the stream derive_seed(seed,
/// {stream, index, p, m, k})). Writes the indicator of S into `row` ([n_p] bytes, cleared first).
void sample_context(uint64_t seed, uint64_t stream, int64_t index, int64_t p, int64_t m, int64_t k,
                    int64_t num_players, int64_t i, int64_t j, uint8_t* row);

}  // namespace sfb::interactions
