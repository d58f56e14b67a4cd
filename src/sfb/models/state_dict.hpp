#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "models/native_model.hpp"

namespace sfb::models {

/// A published parameter layout that load_state_dict_file() maps onto the native zoo.
struct StateDictLayout {
  std::string name;                ///< "robustbench-wrn", ...
  std::string source;              ///< where the layout is defined, for messages and docs
  std::vector<std::string> archs;  ///< the zoo models it loads into
};

/// The layouts load_state_dict_file() reads, in the order it tries them.
const std::vector<StateDictLayout>& state_dict_layouts();

/// Loads a PyTorch state_dict written by Python's torch.save (read_torch_save()) into `model`
/// (`zoo:NAME@FILE`). The state_dict is the file's top-level dict or, in a training checkpoint,
/// the dict under "state_dict", "model_state_dict", "model" or "net" (nested any depth); keys may
/// carry "module." (DataParallel) or "model." (a wrapper) prefixes. Its layout is recognised by
/// its keys and mapped onto the native names:
///  - RobustBench WideResNet (model_zoo/architectures/wide_resnet.py) -> wrn-28-10, wrn-34-10;
///  - RobustBench PreActResNet with the final BatchNorm (resnet.py, PreActBlock with
///    out_shortcut=True or PreActBlockV2, bn_before_fc=True) -> preact-resnet-18;
///  - RobustBench's DeepMind DMWideResNet (dm_wide_resnet.py) -> dm-wrn-28-10, dm-wrn-70-16;
///  - RobustBench's DeepMind DMPreActResNet, depth 18 -> dm-preact-resnet-18;
///  - torchvision resnet18, resnet34, resnet50 -> resnet-18, resnet-34, resnet-50;
///  - sfbench's own names (identity).
/// Normalization: the file's "mu"/"sigma" (RobustBench wrappers) or "mean"/"std" when it has
/// them; otherwise what the layout's models do: none for RobustBench's (mean 0, std 1: they take
/// [0, 1] inputs), DeepMind's constants for its models (not in their state_dicts), the ImageNet
/// mean/std for torchvision's (applied by its transforms). DataError
/// naming the file and the first missing, unexpected or mis-shaped tensor (with its name in the
/// file), or a layout that belongs to another zoo model. Sets the model's weights SHA-256 to the
/// file's.
void load_state_dict_file(NativeModel& model, const std::filesystem::path& file);

}  // namespace sfb::models
