#pragma once
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "comm/context.hpp"
#include "io/hdf5/objects.hpp"

namespace sfb::io {

using AttrValue = h5::AttrValue;

/// Version of the results layout written by this sfbench (root attribute schema_version).
inline constexpr int64_t kSchemaVersion = 1;

/// What a run records about itself in the root attributes and the summary.
struct RunInfo {
  std::string command;        ///< the full command line
  std::string subcommand;     ///< "commbench", "sf", ...
  std::string config_toml;    ///< resolved configuration (ConfigSchema::to_toml())
  std::string config_sha256;  ///< SHA-256 of config_toml
  int64_t seed = 0;
};

/// The JSON summary that goes next to a results file: results.h5 -> results.json.
std::filesystem::path summary_path(const std::filesystem::path& out);

/// Checks that `out` can become a results file: its directory exists and is writable, and an
/// existing file of that name is an sfbench results file (so a typo never overwrites someone's
/// data). Throws IoError with exit code 2 naming the path. Not collective.
void check_output_path(const std::filesystem::path& out);

/// One run's parallel HDF5 results file (layout: results_schema/HDF5_LAYOUT.md).
///
/// Written as `<out>.partial` with root attribute complete = 0; finish() sets complete = 1,
/// closes, renames it to `<out>` (atomically replacing an older result only then) and writes the
/// JSON summary. A run that dies before finish() leaves only the .partial file behind.
/// Every method except summary() is collective: all ranks call it in the same order with the same
/// paths and attribute values (values are checked for agreement across ranks).
class ResultsFile {
 public:
  /// Creates `<out>.partial` and writes the root attributes, /provenance and the HDF5 version.
  ResultsFile(Context& ctx, const std::filesystem::path& out, const RunInfo& info);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  /// Writes this rank's rows [offset, offset + local.size(0)) of the per-sample dataset `path`
  /// (created with n = total rows over ranks). `local`: [rows, ...], any device, a supported dtype;
  /// all ranks pass the same dtype and trailing shape, and the ranks' rows must tile [0, n).
  void write_per_sample(const std::string& path, int64_t offset, const torch::Tensor& local);
  /// Writes this rank's rows of /samples/{index, label, pred} (int64) and /samples/correct (uint8,
  /// pred == label), the per-sample columns every evaluation stage shares. Collective.
  void write_samples(int64_t offset, const torch::Tensor& index, const torch::Tensor& labels,
                     const torch::Tensor& preds);
  /// Writes a dataset whose value every rank holds (rank 0's copy is written). Any shape, scalar too.
  void write_global(const std::string& path, const torch::Tensor& value);
  /// Sets attribute `key` on the group or dataset `object` (groups are created as needed).
  void set_attr(const std::string& object, const std::string& key, const AttrValue& value);
  /// The summary record rank 0 writes at finish(); commands add "metrics", "timing", "dataset",
  /// "model" objects. Only rank 0's content is used. Not collective.
  nlohmann::json& summary() { return summary_; }
  /// Records what a stage communicated: `mine` is this rank's traffic during the stage (difference
  /// of two Context::traffic() readings). Sets timing.<stage>.bytes_communicated (max over ranks),
  /// bytes_communicated_all_ranks (sum), collectives (max) in the summary and the matching
  /// /timing attributes <stage>_bytes_communicated, <stage>_collectives. Collective.
  void record_traffic(const std::string& stage, const comm::Traffic& mine);
  /// Records the seconds of device work a stage took: `mine` is this rank's (a DeviceClock: CUDA
  /// events on a GPU, the steady clock on a CPU). Sets timing.<stage>.device_seconds in the
  /// summary and the /timing attribute <stage>_device_seconds (max over ranks). Collective.
  void record_device_seconds(const std::string& stage, double mine);
  /// Marks the file complete, records wall_time_s (seconds since the Context was created, max over
  /// ranks), closes the file, renames it into place and writes the JSON summary.
  void finish();
  /// The final path (`out`).
  const std::filesystem::path& path() const { return out_; }

 private:
  void agree_on(const std::string& what, const std::string& canonical);
  Context& ctx_;
  std::filesystem::path out_, partial_;
  h5::Handle file_;
  nlohmann::json summary_;
  bool finished_ = false;
};

}  // namespace sfb::io
