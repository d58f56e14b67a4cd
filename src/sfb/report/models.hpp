#pragma once
// How `sfbench report` maps results files to models (docs/commands/tools.md#report): a model is
// the set of files whose weights fingerprint agrees.
#include <cstddef>
#include <string>
#include <vector>

namespace sfb::report {

/// What grouping needs of one results file.
struct FileKey {
  /// The weights fingerprint: /model sha256 for files that evaluate a model; for a `train` file
  /// the fingerprint of the weights it produced (see load()). Empty: the file is not about a
  /// model (commbench, info without --model) and joins no group.
  std::string fingerprint;
  /// /model spec of a file that evaluates the model ("zoo:cnn-small@runs/q/standard.ckpt"); empty
  /// for a `train` file (its /model is the starting point, not the model it produced).
  std::string spec;
  std::string stem;  ///< the file name without its extension
};

/// One model of the report: files that share a fingerprint.
struct ModelGroup {
  std::string label;               ///< short, unique among the groups (legend text, table row)
  std::string title;               ///< the full spec and fingerprint (tooltip)
  std::string fingerprint;         ///< FileKey::fingerprint of every file in the group
  std::vector<std::size_t> files;  ///< positions in the keys passed, in input order
};

/// `spec` with every path shortened to its last component and the result cut to at most 48
/// characters (keeping its end, "…" in front): "zoo:cnn-small@runs/quickstart/standard.ckpt" ->
/// "zoo:cnn-small@standard.ckpt", "torchscript:/a/b/m.pt" -> "torchscript:m.pt".
std::string short_spec(const std::string& spec);

/// Groups `keys` by fingerprint, in the order each fingerprint first appears; keys with an empty
/// fingerprint join no group. A group's label is short_spec() of the first spec among its files,
/// else the stem of its first file; labels that collide get " [stem of the first file]"
/// appended, and a number when they still collide. Not collective; pure.
std::vector<ModelGroup> group_models(const std::vector<FileKey>& keys);

}  // namespace sfb::report
