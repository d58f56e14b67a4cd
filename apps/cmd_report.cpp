// `sfbench report r1.h5 r2.h5 ... --out report.html`: one self-contained HTML page (leaderboard,
// SF vs ΔAcc, C_i curves, attack stages, interactions, attribution, training, provenance) from
// any mix of results files of a model zoo (report::load, report::render). Rank 0 reads and
// writes; other ranks only agree on errors.
#include <iostream>

#include "app.hpp"
#include "core/output_file.hpp"
#include "report/html.hpp"
#include "report/report.hpp"

namespace sfb::app {

Command register_report(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand(
      "report", "one self-contained HTML report (figures, tables, provenance) of results files");
  sub->add_option("files", inv.files, "results files (.h5) of any sfbench commands")->required();
  sub->footer(
      "--out report.html names the page (required); an existing file there must be an "
      "earlier sfbench report.");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "report", kNoSections);
            const std::filesystem::path out = inv2.common.out;
            std::size_t models = 0;
            ctx.agree([&] {
              if (ctx.rank() != 0) return;
              // Refuse a foreign file at --out before reading anything, and keep a second
              // report run on the same --out away while this one writes.
              report::check_report_output(out);
              lock_output(out);
              const report::Zoo zoo = report::load(inv2.files);
              report::RenderOptions opts;
              opts.seed = static_cast<uint64_t>(inv2.common.seed);
              opts.command_line = inv2.command_line;
              report::write_report(out, report::render(zoo, opts));
              models = zoo.models.size();
            });
            if (ctx.rank() == 0) {
              std::cout << "report: " << out.string() << " (" << report::count(models, "model")
                        << " from " << report::count(inv2.files.size(), "results file") << ")\n";
            }
            return 0;
          }};
}

}  // namespace sfb::app
