#include "data/subset.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <unordered_map>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "data/detail/text.hpp"

namespace sfb::data {
std::unique_ptr<SubsetDataset> SubsetDataset::first(std::unique_ptr<Dataset> base, int64_t n) {
  if (!base) throw Error("SubsetDataset::first: null dataset");
  if (n < 0 || n > base->size()) {
    throw DataError(fmt::format("subset first:{} of {}: needs 0 <= n <= {} samples", n,
                                base->spec(), base->size()));
  }
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  return std::make_unique<SubsetDataset>(std::move(base), std::move(idx),
                                         fmt::format("first:{}", n));
}

std::unique_ptr<SubsetDataset> SubsetDataset::from_file(std::unique_ptr<Dataset> base,
                                                        const std::filesystem::path& file) {
  if (!base) throw Error("SubsetDataset::from_file: null dataset");
  std::ifstream in(file);
  if (!in) throw DataError(fmt::format("subset: cannot open index file '{}'", file.string()));
  const int64_t n = base->size();
  std::vector<int64_t> idx;
  std::unordered_map<int64_t, int64_t> first_line;  // index -> line it first appeared on
  detail::for_each_content_line(in, [&](int64_t line_no, const std::string& t) {
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (end == t.c_str() || *end != '\0' || errno == ERANGE) {
      throw DataError(fmt::format("subset: '{}' line {}: '{}' is not an integer sample index",
                                  file.string(), line_no, t));
    }
    if (v < 0 || v >= n) {
      throw DataError(fmt::format("subset: '{}' line {}: index {} outside [0, {}) of {}",
                                  file.string(), line_no, v, n, base->spec()));
    }
    const auto [it, fresh] = first_line.emplace(static_cast<int64_t>(v), line_no);
    if (!fresh) {
      throw DataError(fmt::format("subset: '{}' line {}: index {} duplicates line {}",
                                  file.string(), line_no, v, it->second));
    }
    idx.push_back(static_cast<int64_t>(v));
  });
  if (in.bad()) throw DataError(fmt::format("subset: read error in '{}'", file.string()));
  return std::make_unique<SubsetDataset>(std::move(base), std::move(idx), "file:" + file.string());
}

SubsetDataset::SubsetDataset(std::unique_ptr<Dataset> base, std::vector<int64_t> indices,
                             std::string origin)
    : base_(std::move(base)), indices_(std::move(indices)), origin_(std::move(origin)) {
  if (!base_) throw Error("SubsetDataset: null dataset");
  const int64_t n = base_->size();
  std::unordered_map<int64_t, size_t> seen;
  for (size_t p = 0; p < indices_.size(); ++p) {
    const int64_t v = indices_[p];
    if (v < 0 || v >= n) {
      throw DataError(fmt::format("subset {}: entry {} = {} outside [0, {}) of {}", origin_, p, v,
                                  n, base_->spec()));
    }
    const auto [it, fresh] = seen.emplace(v, p);
    if (!fresh) {
      throw DataError(
          fmt::format("subset {}: entry {} = {} duplicates entry {}", origin_, p, v, it->second));
    }
  }
}

Batch SubsetDataset::get(const std::vector<int64_t>& positions) const {
  std::vector<int64_t> orig;
  orig.reserve(positions.size());
  for (int64_t p : positions) {
    if (p < 0 || p >= size()) {
      throw DataError(fmt::format("subset {} of {}: sample index {} outside [0, {})", origin_,
                                  base_->spec(), p, size()));
    }
    orig.push_back(indices_[static_cast<size_t>(p)]);
  }
  Batch b = base_->get(orig);
  b.index =
      torch::tensor(positions, torch::kInt64).reshape({static_cast<int64_t>(positions.size())});
  return b;
}

std::string SubsetDataset::fingerprint() const {
  std::string text = "subset|" + base_->fingerprint() + "|";
  text.reserve(text.size() + indices_.size() * 8);
  for (int64_t v : indices_) text += std::to_string(v) + ",";
  return sha256_hex(text);
}

}  // namespace sfb::data
