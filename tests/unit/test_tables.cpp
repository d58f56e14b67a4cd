// The console reports of `sfbench compare`: the md and csv table printers, and the tables built
// from compare's records (zoo, correlations, attribution), checked line by line.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "attribution/compare.hpp"
#include "core/error.hpp"
#include "io/compare.hpp"
#include "io/table.hpp"

namespace sfb {
namespace {

std::string printed(const std::vector<io::Table>& tables, io::TableFormat format) {
  std::ostringstream os;
  io::print_tables(tables, format, os);
  return os.str();
}

std::vector<io::Table> two_tables() {
  io::Table a;
  a.header = {"model", "SF 95% CI", "note"};
  a.rows = {{"m1", "[1, 2]", "say \"hi\""}, {"m2"}};
  a.footnotes = {"first footnote", "second"};
  io::Table b;
  b.header = {"x", "y"};
  b.rows = {{"1", "2"}};
  return {a, b};
}

TEST(Tables, MarkdownPrinter) {
  EXPECT_EQ(printed(two_tables(), io::TableFormat::kMarkdown),
            "| model | SF 95% CI | note |\n"
            "| --- | --- | --- |\n"
            "| m1 | [1, 2] | say \"hi\" |\n"
            "| m2 |  |  |\n"
            "\n"
            "# first footnote\n"
            "# second\n"
            "\n"
            "| x | y |\n"
            "| --- | --- |\n"
            "| 1 | 2 |\n");
}

TEST(Tables, CsvPrinterQuotesCellsWithCommasAndQuotes) {
  EXPECT_EQ(printed(two_tables(), io::TableFormat::kCsv),
            "model,SF 95% CI,note\n"
            "m1,\"[1, 2]\",\"say \"\"hi\"\"\"\n"
            "m2,,\n"
            "# first footnote\n"
            "# second\n"
            "\n"
            "x,y\n"
            "1,2\n");
}

TEST(Tables, FormatNames) {
  EXPECT_EQ(io::parse_table_format("md"), io::TableFormat::kMarkdown);
  EXPECT_EQ(io::parse_table_format("csv"), io::TableFormat::kCsv);
  EXPECT_THROW(io::parse_table_format("json"), ConfigError);
  EXPECT_TRUE(printed({}, io::TableFormat::kMarkdown).empty());
}

io::ModelRecord record(const std::string& model, double sf, double clean, double fgsm) {
  io::ModelRecord r;
  r.model = model;
  r.has_sf = true;
  r.sf = sf;
  r.sf_ci_low = sf / 2;
  r.sf_ci_high = sf * 2;
  r.clean_acc = clean;
  r.adv_acc["fgsm"] = fgsm;
  r.accuracy_drop["fgsm"] = 1 - fgsm / clean;
  return r;
}

TEST(Tables, ZooTableAndCorrelations) {
  std::vector<io::ModelRecord> recs{record("a", 0.0123456, 0.9, 0.45), record("b", 2.5, 0.8, 0.2)};
  io::ModelRecord no_attack;  // SF only: empty attack cells
  no_attack.model = "c";
  no_attack.has_sf = true;
  no_attack.sf = std::nan("");
  no_attack.sf_ci_low = no_attack.sf_ci_high = std::nan("");
  no_attack.clean_acc = 0.5;
  recs.push_back(no_attack);
  auto tables = io::zoo_tables(recs, {});
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(printed(tables, io::TableFormat::kMarkdown),
            "| model | SF | SF 95% CI | clean_acc | adv_acc fgsm | dAcc fgsm |\n"
            "| --- | --- | --- | --- | --- | --- |\n"
            "| a | 0.01235 | [0.006173, 0.02469] | 0.9000 | 0.4500 | 0.5000 |\n"
            "| b | 2.5 | [1.25, 5] | 0.8000 | 0.2000 | 0.7500 |\n"
            "| c | nan | [nan, nan] | 0.5000 |  |  |\n"
            "\n"
            "# correlations need SF and the same attack in at least 3 files\n");
  io::AttackCorrelation c;
  c.attack = "fgsm";
  c.models = 3;
  c.rho_drop = {0.5, 0.25, -0.125, 1.0, 6};
  c.tau_drop = {-1.0 / 3, 1.0, std::nan(""), std::nan(""), 6};
  tables = io::zoo_tables(recs, {c});
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_TRUE(tables[0].footnotes.empty());
  ASSERT_EQ(tables[1].rows.size(), 4u);
  EXPECT_EQ(tables[1].header,
            (std::vector<std::string>{"attack", "models", "statistic", "value", "95% CI", "p"}));
  EXPECT_EQ(tables[1].rows[0], (std::vector<std::string>{"fgsm", "3", "Spearman rho(SF, dAcc)",
                                                         "0.500", "[-0.125, 1.000]", "0.2500"}));
  EXPECT_EQ(tables[1].rows[1], (std::vector<std::string>{"fgsm", "3", "Kendall tau(SF, dAcc)",
                                                         "-0.333", "[nan, nan]", "1.0000"}));
  EXPECT_EQ(tables[1].rows[2][2], "Spearman rho(SF, adv_acc)");
  EXPECT_EQ(tables[1].rows[3][2], "Kendall tau(SF, adv_acc)");
  // Files with neither SF nor attacks (attribution only) give no zoo table.
  io::ModelRecord bare;
  bare.model = "d";
  EXPECT_TRUE(io::zoo_tables({bare}, {}).empty());
}

TEST(Tables, AttributionTables) {
  attribution::AttributionComparison c;
  EXPECT_TRUE(attribution::attribution_tables(c).empty());
  attribution::AttributionRecord r;
  r.file = "runs/std.h5";
  r.methods = {"saliency", "grad-cam"};
  r.top_pixels = {51};
  r.occlusion = {"black"};
  r.accuracy = 0.75;
  r.n = 40;
  r.per_method = {{0.5, 0.25, {0.1}, {0.2}, {0.3}, true}, {0.125, 0.0625, {}, {}, {}, false}};
  r.random_noise1 = {0.05};
  r.random_noise2 = {0.06};
  attribution::AttributionRecord s = r;
  s.file = "runs/pgd.h5";
  s.methods = {"saliency"};
  s.per_method = {{0.375, 0.5, {0.4}, {0.45}, {0.5}, true}};
  s.random_noise1.clear();
  s.random_noise2.clear();
  c.records = {r, s};
  attribution::AgreementMatrix m;
  m.method = "saliency";
  m.records = {0, 1};
  m.rho = {{{1, 1, 1, 20}, {0.5, 0.25, 0.75, 20}}, {{0.5, 0.25, 0.75, 20}, {0, 0, 0, 0}}};
  c.matrices = {m};
  c.notes = {"saliency: something was not compared"};
  EXPECT_EQ(printed(attribution::attribution_tables(c), io::TableFormat::kMarkdown),
            "| model | n | accuracy | method | Gini | Gini_r | Noise-I T=51 | Noise-II T=51 | "
            "occlusion-black |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            "| std | 40 | 0.7500 | (random pixels) |  |  | 0.0500 | 0.0600 |  |\n"
            "| std | 40 | 0.7500 | saliency | 0.5000 | 0.2500 | 0.1000 | 0.2000 | 0.3000 |\n"
            "| std | 40 | 0.7500 | grad-cam | 0.1250 | 0.0625 |  |  |  |\n"
            "| pgd | 40 | 0.7500 | saliency | 0.3750 | 0.5000 | 0.4000 | 0.4500 | 0.5000 |\n"
            "\n"
            "# error rates: misclassified after the inductive attack / correctly classified\n"
            "\n"
            "| Spearman rho saliency | std | pgd |\n"
            "| --- | --- | --- |\n"
            "| std | 1.000 [1.000, 1.000] n=20 | 0.500 [0.250, 0.750] n=20 |\n"
            "| pgd | 0.500 [0.250, 0.750] n=20 |  |\n"
            "\n"
            "# mean rho [95% CI] over the n images both files saved maps of\n"
            "# note: saliency: something was not compared\n");
  const auto j = attribution::attribution_json(c);
  ASSERT_EQ(j["models"].size(), 4u);  // two methods + control of std, one method of pgd
  EXPECT_EQ(j["models"][2]["method"], "(random pixels)");
  EXPECT_TRUE(j["agreement"][0]["spearman"][1][1].is_null());
  EXPECT_EQ(j["agreement"][0]["count"][0][1], 20);
  EXPECT_EQ(j["notes"][0], "saliency: something was not compared");
}

}  // namespace
}  // namespace sfb
