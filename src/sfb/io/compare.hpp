#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/rank_stats.hpp"
#include "io/table.hpp"

namespace sfb::io {

/// What `sfbench compare` reads from one results file (sf, attack or eval).
struct ModelRecord {
  /// One attack group's threat model.
  struct Threat {
    std::string spec, norm;  ///< e.g. "autoattack", "linf"
    double eps = 0;
  };
  std::string file, model, dataset, split;
  std::string arch;                       ///< /model arch ("" when absent)
  std::string git_commit, config_sha256;  ///< root attributes of the results file
  std::string created_utc;
  int64_t n = 0;                         ///< samples evaluated (0 when unknown)
  std::map<std::string, Threat> threat;  ///< per attack label (not worst_case)
  bool has_sf = false;
  double sf = 0, sf_ci_low = 0, sf_ci_high = 0;
  double clean_acc = -1;                        ///< -1 when the file has neither SF nor attacks
  std::map<std::string, double> adv_acc;        ///< per attack label (incl. worst_case)
  std::map<std::string, double> accuracy_drop;  ///< ΔAcc per attack label
};

/// Reads one complete results file; IoError (exit 2) naming the file when it is not a complete
/// sfbench results file (validate_results problems are listed).
ModelRecord read_record(const std::filesystem::path& file);

/// Correlations across models between SF and an attack's ΔAcc and robust accuracy.
struct AttackCorrelation {
  std::string attack;
  int64_t models = 0;
  CorrelationTest rho_drop, tau_drop, rho_adv, tau_adv;
};

/// For every attack label present with SF in at least 3 records: Spearman ρ and Kendall τ-b of
/// SF against ΔAcc and against robust accuracy, with permutation p-values and bootstrap CIs.
std::vector<AttackCorrelation> correlate(const std::vector<ModelRecord>& records, uint64_t seed);

/// The whole comparison as JSON: {"models": [...], "correlations": [...]}.
nlohmann::json compare_json(const std::vector<ModelRecord>& records,
                            const std::vector<AttackCorrelation>& corr);

/// One record as a RobustBench model_info object: name (the results file's stem), architecture,
/// dataset, threat_model ("Linf"/"L2" of the AutoAttack group, else of the first attack), eps
/// ("8/255" style for Linf multiples of 1/255), clean_acc and autoattack_acc as percentage strings
/// with two decimals (autoattack_acc null without an AutoAttack group), additional_data false,
/// number_forward_passes null, empty link/authors/venue/reported/footnote; plus an "sfbench" object
/// with exact fractions, SF and its CI, adv_acc and ΔAcc per attack, the threat per attack, and
/// provenance (file, git_commit, config_sha256, created_utc).
nlohmann::json robustbench_json(const ModelRecord& r);

/// The model-zoo tables of `compare`: one row per record (model, SF with its CI, clean accuracy,
/// adv_acc and ΔAcc per attack label in sorted order; 4 decimals, SF 4 significant digits), then
/// the correlations (attack, models, statistic, value, 95% CI, p) or a footnote saying they need SF
/// and one attack in at least 3 files. Empty when no record has SF or attacks.
std::vector<Table> zoo_tables(const std::vector<ModelRecord>& records,
                              const std::vector<AttackCorrelation>& corr);

/// Writes DIR/<file stem>.json, the robustbench_json() of every record, each through an exclusive
/// temporary file renamed into place. IoError (exit 2) for a missing directory, two records with
/// the same stem or an existing DIR/<stem>.json that is not an sfbench model_info (checked before
/// any file is written); IoError when a file cannot be written.
void write_model_infos(const std::vector<ModelRecord>& records, const std::filesystem::path& dir);

}  // namespace sfb::io
