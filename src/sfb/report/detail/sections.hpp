#pragma once
// The sections of the report page and the HTML pieces they share. Each section function returns
// one <section> element (or a <section> holding only the line that says why it is empty).
#include <string>
#include <vector>

#include "io/svg_chart.hpp"
#include "report/report.hpp"

namespace sfb::report::detail {

/// The colour of model (or method) `i` in every chart of the page (a 10-colour palette, cycled).
std::string colour(std::size_t i);

/// <section class="sfb-section" id=.. data-section=..><h2>title</h2>body</section>.
std::string section(const std::string& id, const std::string& title, const std::string& body);

/// <figure class="sfb-figure" data-figure=key>body<figcaption>caption Source: files.</figcaption>
/// </figure>; `caption` is HTML (escaped by the caller), the file names are escaped here.
std::string figure(const std::string& key, const std::string& body, const std::string& caption,
                   const std::vector<std::string>& files);

/// The one line that replaces a figure or section without data:
/// <p class="sfb-absent" data-absent=key>why</p> (`why` is escaped here).
std::string absent(const std::string& key, const std::string& why);

/// True when some point (finite x and y), bar or cell of the chart has a finite value.
bool has_data(const io::svg::XyPlot& p);
bool has_data(const io::svg::BarChart& c);
bool has_data(const io::svg::Matrix& m);

/// figure(key, render(chart), caption, files) when has_data(chart), else absent(key, why): a
/// chart without numbers is never drawn.
std::string chart_figure(const std::string& key, const io::svg::XyPlot& chart,
                         const std::string& caption, const std::vector<std::string>& files,
                         const std::string& why);
std::string chart_figure(const std::string& key, const io::svg::BarChart& chart,
                         const std::string& caption, const std::vector<std::string>& files,
                         const std::string& why);
std::string chart_figure(const std::string& key, const io::svg::Matrix& chart,
                         const std::string& caption, const std::vector<std::string>& files,
                         const std::string& why);

/// The model group holding file `f`, or -1 when the file belongs to none.
int model_of(const Zoo& zoo, std::size_t f);

/// The label of file `f`'s model (its stem when it belongs to none).
std::string label_of(const Zoo& zoo, std::size_t f);

/// The paths of the files `files` of the zoo.
std::vector<std::string> paths(const Zoo& zoo, const std::vector<std::size_t>& files);

/// The leaderboard (one row per model, sortable) and the SF vs ΔAcc scatters with Spearman ρ and
/// Kendall τ per attack (io::correlate).
std::string leaderboard_section(const Zoo& zoo, const RenderOptions& options);
std::string correlation_section(const Zoo& zoo, const RenderOptions& options);
/// Sorted C_i per model (paper 000 Fig. 6) and activation differences by C order (Fig. 2).
std::string sf_section(const Zoo& zoo);
/// Robust accuracy after each stage of multi-stage attack groups (AutoAttack).
std::string stages_section(const Zoo& zoo);
/// I, J, ΔJ, D over the orders, clean vs adversarial (paper 001).
std::string interactions_section(const Zoo& zoo);
/// Gini, inductive error rates vs the random control (paper 002), SNR, agreement and montages
/// (paper 003).
std::string attribution_section(const Zoo& zoo);
/// Loss terms, SF and accuracy per epoch.
std::string training_section(const Zoo& zoo);
/// Per model and file: versions, commit, config hash, fingerprints, world size, devices.
std::string provenance_section(const Zoo& zoo);

}  // namespace sfb::report::detail
