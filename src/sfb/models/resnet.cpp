// ResNet-18/34/50 in the torchvision ImageNet layout, written from He et al. 2016 and torchvision's
// documented module names (see zoo.hpp).
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "models/zoo.hpp"

namespace sfb::models {
namespace {

using torch::nn::BatchNorm2d;
using torch::nn::Conv2d;

/// A residual block of the ImageNet ResNets: [B, in, H, W] -> [B, out·expansion, H/s, W/s].
struct ResBlock : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

/// Projection shortcut "downsample" = Sequential(conv1×1 stride s, BN), torchvision's layout.
torch::nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Sequential(conv1x1(in, out, stride), BatchNorm2d(out));
}

/// conv3×3(s)-BN-act-conv3×3-BN, plus shortcut, then act. Expansion 1.
struct BasicBlock : ResBlock {
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, ActivationPtr act) : act_(std::move(act)) {
    conv1_ = register_module("conv1", conv3x3(in, planes, stride));
    bn1_ = register_module("bn1", BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv3x3(planes, planes));
    bn2_ = register_module("bn2", BatchNorm2d(planes));
    if (stride != 1 || in != planes) {
      downsample_ = register_module("downsample", make_downsample(in, planes, stride));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = (*act_)(bn1_->forward(conv1_->forward(x)));
    h = bn2_->forward(conv2_->forward(h));
    return (*act_)(h + (downsample_ ? downsample_->forward(x) : x));
  }
  ActivationPtr act_;
  Conv2d conv1_{nullptr}, conv2_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

/// conv1×1-BN-act-conv3×3(s)-BN-act-conv1×1-BN, plus shortcut, then act. Expansion 4
/// (ResNet v1.5: the stride sits on the 3×3 conv).
struct Bottleneck : ResBlock {
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, ActivationPtr act) : act_(std::move(act)) {
    const int64_t out = planes * kExpansion;
    conv1_ = register_module("conv1", conv1x1(in, planes));
    bn1_ = register_module("bn1", BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv3x3(planes, planes, stride));
    bn2_ = register_module("bn2", BatchNorm2d(planes));
    conv3_ = register_module("conv3", conv1x1(planes, out));
    bn3_ = register_module("bn3", BatchNorm2d(out));
    if (stride != 1 || in != out) {
      downsample_ = register_module("downsample", make_downsample(in, out, stride));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = (*act_)(bn1_->forward(conv1_->forward(x)));
    h = (*act_)(bn2_->forward(conv2_->forward(h)));
    h = bn3_->forward(conv3_->forward(h));
    return (*act_)(h + (downsample_ ? downsample_->forward(x) : x));
  }
  ActivationPtr act_;
  Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

class ResNet : public NativeModel {
 public:
  ResNet(const ModelOptions& o, int64_t depth)
      : NativeModel("resnet-" + std::to_string(depth), o,
                    {"stem", "layer1", "layer2", "layer3", "layer4"}) {
    conv1_ = register_module(
        "conv1",
        Conv2d(torch::nn::Conv2dOptions(o.image_shape[0], 64, 7).stride(2).padding(3).bias(false)));
    bn1_ = register_module("bn1", BatchNorm2d(64));
    const std::vector<int64_t> blocks =
        depth == 18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      const int64_t planes = 64 << s;
      const int64_t stride = s == 0 ? 1 : 2;
      auto list = register_module("layer" + std::to_string(s + 1), torch::nn::ModuleList());
      std::vector<std::shared_ptr<ResBlock>> stage;
      for (int64_t i = 0; i < blocks[s]; ++i) {
        std::shared_ptr<ResBlock> b;
        if (depth == 50) {
          b = std::make_shared<Bottleneck>(in, planes, i == 0 ? stride : 1, activation());
          in = planes * Bottleneck::kExpansion;
        } else {
          b = std::make_shared<BasicBlock>(in, planes, i == 0 ? stride : 1, activation());
          in = planes * BasicBlock::kExpansion;
        }
        list->push_back(b);
        stage.push_back(b);
      }
      stages_.push_back(std::move(stage));
    }
    make_head(in);
    init_weights();
  }

 protected:
  torch::Tensor body(const torch::Tensor& xn, const TapFn& tap) override {
    torch::Tensor h = act(bn1_->forward(conv1_->forward(xn)));
    h = torch::max_pool2d(h, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
    h = tap("stem", h);
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      for (const auto& b : stages_[s]) h = b->forward(h);
      h = tap("layer" + std::to_string(s + 1), h);
    }
    return h.mean({2, 3});
  }

 private:
  Conv2d conv1_{nullptr};
  BatchNorm2d bn1_{nullptr};
  std::vector<std::vector<std::shared_ptr<ResBlock>>> stages_;
};

}  // namespace

std::shared_ptr<NativeModel> make_resnet(const ModelOptions& o, int64_t depth) {
  if (depth != 18 && depth != 34 && depth != 50) {
    throw ConfigError("resnet: depth must be 18, 34 or 50, got " + std::to_string(depth));
  }
  return std::make_shared<ResNet>(o, depth);
}

}  // namespace sfb::models
