#pragma once
#include "attribution/stage.hpp"
#include "io/results_file.hpp"

namespace sfb::attribution {

/// Writes /samples/{index,label,pred,correct}, /attribution/{confidence,confidence_group} [n] and
/// per method M: /attribution/M/{gini,gini_regional} [n] float64, with masks snr_db [n];
/// the per-class summaries gini_by_class, gini_regional_by_class [C] float64, count_by_class [C]
/// int64; with masks snr_db_by_group, snr_db_stderr_by_group [3] float64, snr_count_by_group [3]
/// int64; the scalar means and standard errors as attributes of /attribution/M; the run's
/// settings as attributes of /attribution; metrics.attribution in the summary
/// (results_schema/HDF5_LAYOUT.md). The stage's timing is ResultsFile::record_stage. Collective.
void write_attribution(io::ResultsFile& rf, const AttributionStage& stage,
                       const AttributionStatistics& s);

}  // namespace sfb::attribution
