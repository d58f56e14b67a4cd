// The 32×32 networks of the zoo: cnn-small, PreActResNet-18 and the Wide ResNets, written from
// their papers' descriptions (see zoo.hpp).
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "models/zoo.hpp"

namespace sfb::models {
namespace {

using torch::nn::BatchNorm2d;
using torch::nn::Conv2d;

/// Mean over the spatial axes: [B, k, H, W] -> [B, k].
torch::Tensor global_avg_pool(const torch::Tensor& h) { return h.mean({2, 3}); }

class CnnSmall : public NativeModel {
 public:
  explicit CnnSmall(const ModelOptions& o)
      : NativeModel("cnn-small", o, {"block1", "block2", "block3"}) {
    const int64_t widths[] = {o.image_shape[0], 32, 64, 128};
    for (int i = 0; i < 3; ++i) {
      const std::string s = std::to_string(i + 1);
      convs_.push_back(register_module("conv" + s, conv3x3(widths[i], widths[i + 1])));
      bns_.push_back(register_module("bn" + s, BatchNorm2d(widths[i + 1])));
    }
    make_head(128);
    init_weights();
  }

 protected:
  torch::Tensor body(const torch::Tensor& xn, const TapFn& tap) override {
    torch::Tensor h = xn;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      h = act(bns_[i]->forward(convs_[i]->forward(h)));
      if (i < 2) h = torch::max_pool2d(h, 2);
      h = tap("block" + std::to_string(i + 1), h);
    }
    return global_avg_pool(h);
  }

 private:
  std::vector<Conv2d> convs_;
  std::vector<BatchNorm2d> bns_;
};

/// A residual block; `forward` maps [B, in, H, W] -> [B, out, H/stride, W/stride].
struct Block : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

/// Pre-activation basic block, shared by PreActResNet-18 and the Wide ResNets: act(BN(x)) feeds
/// both the 1×1 projection shortcut (when the shape changes) and conv3×3 -> BN -> act -> conv3×3;
/// identity shortcut on the raw x otherwise. `same_padding`: a strided first convolution pads one
/// row and column at the bottom and right only (TensorFlow's SAME, as DeepMind's models do)
/// instead of one on every side.
struct PreActBlock : Block {
  PreActBlock(int64_t in, int64_t out, int64_t stride, ActivationPtr act, bool same_padding = false)
      : act_(std::move(act)), pad_bottom_right_(same_padding && stride != 1) {
    bn1_ = register_module("bn1", BatchNorm2d(in));
    conv1_ = register_module(
        "conv1",
        pad_bottom_right_
            ? Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(0).bias(false))
            : conv3x3(in, out, stride));
    bn2_ = register_module("bn2", BatchNorm2d(out));
    conv2_ = register_module("conv2", conv3x3(out, out));
    if (stride != 1 || in != out) shortcut_ = register_module("shortcut", conv1x1(in, out, stride));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    const torch::Tensor pre = (*act_)(bn1_->forward(x));
    const torch::Tensor sc = shortcut_ ? shortcut_->forward(pre) : x;
    torch::Tensor h =
        conv1_->forward(pad_bottom_right_ ? torch::constant_pad_nd(pre, {0, 1, 0, 1}) : pre);
    h = conv2_->forward((*act_)(bn2_->forward(h)));
    return h + sc;
  }
  ActivationPtr act_;
  bool pad_bottom_right_;
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  Conv2d conv1_{nullptr}, conv2_{nullptr}, shortcut_{nullptr};
};

/// DeepMind's pre-activation block (dm_wide_resnet.py _PreActBlock): like PreActBlock with SAME
/// padding, but the shortcut, when the block changes stride or width, is a 3×3 convolution of the
/// block's raw input x (SAME-padded), not a 1×1 convolution of act(bn1(x)).
struct DmPreActBlock : Block {
  DmPreActBlock(int64_t in, int64_t out, int64_t stride, ActivationPtr act)
      : act_(std::move(act)), stride_(stride) {
    const auto unpadded = [](int64_t i, int64_t o, int64_t s) {
      return Conv2d(torch::nn::Conv2dOptions(i, o, 3).stride(s).padding(0).bias(false));
    };
    bn1_ = register_module("bn1", BatchNorm2d(in));
    conv1_ = register_module("conv1", unpadded(in, out, stride));
    bn2_ = register_module("bn2", BatchNorm2d(out));
    conv2_ = register_module("conv2", conv3x3(out, out));
    if (stride != 1 || in != out)
      shortcut_ = register_module("shortcut", unpadded(in, out, stride));
  }
  /// SAME padding of a 3×3 kernel: one on every side at stride 1, bottom and right at stride 2.
  torch::Tensor pad(const torch::Tensor& x) const {
    return stride_ == 1 ? torch::constant_pad_nd(x, {1, 1, 1, 1})
                        : torch::constant_pad_nd(x, {0, 1, 0, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    const torch::Tensor sc = shortcut_ ? shortcut_->forward(pad(x)) : x;
    torch::Tensor h = conv1_->forward(pad((*act_)(bn1_->forward(x))));
    h = conv2_->forward((*act_)(bn2_->forward(h)));
    return h + sc;
  }
  ActivationPtr act_;
  int64_t stride_;
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  Conv2d conv1_{nullptr}, conv2_{nullptr}, shortcut_{nullptr};
};

/// Runs a stage of blocks.
torch::Tensor run_stage(const std::vector<std::shared_ptr<Block>>& stage, torch::Tensor h) {
  for (const auto& b : stage) h = b->forward(h);
  return h;
}

/// Shared skeleton of the pre-activation CIFAR nets: 3×3 stem, stages of blocks, final BN-act,
/// global average pool.
class PreActNet : public NativeModel {
 public:
  PreActNet(std::string arch, const ModelOptions& o, std::vector<std::string> layers)
      : NativeModel(std::move(arch), o, std::move(layers)) {}

 protected:
  /// Registers a stage "<name>" of `n` blocks; make(stride, first) builds each (the first block
  /// gets `stride` and the stage's input width).
  template <typename MakeBlock>
  void add_stage(const std::string& name, int64_t n, int64_t stride, MakeBlock make) {
    auto list = register_module(name, torch::nn::ModuleList());
    std::vector<std::shared_ptr<Block>> stage;
    for (int64_t i = 0; i < n; ++i) {
      auto b = make(i == 0 ? stride : 1, i == 0);
      list->push_back(b);
      stage.push_back(b);
    }
    stages_.push_back(std::move(stage));
    stage_names_.push_back(name);
  }
  torch::Tensor body(const torch::Tensor& xn, const TapFn& tap) override {
    torch::Tensor h = stem_->forward(xn);
    h = tap("stem", h);
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      h = run_stage(stages_[s], h);
      h = tap(stage_names_[s], h);
    }
    return global_avg_pool(act(final_bn_->forward(h)));
  }

  Conv2d stem_{nullptr};
  BatchNorm2d final_bn_{nullptr};

 private:
  std::vector<std::vector<std::shared_ptr<Block>>> stages_;
  std::vector<std::string> stage_names_;
};

class PreActResNet18 : public PreActNet {
 public:
  PreActResNet18(const ModelOptions& o, bool deepmind)
      : PreActNet(deepmind ? "dm-preact-resnet-18" : "preact-resnet-18", o,
                  {"stem", "block1", "block2", "block3", "block4"}) {
    stem_ = register_module("conv1", conv3x3(o.image_shape[0], 64));
    int64_t in = 64;
    const int64_t widths[] = {64, 128, 256, 512};
    const int64_t strides[] = {1, 2, 2, 2};
    for (int s = 0; s < 4; ++s) {
      const int64_t out = widths[s];
      add_stage("block" + std::to_string(s + 1), 2, strides[s],
                [&](int64_t stride, bool first) -> std::shared_ptr<Block> {
                  if (deepmind) {
                    return std::make_shared<DmPreActBlock>(first ? in : out, out, stride,
                                                           activation());
                  }
                  return std::make_shared<PreActBlock>(first ? in : out, out, stride, activation());
                });
      in = out;
    }
    final_bn_ = register_module("bn", BatchNorm2d(512));
    make_head(512);
    init_weights();
  }
};

class WideResNet : public PreActNet {
 public:
  WideResNet(const ModelOptions& o, int64_t depth, int64_t widen, bool deepmind)
      : PreActNet(std::string(deepmind ? "dm-" : "") + "wrn-" + std::to_string(depth) + "-" +
                      std::to_string(widen),
                  o, {"stem", "block1", "block2", "block3"}) {
    const int64_t n = (depth - 4) / 6;
    stem_ = register_module("conv1", conv3x3(o.image_shape[0], 16));
    int64_t in = 16;
    const int64_t strides[] = {1, 2, 2};
    for (int s = 0; s < 3; ++s) {
      const int64_t out = (16 << s) * widen;
      add_stage("block" + std::to_string(s + 1), n, strides[s], [&](int64_t stride, bool first) {
        return std::make_shared<PreActBlock>(first ? in : out, out, stride, activation(), deepmind);
      });
      in = out;
    }
    final_bn_ = register_module("bn", BatchNorm2d(in));
    make_head(in);
    init_weights();
  }
};

}  // namespace

std::shared_ptr<NativeModel> make_cnn_small(const ModelOptions& o) {
  return std::make_shared<CnnSmall>(o);
}

std::shared_ptr<NativeModel> make_preact_resnet18(const ModelOptions& o, bool deepmind) {
  return std::make_shared<PreActResNet18>(o, deepmind);
}

std::shared_ptr<NativeModel> make_wide_resnet(const ModelOptions& o, int64_t depth, int64_t widen,
                                              bool deepmind) {
  if (depth < 10 || (depth - 4) % 6 != 0 || widen < 1) {
    throw ConfigError("wide resnet: depth must be 6n+4 (n >= 1) and widen >= 1, got depth " +
                      std::to_string(depth) + ", widen " + std::to_string(widen));
  }
  return std::make_shared<WideResNet>(o, depth, widen, deepmind);
}

}  // namespace sfb::models
