// `sfbench compare r1.h5 r2.h5 ...`: the model-zoo tables (io::zoo_tables: SF, accuracy and ΔAcc
// per attack, SF vs ΔAcc / robust accuracy correlations) and, for files with attribution results,
// attribution::attribution_tables (Gini, inductive error rates, model×model map agreement).
// `--format robustbench` prints RobustBench model_info objects (a JSON array); `--out-dir DIR`
// also writes one model_info file per results file, DIR/<stem>.json.
// Rank 0 reads and prints; other ranks only agree on errors.
#include <iostream>

#include "app.hpp"
#include "attribution/compare.hpp"
#include "io/compare.hpp"

namespace sfb::app {

Command register_compare(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand(
      "compare", "compare results files over a model zoo: SF, accuracies, correlations");
  auto format = std::make_shared<std::string>("md");
  auto out_dir = std::make_shared<std::string>();
  sub->add_option("files", inv.files, "results files (.h5) of sf, attack or eval runs")->required();
  sub->add_option("--format", *format, "md|csv|json|robustbench (RobustBench model_info array)")
      ->check(CLI::IsMember({"md", "csv", "json", "robustbench"}));
  sub->add_option("--out-dir", *out_dir,
                  "also write RobustBench model_info DIR/<file stem>.json per model");
  return {sub, [format, out_dir](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "compare", kNoSections);
            std::vector<io::ModelRecord> recs;
            std::vector<io::AttackCorrelation> corr;
            attribution::AttributionComparison att;
            ctx.agree([&] {
              if (ctx.rank() != 0) return;
              for (const auto& f : inv2.files) recs.push_back(io::read_record(f));
              att = attribution::compare_attribution(inv2.files);
              corr = io::correlate(recs, static_cast<uint64_t>(inv2.common.seed));
              if (!out_dir->empty()) io::write_model_infos(recs, *out_dir);
            });
            if (ctx.rank() != 0) return 0;
            if (*format == "json") {
              nlohmann::json doc = io::compare_json(recs, corr);
              if (!att.records.empty()) doc["attribution"] = attribution::attribution_json(att);
              std::cout << doc.dump(2) << "\n";
            } else if (*format == "robustbench") {
              auto infos = nlohmann::json::array();
              for (const auto& r : recs) infos.push_back(io::robustbench_json(r));
              std::cout << infos.dump(2) << "\n";
            } else {
              // the zoo tables when some file has SF or attacks, then the attribution tables
              std::vector<io::Table> tables = io::zoo_tables(recs, corr);
              for (auto& t : attribution::attribution_tables(att)) tables.push_back(std::move(t));
              io::print_tables(tables, io::parse_table_format(*format), std::cout);
            }
            return 0;
          }};
}

}  // namespace sfb::app
