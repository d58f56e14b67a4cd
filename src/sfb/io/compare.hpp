#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/rank_stats.hpp"

namespace sfb::io {

/// What `sfbench compare` reads from one results file (sf, attack or eval).
struct ModelRecord {
  std::string file, model, dataset, split;
  bool has_sf = false;
  double sf = 0, sf_ci_low = 0, sf_ci_high = 0;
  double clean_acc = -1;                 ///< -1 when the file has neither SF nor attacks
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

}  // namespace sfb::io
