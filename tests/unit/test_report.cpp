// report/ (issue 23): grouping of files into models, short labels, HTML escaping, base64, PNG
// facts, the page's skeleton for missing data, and the refusal to replace a file that is not a
// report. The page on real results files is tested in a browser by tests/cli/report_test.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.hpp"
#include "report/html.hpp"
#include "report/models.hpp"
#include "report/report.hpp"
#include "unit/temp_dir.hpp"

namespace sfb::report {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

TEST(ReportModels, ShortSpecKeepsFileNames) {
  EXPECT_EQ(short_spec("zoo:cnn-small@runs/quickstart/standard.ckpt"),
            "zoo:cnn-small@standard.ckpt");
  EXPECT_EQ(short_spec("torchscript:/a/b/m.pt"), "torchscript:m.pt");
  EXPECT_EQ(short_spec("checkpoint:runs/x/ft.ckpt"), "checkpoint:ft.ckpt");
  EXPECT_EQ(short_spec("zoo:wrn-28-10"), "zoo:wrn-28-10");
  const std::string long_name = "zoo:cnn-small@/d/" + std::string(60, 'x') + ".ckpt";
  const std::string s = short_spec(long_name);
  EXPECT_EQ(s.rfind("\u2026", 0), 0u) << s;                 // starts with the ellipsis
  EXPECT_EQ(s.substr(s.size() - 7), "xx.ckpt");             // keeps the end
  EXPECT_EQ(s.size(), std::string("\u2026").size() + 47u);  // 48 characters in all
}

TEST(ReportModels, FilesWithOneFingerprintAreOneModel) {
  // eval + attribution of weights "a", a train run that produced "a", another model "b", and a
  // commbench file (no model).
  const std::vector<FileKey> keys = {
      {"a", "zoo:cnn-small@runs/a.ckpt", "eval-a"},
      {"b", "zoo:cnn-small@runs/b.ckpt", "eval-b"},
      {"", "", "commbench"},
      {"a", "", "train-a"},
      {"a", "checkpoint:runs/a.ckpt", "att-a"},
  };
  const auto g = group_models(keys);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].files, (std::vector<std::size_t>{0, 3, 4}));
  EXPECT_EQ(g[1].files, (std::vector<std::size_t>{1}));
  EXPECT_EQ(g[0].label, "zoo:cnn-small@a.ckpt");  // the first spec among its files
  EXPECT_EQ(g[0].fingerprint, "a");
  EXPECT_NE(g[0].title.find("zoo:cnn-small@runs/a.ckpt"), std::string::npos);  // full spec
  EXPECT_NE(g[0].title.find("a)"), std::string::npos);
}

TEST(ReportModels, LabelsTellModelsApart) {
  // Randomly initialised models share a spec; a train-only model has no spec.
  const std::vector<FileKey> keys = {
      {"s1", "zoo:cnn-small", "eval-seed1"},
      {"s2", "zoo:cnn-small", "eval-seed2"},
      {"t", "", "train-only"},
      {"s3", "zoo:cnn-small", "eval-seed1"},
  };
  const auto g = group_models(keys);
  ASSERT_EQ(g.size(), 4u);
  EXPECT_EQ(g[0].label, "zoo:cnn-small [eval-seed1]");
  EXPECT_EQ(g[1].label, "zoo:cnn-small [eval-seed2]");
  EXPECT_EQ(g[2].label, "train-only");  // the file stem
  EXPECT_EQ(g[3].label, "zoo:cnn-small [eval-seed1] #2");
}

TEST(ReportHtml, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(escape("\u0394Acc \u03c1 plain"), "\u0394Acc \u03c1 plain");
  EXPECT_EQ(escape(""), "");
}

// An independent base64 encoder (RFC 4648 alphabet) to compare with OpenSSL's.
std::string reference_base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

TEST(ReportHtml, Base64MatchesRfc4648) {
  // RFC 4648 §10 test vectors.
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  // Binary bytes, and an input longer than one encoding block (3 MiB) that does not end on it.
  std::string big(3 * (1u << 20) + 4, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + 7) & 0xFF);
  const std::string b = base64(big);
  EXPECT_EQ(b.size(), 4 * ((big.size() + 2) / 3));
  EXPECT_EQ(b, reference_base64(big));
}

TEST(ReportHtml, NumbersRoundTrip) {
  for (const double v : {0.1, 1.0 / 3.0, -2.5e-17, 123456789.123456789}) {
    EXPECT_EQ(std::stod(exact(v)), v);
  }
  EXPECT_EQ(exact(std::nan("")), "nan");
  EXPECT_EQ(fixed(0.12345, 3), "0.123");
  EXPECT_EQ(fixed(std::nan(""), 3), "\u2013");
  EXPECT_EQ(count(1, "model"), "1 model");
  EXPECT_EQ(count(3, "results file"), "3 results files");
}

std::string chunk(const std::string& type, const std::string& data) {
  std::string c;
  const auto n = static_cast<uint32_t>(data.size());
  for (int s = 24; s >= 0; s -= 8) c += static_cast<char>((n >> s) & 0xFF);
  return c + type + data + std::string(4, '\0');  // the CRC is not checked
}

TEST(ReportHtml, PngInfoReadsSizeAndText) {
  const std::string sig("\x89PNG\r\n\x1a\n", 8);
  const std::string ihdr = std::string("\0\0\x01\x2c\0\0\0\x60", 8) + std::string(5, '\0');
  const std::string png = sig + chunk("IHDR", ihdr) +
                          chunk("tEXt", std::string("sfbench:columns\0image,saliency", 30)) +
                          chunk("IEND", "");
  PngInfo info;
  ASSERT_TRUE(png_info(png, info));
  EXPECT_EQ(info.width, 300);
  EXPECT_EQ(info.height, 96);
  EXPECT_EQ(info.text["sfbench:columns"], "image,saliency");
  EXPECT_FALSE(png_info("GIF89a", info));
  EXPECT_FALSE(png_info(png.substr(0, 20), info));  // truncated IHDR
}

class ReportOutput : public sfb::test::TempDirTest {};

TEST_F(ReportOutput, EmptyZooSaysWhySectionsAreEmpty) {
  const std::string html = render(Zoo{}, RenderOptions{});
  EXPECT_TRUE(has_report_marker(html.substr(0, 4096)));
  for (const char* key : {"leaderboard", "correlations", "sf-sorted", "attack-stages",
                          "interactions", "attribution", "training"}) {
    EXPECT_NE(html.find("data-absent=\"" + std::string(key) + "\""), std::string::npos) << key;
  }
  EXPECT_NE(html.find("no interactions results among the inputs"), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);  // never an empty plot
}

TEST_F(ReportOutput, StringsFromFilesAreEscaped) {
  Zoo z;
  FileData d;
  d.path = "<img src=x onerror=alert(1)>.h5";
  d.stem = "evil";
  d.subcommand = "sf";
  d.provenance = {{"command", "sfbench sf --set 'a=<b>'"}};
  d.key = {"fp", "zoo:<script>", "evil"};
  z.files.push_back(d);
  z.models = group_models({d.key});
  const std::string html = render(z, RenderOptions{0, "sfbench report \"<x>\""});
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("zoo:<script>"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;.h5"), std::string::npos);
  EXPECT_NE(html.find("zoo:&lt;script&gt;"), std::string::npos);
}

TEST_F(ReportOutput, ChartsWithoutNumbersAreLeftOut) {
  // An attribution run whose inductive error rates are all NaN (no correctly classified image):
  // the Gini charts are drawn, the noise charts are replaced by a line saying why.
  const double nan = std::nan("");
  FileData d;
  d.path = "att.h5";
  d.stem = "att";
  d.subcommand = "attribution";
  d.key = {"fp", "zoo:cnn-small", "att"};
  AttributionData a;
  a.n = 4;
  a.top_pixels = {8, 16};
  AttributionData::Method m;
  m.name = "saliency";
  m.gini = 0.4;
  m.gini_se = 0.01;
  m.gini_regional = 0.3;
  m.gini_regional_se = 0.02;
  m.noise1 = m.noise2 = a.random_noise1 = a.random_noise2 = {nan, nan};
  a.methods.push_back(m);
  d.attribution = a;
  Zoo z;
  z.files.push_back(d);
  z.models = group_models({d.key});
  const std::string html = render(z, RenderOptions{});
  EXPECT_NE(html.find("data-figure=\"gini\""), std::string::npos);
  EXPECT_NE(html.find("data-figure=\"gini-regional\""), std::string::npos);
  EXPECT_EQ(html.find("data-figure=\"noise1:"), std::string::npos);
  EXPECT_NE(html.find("data-absent=\"noise1:zoo:cnn-small\""), std::string::npos);
  EXPECT_NE(html.find("data-absent=\"noise2:zoo:cnn-small\""), std::string::npos);
  std::size_t svgs = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) {
    ++svgs;
  }
  EXPECT_EQ(svgs, 2u);
}

TEST_F(ReportOutput, RefusesToReplaceAFileThatIsNotAReport) {
  const fs::path out = dir_ / "report.html";
  std::ofstream(out) << "<html><body>someone's page</body></html>";
  try {
    write_report(out, render(Zoo{}, RenderOptions{}));
    FAIL() << "replaced a foreign file";
  } catch (const IoError& e) {
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find(out.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(out), "<html><body>someone's page</body></html>");
  EXPECT_FALSE(is_report(out));
  // A missing directory is bad input too, before anything is written.
  EXPECT_THROW(check_report_output(dir_ / "nope" / "r.html"), IoError);
  // No temporary file was left behind.
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) entries += e.path() != out;
  EXPECT_EQ(entries, 0u);
}

TEST_F(ReportOutput, ReplacesAnEarlierReport) {
  const fs::path out = dir_ / "report.html";
  write_report(out, render(Zoo{}, RenderOptions{1, "first"}));
  ASSERT_TRUE(is_report(out));
  EXPECT_NE(read_all(out).find("first"), std::string::npos);
  write_report(out, render(Zoo{}, RenderOptions{1, "second"}));
  EXPECT_NE(read_all(out).find("second"), std::string::npos);
  EXPECT_EQ(read_all(out).find("first"), std::string::npos);
}

}  // namespace
}  // namespace sfb::report
