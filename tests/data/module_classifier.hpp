#pragma once
// The Classifier boilerplate of the tests' hand-made models: a torch::nn::Module whose parameters,
// mode, device and dtype are the module's, with one named layer ("features", tapped and replaced
// as the features), no swappable activation and a constant fingerprint. A test model derives from
// it and gives features(), head(), num_features() and num_classes().
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::test {

class ModuleClassifier : public torch::nn::Module, public models::Classifier {
 public:
  explicit ModuleClassifier(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::string arch() const override { return name_; }
  std::vector<torch::Tensor> parameters() override { return torch::nn::Module::parameters(); }
  void train(bool on) override { torch::nn::Module::train(on); }
  void to(const torch::Device& d) override { torch::nn::Module::to(d); }
  void to_dtype(torch::ScalarType t) override { torch::nn::Module::to(t); }
  std::vector<std::string> layer_names() const override { return {"features"}; }
  /// Every requested name gets the features [B, k].
  torch::Tensor forward_tapped(const torch::Tensor& x, const std::vector<std::string>& names,
                               std::vector<torch::Tensor>& taps) override {
    const torch::Tensor a = features(x);
    taps.assign(names.size(), a);
    return head(a);
  }
  /// Every name replaces the features, as forward_tapped taps them for every name: head(value).
  torch::Tensor forward_replaced(const torch::Tensor&, const std::string&,
                                 const torch::Tensor& value) override {
    return head(value);
  }
  void set_activation(const std::string&) override {}
  std::string fingerprint() const override { return "0"; }

 private:
  std::string name_;
};

}  // namespace sfb::test
