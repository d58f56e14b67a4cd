#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attribution/agreement.hpp"

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

}  // namespace sfb::attribution
