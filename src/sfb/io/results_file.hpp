#pragma once
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/context.hpp"
#include "io/h5_node.hpp"

namespace sfb::io {
namespace h5 {
class Handle;
}  // namespace h5

using AttrValue = H5Value;

/// Version of the results layout written by this sfbench (root attribute schema_version).
/// 2: every stage's timing record has the same keys (record_stage); 1: per-stage rate names
/// (sf_images_per_s, interactions_masked_forwards_per_s). validate and compare read both.
inline constexpr int64_t kSchemaVersion = 2;

/// One stage's timing record (ResultsFile::record_stage), the same keys for every stage.
struct StageTiming {
  double seconds = 0;         ///< wall seconds of the stage, max over ranks
  double items = 0;           ///< units of work the stage did, all ranks together
  std::string unit;           ///< what `items` counts: "images", "samples", "masked forwards"
  double device_seconds = 0;  ///< this rank's device seconds (DeviceClock)
  comm::Traffic traffic;      ///< this rank's collectives during the stage
};

/// One metric of an analysis (ResultsFile::record_metrics): an attribute name and its value.
struct Metric {
  std::string key;
  AttrValue value;
};

/// Where a metric is mirrored in the JSON summary: the keys from the summary's root, e.g.
/// {"metrics", "attacks", "pgd"} or {"train"}.
using SummaryKey = std::vector<std::string>;

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

/// True when `file` is an HDF5 file whose root has the attribute sfbench_version (a results file
/// or an attack checkpoint of any sfbench version). Not collective.
bool is_results_file(const std::filesystem::path& file);
/// True when `file` is a JSON object with sfbench_version and schema_version (an sfbench summary).
/// Not collective.
bool is_summary_file(const std::filesystem::path& file);

/// A file a command writes next to its results file, besides the results file and its summary:
/// a checkpoint, a figure. Used to refuse, before any work, to replace someone else's file.
struct Companion {
  std::filesystem::path path;
  std::string what;  ///< what sfbench writes there: "training checkpoint", "montage"
  /// True when an existing file at `path` is sfbench's own (from an earlier run).
  std::function<bool(const std::filesystem::path&)> is_ours;
};

/// Checks that `c.path` can be written: its name fits its file system, and an existing file of
/// that name is sfbench's own (c.is_ours). Throws IoError with exit code 2 naming the path and
/// what sfbench would write there. Not collective.
void check_companion(const Companion& c);

/// Checks that `out` can become a results file: its directory exists and is writable, and an
/// existing file of that name is an sfbench results file (so a typo never overwrites someone's
/// data), and so is an existing JSON summary next to it (summary_path) an sfbench summary. Names
/// must fit the file system. Throws IoError with exit code 2 naming the path. Not collective.
void check_output_path(const std::filesystem::path& out);

/// Claims `out` for this run before any work: rank 0 checks check_output_path(out), takes the
/// lock of `out` (lock_output(): a second run with the same `out` is refused with exit code 2
/// naming it) and checks check_companion() of each of `companions`. Without `out` (empty), each
/// companion is locked instead. Errors are agreed (exit code 2). Claiming again what this process
/// holds only repeats the checks. Collective.
void claim_output(Context& ctx, const std::filesystem::path& out,
                  const std::vector<Companion>& companions = {});

/// One run's parallel HDF5 results file (layout: results_schema/HDF5_LAYOUT.md).
///
/// claim_output(out) first (the run's lock on `out`; foreign files refused). Written under a
/// temporary name unique to the file, `<out>.<run_id>.partial` (partial_path()), created
/// exclusively (no existing file, no symbolic link), with root attribute complete = 0; finish()
/// sets complete = 1, closes, and renames it to `<out>` (atomically replacing an older result only
/// then) next to its JSON summary, which carries the same run_id. A run that dies before finish()
/// leaves only the .partial file behind. A write that fails (a full disk) is one agreed error
/// naming `out` and the system's reason; the temporary file is removed.
/// Every method except summary() is collective: all ranks call it in the same order with the same
/// paths and attribute values (values are checked for agreement across ranks).
class ResultsFile {
 public:
  /// Claims `out`, creates its temporary file and writes the root attributes (run_id among
  /// them), /provenance and the HDF5 version.
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
  /// Writes a dataset whose value every rank holds (rank 0's copy is written). Any shape, scalar
  /// too.
  void write_global(const std::string& path, const torch::Tensor& value);
  /// Sets attribute `key` on the group or dataset `object` (groups are created as needed).
  void set_attr(const std::string& object, const std::string& key, const AttrValue& value);
  /// Records metrics once: each becomes attribute `key` of `object` (a group or dataset, groups
  /// created as needed) and the same value at <where>.<key> in the JSON summary (a number, a string
  /// or a list). Collective.
  void record_metrics(const std::string& object, const SummaryKey& where,
                      const std::vector<Metric>& metrics);
  /// Records a result array once: writes the global dataset `path` (write_global) and mirrors its
  /// values into the summary at <where>.<key> (a number for a 0-dim tensor, a flat list of
  /// float64 values otherwise). Collective.
  void record_values(const std::string& path, const SummaryKey& where, const std::string& key,
                     const torch::Tensor& value);
  /// The summary record rank 0 writes at finish(); commands add "metrics", "timing", "dataset",
  /// "model" objects. Only rank 0's content is used. Not collective.
  nlohmann::json& summary() { return summary_; }
  /// Records a stage's timing, one record with the same keys for every stage: the /timing
  /// attributes <stage>_seconds, <stage>_items, <stage>_unit, <stage>_items_per_s (items/seconds, 0
  /// for 0 s) and timing.<stage>.{seconds, items, unit, items_per_s} in the summary, plus
  /// record_device_seconds() and record_traffic() of `mine`. Collective.
  void record_stage(const std::string& stage, const StageTiming& mine);
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
  /// 12 hex digits naming this file's run: root attribute run_id, "run_id" in the summary and
  /// part of the temporary names.
  const std::string& run_id() const { return run_id_; }

 private:
  void agree_on(const std::string& what, const std::string& canonical);
  /// Runs the HDF5 work `fn` on every rank and agrees on its failure: then the file is abandoned
  /// (abandon()) and every rank throws the same AgreedError naming `out` and `what` was written.
  void guarded(const std::string& what, const std::function<void()>& fn);
  /// After a failed write: the temporary file is removed (rank 0) and the HDF5 handle is dropped
  /// without a close (a file that failed to write cannot be closed reliably; the job then ends
  /// through MPI_Abort, Context::set_abort_at_exit()).
  void abandon();
  Context& ctx_;
  std::filesystem::path out_, partial_;
  std::string run_id_;
  std::unique_ptr<h5::Handle> file_;  // the HDF5 file; <hdf5.h> stays in results_file.cpp
  nlohmann::json summary_;
  bool finished_ = false;
};

}  // namespace sfb::io
