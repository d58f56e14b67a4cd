#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/native_model.hpp"

namespace sfb::models {

/// The native architectures, as accepted by make_zoo_model():
/// cnn-small (k = 128), preact-resnet-18 (k = 512), wrn-28-10 and wrn-34-10 (k = 640) for 32×32
/// inputs; resnet-18, resnet-34 (k = 512) and resnet-50 (k = 2048) in the torchvision ImageNet
/// layout. All accept any image size large enough for their downsampling (global pooling at the
/// end).
std::vector<std::string> zoo_names();

/// Builds zoo architecture `arch` with weights drawn from LibTorch's CPU generator seeded with
/// o.seed (the generator's state is restored afterwards). The model is on the CPU in training mode.
/// Throws ConfigError listing zoo_names() for an unknown name, or for bad options.
std::shared_ptr<NativeModel> make_zoo_model(const std::string& arch, const ModelOptions& o);

/// Small fast CNN: three blocks conv3×3-BN-act (32, 64, 128 channels; 2×2 max pool after the
/// first two), global average pool -> k = 128. Layers: block1, block2, block3, features.
std::shared_ptr<NativeModel> make_cnn_small(const ModelOptions& o);

/// Pre-activation ResNet-18 for CIFAR (He et al. 2016, "Identity mappings"; the PreActResNet-18 of
/// RobustBench / Rice et al.): 3×3 stem, four stages of two PreActBlocks (64, 128, 256, 512,
/// strides 1, 2, 2, 2), final BN-act, global average pool -> k = 512.
/// Layers: stem, block1, block2, block3, block4, features. `deepmind`: DeepMind's variant
/// (RobustBench dm_wide_resnet.py DMPreActResNet, depth 18, arch "dm-preact-resnet-18"): the
/// strided convolutions pad TensorFlow's SAME way (bottom and right), and a block that changes
/// stride or width adds a 3×3 convolution of its raw (not normalized) input as the shortcut; its
/// Swish activation comes from o.activation.
std::shared_ptr<NativeModel> make_preact_resnet18(const ModelOptions& o, bool deepmind = false);

/// Wide ResNet WRN-depth-widen for CIFAR (Zagoruyko & Komodakis 2016, the variant TRADES and
/// RobustBench use): 3×3 stem with 16 channels, three groups of (depth-4)/6 pre-activation basic
/// blocks with 16·w, 32·w, 64·w channels (strides 1, 2, 2), final BN-act, global average pool ->
/// k = 64·w. Layers: stem, block1, block2, block3, features. Throws ConfigError unless
/// (depth - 4) % 6 == 0. `deepmind`: DeepMind's variant (RobustBench dm_wide_resnet.py
/// DMWideResNet, arch "dm-wrn-D-W"): the strided convolutions pad TensorFlow's SAME way (one row
/// and column, bottom and right); its Swish activation comes from o.activation.
std::shared_ptr<NativeModel> make_wide_resnet(const ModelOptions& o, int64_t depth, int64_t widen,
                                              bool deepmind = false);

/// ResNet-18/34/50 in the torchvision ImageNet layout (7×7 stride-2 stem, BN, act, 3×3 stride-2
/// max pool; stages layer1..layer4 of BasicBlocks [2,2,2,2] / [3,4,6,3] or Bottlenecks [3,4,6,3]
/// with the stride on the 3×3 conv; global average pool). Parameter names follow torchvision
/// (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc). `depth` in {18, 34, 50}.
/// Layers: stem, layer1, layer2, layer3, layer4, features.
std::shared_ptr<NativeModel> make_resnet(const ModelOptions& o, int64_t depth);

}  // namespace sfb::models
