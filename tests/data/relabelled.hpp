#pragma once
// A dataset fixture for attack tests: synthetic-shapes images with labels set by the caller
// (typically a fixed model's clean predictions, so every sample is correctly classified and
// every attack has work to do).
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "data/synthetic_shapes.hpp"

namespace sfb::test {

class Relabelled : public data::Dataset {
 public:
  /// `labels`: [base.size()] int64 (CPU). `base` must outlive this dataset.
  Relabelled(const data::SyntheticShapes& base, torch::Tensor labels)
      : base_(base), labels_(std::move(labels)) {}
  int64_t size() const override { return base_.size(); }
  int64_t num_classes() const override { return base_.num_classes(); }
  std::vector<int64_t> image_shape() const override { return base_.image_shape(); }
  data::Batch get(const std::vector<int64_t>& idx) const override {
    data::Batch b = base_.get(idx);
    b.labels = labels_.index_select(0, torch::tensor(idx, torch::kInt64));
    return b;
  }
  std::string spec() const override { return "relabelled"; }
  std::string fingerprint() const override { return base_.fingerprint(); }

 private:
  const data::SyntheticShapes& base_;
  torch::Tensor labels_;
};

}  // namespace sfb::test
