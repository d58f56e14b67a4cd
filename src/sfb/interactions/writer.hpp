#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "interactions/accumulator.hpp"
#include "interactions/stage.hpp"
#include "io/results_file.hpp"

namespace sfb::interactions {

/// Writes /samples/{index,label,pred,correct} and the /interactions results of DESIGN.md's
/// contract (results_schema/HDF5_LAYOUT.md): orders [M] int64, order_ratio [M] (m / n_p), for each
/// computed row X of Row: X [M] float64 and X_stderr [M]; J_nor, J_adv, J_adv_advclass and dJ
/// (= factor · I) with their standard errors; count [kNumRows, M] int64; with save_per_image
/// per_image/X [n, M] float64, per_image/utility [n], per_image/adv_pred [n]; attributes of the
/// run on /interactions; metrics.interactions in the summary. The stage's timing is
/// ResultsFile::record_stage. Collective.
void write_interactions(io::ResultsFile& rf, const InteractionsStage& stage,
                        const InteractionStatistics& s);

/// Writes the figures of paper 001 next to `out` (results.h5 -> results.interactions_I.svg,
/// results.interactions_dJ.svg, results.interactions_D.svg): I^(m) normal vs adversarial,
/// ΔJ^(m) and D^(m) against m/n_p, with ±1 standard error bars, drawn by io::svg (points carry
/// their values in data attributes). The title names the figure, then `title` (the model and
/// data specs); a long one wraps onto two lines and is in full in the SVG's <title>. Returns the
/// paths written (the adversarial figure only when computed). Each is written to an exclusive
/// temporary file and renamed into place (write_file_atomically). Not collective (rank 0 calls it).
std::vector<std::filesystem::path> write_plots(const InteractionStatistics& s,
                                               const std::filesystem::path& out,
                                               const std::string& title);

/// Every figure write_plots() may write next to `out`.
std::vector<std::filesystem::path> plot_paths(const std::filesystem::path& out);

/// True when `file` is an SVG figure of write_plots() (its title, in the first <title> or, in the
/// files of sfbench before io::svg, the first <text>, names I(m), dJ(m) or D(m)), which a run may
/// replace. Not collective.
bool is_sfbench_plot(const std::filesystem::path& file);

}  // namespace sfb::interactions
