#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attribution/agreement.hpp"
#include "io/table.hpp"

namespace sfb::attribution {

/// What `sfbench compare` reads from the attribution stage of one results file.
struct AttributionRecord {
  std::string file;                    ///< the results file
  std::string dataset_sha256;          ///< /dataset sha256 (maps are compared on equal data only)
  std::vector<std::string> methods;    ///< the run's methods, in run order
  std::vector<int64_t> top_pixels;     ///< T of the inductive noise (empty: not run)
  std::vector<std::string> occlusion;  ///< occlusion colours (empty: not run)
  double accuracy = 0;                 ///< clean accuracy of the attributed images
  int64_t n = 0;                       ///< images attributed
  struct Method {
    double gini = 0, gini_regional = 0;
    std::vector<double> noise1, noise2;  ///< error rate per T
    std::vector<double> occlusion;       ///< error rate per colour
    bool has_maps = false;               ///< /attribution/maps/<method> exists
  };
  std::vector<Method> per_method;  ///< parallel to `methods`
  /// The random-pixel controls of the noise (method-independent): error rate per T.
  std::vector<double> random_noise1, random_noise2;
  torch::Tensor map_index;  ///< [k] int64 indices of the saved maps (empty: none)
};

/// Reads the attribution results of a complete, validated results file; `has_attribution` false
/// (and nothing else filled) when the file has no /attribution group. Throws IoError naming the
/// file for a malformed attribution group.
AttributionRecord read_attribution(const std::string& file, bool& has_attribution);

/// The model×model agreement of one method (paper 003): entry (i, j) is the mean over the images
/// both files saved maps of of the Spearman ρ between file i's and file j's maps, with a 95 %
/// normal interval (SD/√count) and the number of images with a finite ρ. NaN and count 0 where two
/// files share no saved image or were run on different data.
struct AgreementMatrix {
  std::string method;
  std::vector<size_t> records;  ///< positions (in the records passed) of the files with these maps
  std::vector<std::vector<MeanCi>> rho;  ///< [records][records]
};

/// One matrix per method that at least two records saved maps of; `notes` receives why a pair was
/// not compared (different datasets or image sizes, no common image). Reads the maps from the
/// files.
std::vector<AgreementMatrix> agreement_matrices(const std::vector<AttributionRecord>& records,
                                                std::vector<std::string>& notes);

/// The attribution side of `sfbench compare`: the records of the files with attribution results,
/// the agreement matrices of their saved maps, and notes on pairs not compared.
struct AttributionComparison {
  std::vector<AttributionRecord> records;
  std::vector<AgreementMatrix> matrices;
  std::vector<std::string> notes;
};

/// Reads every file that has attribution results (others are skipped) and computes the agreement
/// matrices. Throws IoError naming a file whose attribution group is malformed.
AttributionComparison compare_attribution(const std::vector<std::string>& files);

/// The console tables: per file a control row (random pixels, when run) and a row per method with
/// n, accuracy, Gini, regional Gini and one column per inductive attack setting (Noise-I and
/// Noise-II per T, then the occlusion colours), footnoted with what an error rate is; then per
/// method the model×model Spearman ρ matrix ("mean [low, high] n=count"). The notes follow the
/// last table as "note: ..." footnotes. Empty when there are no records.
std::vector<io::Table> attribution_tables(const AttributionComparison& c);

/// The same as JSON: {"models": [one object per file and method, and per control row],
/// "agreement": [{method, files, spearman, ci_low, ci_high, count}], "notes": [...]}; a matrix
/// entry without images is null (count 0).
nlohmann::json attribution_json(const AttributionComparison& c);

}  // namespace sfb::attribution
