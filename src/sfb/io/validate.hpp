#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace sfb::io {

/// What `sfbench validate` found in one file.
struct ValidationReport {
  std::string kind;                   ///< "results" (HDF5) or "summary" (JSON)
  std::vector<std::string> problems;  ///< empty when the file is valid
  std::vector<std::string> notes;     ///< facts worth showing (datasets checked, unlisted paths)
  bool ok() const { return problems.empty(); }
};

/// Checks an HDF5 results file against results_schema/results_layout.json: it opens (a truncated
/// or corrupt file is named with HDF5's reason), has every root attribute with its type,
/// complete = 1, config_sha256 = SHA-256(config_toml), the required groups and attributes, listed
/// datasets with their dtype and consistent dimensions, and every dataset reads back in full.
/// Not collective; does not throw for invalid content (only reports).
ValidationReport validate_results(const std::filesystem::path& file);

/// Checks a JSON summary against results_schema/summary.schema.json (JSON Schema draft 7) plus
/// config_sha256 = SHA-256(config_toml). Not collective.
ValidationReport validate_summary(const std::filesystem::path& file);

/// Dispatches on content: HDF5 signature → validate_results, otherwise validate_summary.
ValidationReport validate_path(const std::filesystem::path& file);

/// The embedded schema texts (compiled in from results_schema/ so an installed binary needs no
/// source tree).
const char* summary_schema_text();
const char* results_layout_text();

}  // namespace sfb::io
