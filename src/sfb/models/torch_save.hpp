#pragma once
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sfb::models {

/// A value of a file written by Python's torch.save, as far as sfbench needs it: tensors and the
/// dicts, lists and scalars around them. Whatever else the pickle holds (an argparse Namespace, a
/// NumPy scalar, optimizer classes) is kept as an opaque value that names its Python class.
struct SavedValue {
  using Dict = std::vector<std::pair<SavedValue, SavedValue>>;  ///< in file order
  using List = std::vector<SavedValue>;                         ///< lists and tuples
  /// An object of a Python class sfbench does not rebuild: "module.Class".
  struct Opaque {
    std::string type;
  };
  std::variant<std::monostate, bool, int64_t, double, std::string, torch::Tensor, List,
               std::shared_ptr<Dict>, Opaque>
      v;

  bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(v); }
  bool is_tensor() const { return std::holds_alternative<torch::Tensor>(v); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  /// The dict (is_dict() must hold).
  const Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(v); }
  /// A short description for error messages: "dict of 102 entries", "tensor [64, 3, 3, 3]",
  /// "argparse.Namespace", ...
  std::string describe() const;
};

/// Reads `file`, written by Python's torch.save in the zip format (PyTorch >= 1.6; the default):
/// the zip container through LibTorch's PyTorchStreamReader, the pickle `data.pkl` with a small
/// reader of the opcodes torch.save writes (protocols 2 to 4), each tensor's bytes from its
/// `data/<key>` record, on the CPU wherever it was saved. LibTorch's own torch::pickle_load is not
/// used: it reads a collections.OrderedDict, which every state_dict is, as None (PyTorch issue
/// 100741). Nothing in the file is executed: an unknown class becomes SavedValue::Opaque, as
/// torch.load(weights_only=True) would refuse to build it. DataError naming the file for anything
/// else: not a zip (the legacy pre-1.6 format gets its own message), no data.pkl, a truncated or
/// malformed pickle, a storage record missing or too short.
SavedValue read_torch_save(const std::filesystem::path& file);

/// True when `file` is a zip archive holding data.pkl and no TorchScript code (what torch.save
/// writes, unlike torch.jit.save and LibTorch's torch::save). Never throws.
bool is_torch_save_file(const std::filesystem::path& file);

}  // namespace sfb::models
