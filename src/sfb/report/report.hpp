#pragma once
// `sfbench report`: one self-contained HTML page (inline SVG figures of io/svg_chart.hpp, PNG
// montages as data: URIs, no network, readable without JavaScript) from any mix of results files
// of a model zoo. load() reads and groups the files, render() builds the page, write_report()
// publishes it. What the page holds: docs/commands/tools.md#report.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attribution/compare.hpp"
#include "io/compare.hpp"
#include "report/models.hpp"

namespace sfb::report {

/// A number with a ± standard error per entry ([M] each).
struct Values {
  std::vector<double> value, se;  ///< se: one standard error per entry
};

/// One attack group of /attacks/<label> (not worst_case).
struct AttackData {
  std::string label, spec;  ///< "pgd_steps-20" and its attack spec "pgd:steps=20"
  /// Attributes clean_acc, adv_acc (fractions of n) and accuracy_drop (1 − adv/clean).
  double clean_acc = 0, adv_acc = 0, accuracy_drop = 0;
  int64_t n = 0;                         ///< samples of /attacks/<label>/robust
  std::vector<std::string> stage_names;  ///< attribute stage_names (empty when absent)
  std::vector<double> stage_adv_acc;     ///< attribute stage_adv_acc
  std::vector<double> activation_diff;   ///< [k] eval only, neurons in C-descending order
};

/// /interactions: every curve over the orders (SPEC §4).
struct InteractionsData {
  std::vector<double> order_ratio;  ///< [M] m / n_p
  std::vector<int64_t> orders;      ///< [M] m
  int64_t n = 0, grid = 0;          ///< attributes n (images) and grid (G of the G×G patches)
  /// name ("I_nor", "J_adv", "dJ", "D_nor", ...) -> values and their standard errors.
  std::vector<std::pair<std::string, Values>> curves;
  /// The curve `name`, or nullptr when the file has none.
  const Values* find(const std::string& name) const;
};

/// /attribution (papers 002, 003): summaries per method, the controls, and the saved maps.
struct AttributionData {
  struct Method {
    std::string name;  ///< the method ("saliency", ...)
    /// Attributes gini, gini_regional (means over images) and their standard errors.
    double gini = 0, gini_se = 0, gini_regional = 0, gini_regional_se = 0;
    std::vector<double> noise1, noise2;           ///< [T] error rates (empty: not run)
    std::vector<double> noise1_ci, noise2_ci;     ///< [T, 2] row-major
    std::vector<double> occlusion, occlusion_ci;  ///< [K], [K, 2] per colour
    std::vector<double> snr, snr_se;              ///< [3] per confidence group (empty: no masks)
    std::vector<int64_t> snr_count;               ///< [3]
    torch::Tensor maps;                           ///< [rows, H, W] saved maps (first rows only)
  };
  int64_t n = 0;
  double accuracy = 0;
  std::vector<Method> methods;
  std::vector<int64_t> top_pixels;   ///< T
  std::vector<std::string> colours;  ///< occlusion colours
  std::vector<double> random_noise1, random_noise2, random_noise1_ci, random_noise2_ci;
  std::vector<std::string> agreement_pairs;  ///< "a~b"
  std::vector<double> agreement_mean;        ///< [P]
  std::vector<std::string> map_rows;         ///< "index i, label y, pred p" per saved row
  std::filesystem::path run_montage;         ///< <stem>.montage.png when it exists
};

/// /train/epoch: one value per epoch.
struct TrainData {
  std::vector<double> epoch;                                       ///< 1-based epoch numbers
  std::vector<std::pair<std::string, std::vector<double>>> terms;  ///< loss terms, then sf, total
  std::vector<double> sf, accuracy, adv_accuracy;  ///< SF, clean and adversarial accuracy
  std::string loss, checkpoint;  ///< /train attributes: the loss and the checkpoint written
};

/// Everything the report shows of one results file.
struct FileData {
  std::string path, stem;  ///< as given on the command line; file name without extension
  std::string subcommand;  ///< root attribute subcommand ("eval", "train", ...)
  FileKey key;             ///< what group_models() groups by
  io::ModelRecord record;  ///< compare's reading (SF, accuracies, attacks)
  /// /model and /dataset attributes ("" when the file has none).
  std::string model_spec, model_arch, model_sha256, dataset_spec, dataset_sha256, split;
  int64_t n = 0, correct = 0;  ///< /samples/correct: samples and correctly classified ones
  /// Provenance rows (name, value): versions, commit, config hash, fingerprints, world size, ...
  std::vector<std::pair<std::string, std::string>> provenance;
  std::vector<double> sf_sorted;    ///< /sf/sorted (empty: no SF)
  std::vector<AttackData> attacks;  ///< every /attacks group but worst_case, in label order
  /// The command's results, when the file has them.
  std::optional<InteractionsData> interactions;
  std::optional<AttributionData> attribution;
  std::optional<TrainData> train;
};

/// The loaded inputs: the files, in the order given, and the models they form.
struct Zoo {
  std::vector<FileData> files;                   ///< in the order given
  std::vector<ModelGroup> models;                ///< group_models() of the files' keys
  attribution::AttributionComparison agreement;  ///< model×model map agreement (compare's)
  std::vector<std::string> notes;                ///< what was read but not shown, and why
};

/// The most saved maps per method a montage of the report shows.
inline constexpr int64_t kMontageRows = 8;

/// Reads every file (each must be a complete, valid sfbench results file: io::read_record's
/// validation) and groups them into models (group_models). A `train` file's fingerprint is the
/// SHA-256 of the checkpoint it wrote (its /train `checkpoint`, as named or next to the results
/// file), which is what /model sha256 holds for a run of `zoo:NAME@FILE` or `checkpoint:FILE`;
/// without that file, the SHA-256 of its final parameters (/train weights_sha256). Throws
/// IoError (exit code 2) naming the first file that is missing, incomplete or invalid. Not
/// collective.
Zoo load(const std::vector<std::string>& files);

/// What render() needs besides the zoo.
struct RenderOptions {
  uint64_t seed = 0;         ///< seed of the correlation tests' permutations and bootstrap
  std::string command_line;  ///< shown in the page's header
};

/// The whole HTML page. Deterministic for the same zoo and options. Not collective.
std::string render(const Zoo& zoo, const RenderOptions& options);

/// True when `file` is a regular file whose first 4 KiB hold the report's generator marker
/// (has_report_marker). Not collective.
bool is_report(const std::filesystem::path& file);

/// Checks before any work that `out` may be written: its directory exists, its name fits, and an
/// existing file there is an sfbench report (never anything else, a results file included).
/// IoError (exit code 2) naming `out`. Not collective.
void check_report_output(const std::filesystem::path& out);

/// check_report_output(out), then writes `html` through an exclusive temporary file renamed onto
/// `out` (write_file_atomically). IoError naming `out`. Not collective.
void write_report(const std::filesystem::path& out, const std::string& html);

}  // namespace sfb::report
