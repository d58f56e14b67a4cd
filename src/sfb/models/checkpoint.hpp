#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "models/native_model.hpp"

namespace sfb::models {

/// What a checkpoint records besides the weights.
struct CheckpointInfo {
  std::string arch;         ///< zoo architecture name, e.g. "wrn-28-10"
  ModelOptions options;     ///< the options the model was built with
  std::string config_toml;  ///< resolved config of the run that wrote it (may be empty)
  int64_t epoch = 0;        ///< training epochs completed
};

/// Writes `model` (architecture name, options, every parameter and buffer), `config_toml` and
/// `epoch` to `file` in one LibTorch archive (torch::serialize::OutputArchive). Written to an
/// exclusive temporary file ("<file>.<tag>.partial", NewFile: never an existing file or a symbolic
/// link) and renamed, so a reader never sees a half-written checkpoint. Parameters are
/// stored on the CPU. Throws IoError naming the file when it cannot be written. Not collective:
/// call on one rank.
/// `extra` (optional) is stored as a nested archive under `extra_key` (train/ keeps its optimizer
/// and progress there); readers of the model ignore it.
void save_checkpoint(const std::filesystem::path& file, NativeModel& model,
                     const std::string& config_toml = "", int64_t epoch = 0,
                     const std::string& extra_key = "",
                     torch::serialize::OutputArchive* extra = nullptr);

/// True when `file` is sfbench's: a native checkpoint (save_checkpoint) or a TorchScript file with
/// sfbench's extra files ("sfbench/..."), as `sfbench train` writes them. A run may replace such a
/// file; any other is refused. Not collective.
bool is_sfbench_checkpoint(const std::filesystem::path& file);

/// Reads the metadata of a checkpoint. Throws DataError (exit code 2) naming the file for a
/// missing, truncated or corrupt file, or one that is not an sfbench checkpoint.
CheckpointInfo read_checkpoint_info(const std::filesystem::path& file);

/// Builds the checkpoint's architecture with its stored options, loads the weights, names it
/// "checkpoint:<file>" and sets its fingerprint to the file's SHA-256. The model is on the CPU in
/// eval mode. `info` (optional) receives the metadata. Throws DataError as read_checkpoint_info.
std::shared_ptr<NativeModel> load_checkpoint(const std::filesystem::path& file,
                                             CheckpointInfo* info = nullptr);

/// Loads weights into an existing `model` from `file`: an sfbench checkpoint (its architecture
/// must equal model.arch()), an archive written by torch::save(module) of the same architecture,
/// or a state_dict written by Python's torch.save (load_state_dict_file()). Every parameter and
/// buffer must be present with the model's shape. Sets the model's fingerprint to the file's
/// SHA-256. Throws DataError naming the file and the first mismatch (architecture, missing tensor,
/// shape).
void load_weights(NativeModel& model, const std::filesystem::path& file);

}  // namespace sfb::models
