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
/// datasets with their dtype and consistent dimensions, every dataset reads back in full, and the
/// groups and datasets that the command named by the root attribute subcommand always writes are
/// there (the layout's "required_by_command"). Not collective; does not throw for invalid content
/// (only reports).
ValidationReport validate_results(const std::filesystem::path& file);

/// Checks a JSON summary against results_schema/summary.schema.json (JSON Schema draft 7) plus
/// config_sha256 = SHA-256(config_toml). Not collective.
ValidationReport validate_summary(const std::filesystem::path& file);
/// validate_summary() on the summary's text; `name` names it in problems.
ValidationReport validate_summary_text(const std::string& text, const std::string& name);

/// Reads `file` once, from its start, and dispatches on content: the HDF5 signature →
/// validate_results (a regular file; through a pipe or FIFO a problem saying HDF5 needs the
/// path), '{' → validate_summary_text on the text read (pipes and FIFOs included), otherwise a
/// `.json` name → summary, a regular file → validate_results (HDF5's reason), else a problem.
/// A regular results file and the summary next to it (r.h5 and r.json) must carry the same
/// run_id when both have one: otherwise they are from different runs, and that is a problem.
ValidationReport validate_path(const std::filesystem::path& file);

/// The embedded schema texts (compiled in from results_schema/ so an installed binary needs no
/// source tree).
const char* summary_schema_text();
const char* results_layout_text();

}  // namespace sfb::io
