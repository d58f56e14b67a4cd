// ResultsFile under mpirun: uneven shards written as hyperslabs, read back element by element with
// the HDF5 C API (independently of io/), plus the consistency checks parallel HDF5 needs.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/hash.hpp"
#include "core/partition.hpp"
#include "io/hdf5/objects.hpp"
#include "io/results_file.hpp"
#include "io/validate.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {
namespace fs = std::filesystem;

// A directory every rank agrees on (rank 0 picks it).
fs::path shared_dir(const std::string& tag) {
  std::string d;
  if (ctx().rank() == 0) {
    d = (fs::temp_directory_path() / ("sfb_rf_" + tag + "_" + std::to_string(::getpid()))).string();
    fs::create_directories(d);
  }
  return comm::broadcast_string(ctx().host_comm(), d, 0);
}

io::RunInfo info(const std::string& config) {
  io::RunInfo ri;
  ri.command = "test_results_file";
  ri.subcommand = "test";
  ri.config_toml = config;
  ri.config_sha256 = sha256_hex(config);
  ri.seed = 42;
  return ri;
}

// Global value of element (row i, column j) of the test datasets.
double value(int64_t i, int64_t j) {
  return 1000.0 * static_cast<double>(i) + static_cast<double>(j) + 0.25;
}

std::vector<double> read_doubles(hid_t f, const char* path, std::vector<hsize_t>* dims) {
  hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t s = H5Dget_space(d);
  int nd = H5Sget_simple_extent_ndims(s);
  dims->assign(static_cast<size_t>(nd), 0);
  if (nd > 0) H5Sget_simple_extent_dims(s, dims->data(), nullptr);
  hssize_t n = H5Sget_simple_extent_npoints(s);
  std::vector<double> v(static_cast<size_t>(n));
  if (n > 0) {
    EXPECT_GE(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  }
  H5Sclose(s);
  H5Dclose(d);
  return v;
}

std::string read_string_attr(hid_t obj, const char* name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  char* p = nullptr;
  H5Aread(a, t, &p);
  std::string s = p ? p : "";
  H5free_memory(p);
  H5Tclose(t);
  H5Aclose(a);
  return s;
}

int64_t read_int_attr(hid_t obj, const char* name) {
  int64_t v = -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  return v;
}

class ResultsFileTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(ResultsFileTest, UnevenShardsReadBackElementByElement) {
  const int64_t n = GetParam();
  const int64_t k = 5;
  const auto dir = shared_dir("uneven" + std::to_string(n));
  const fs::path out = dir / "r.h5";
  const Range mine = balanced_range(n, ctx().size(), ctx().rank());
  {
    io::ResultsFile rf(ctx(), out, info("seed = 42\n"));
    auto rows = torch::arange(mine.begin, mine.end(), torch::kInt64);
    auto cols = torch::arange(k, torch::kFloat64);
    auto mat = rows.to(torch::kFloat64).unsqueeze(1).mul(1000).add(cols.unsqueeze(0)).add(0.25);
    rf.write_per_sample("/samples/index", mine.begin, rows);
    rf.write_per_sample("/samples/correct", mine.begin, rows.remainder(2).to(torch::kUInt8));
    rf.write_per_sample("/sf/per_sample", mine.begin, mat.to(torch::kFloat32));
    rf.write_per_sample("/extra/f64", mine.begin, mat);
    rf.write_global("/sf/global_shapley", torch::arange(k, torch::kFloat64).mul(0.5));
    rf.write_global("/check/value", torch::tensor(3.5, torch::kFloat64));
    rf.set_attr("/check/value", "ci_low", 3.25);
    rf.set_attr("/check", "layer", std::string("features"));
    rf.set_attr("/check", "orders", std::vector<int64_t>{0, 1, 2});
    rf.set_attr("/check", "names", std::vector<std::string>{"a", "bc", ""});
    rf.summary()["metrics"]["sf"] = 3.5;
    EXPECT_FALSE(fs::exists(out)) << "the final name must not exist before finish()";
    rf.finish();
  }
  ctx().host_comm().barrier();
  for (const auto& e : fs::directory_iterator(out.parent_path())) {
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << "left: " << e.path();
  }
  if (ctx().rank() == 0) {
    hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    std::vector<hsize_t> dims;
    auto m = read_doubles(f, "/extra/f64", &dims);
    ASSERT_EQ(dims, (std::vector<hsize_t>{static_cast<hsize_t>(n), static_cast<hsize_t>(k)}));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j) EXPECT_EQ(m[i * k + j], value(i, j)) << i << "," << j;
    }
    auto m32 = read_doubles(f, "/sf/per_sample", &dims);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j) EXPECT_EQ(m32[i * k + j], static_cast<float>(value(i, j)));
    }
    auto idx = read_doubles(f, "/samples/index", &dims);
    ASSERT_EQ(dims, (std::vector<hsize_t>{static_cast<hsize_t>(n)}));
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(idx[i], static_cast<double>(i));
    auto cor = read_doubles(f, "/samples/correct", &dims);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(cor[i], static_cast<double>(i % 2));
    auto g = read_doubles(f, "/sf/global_shapley", &dims);
    ASSERT_EQ(g.size(), static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) EXPECT_EQ(g[j], 0.5 * j);
    auto sc = read_doubles(f, "/check/value", &dims);
    EXPECT_TRUE(dims.empty());
    ASSERT_EQ(sc.size(), 1u);
    EXPECT_EQ(sc[0], 3.5);
    EXPECT_EQ(read_int_attr(f, "complete"), 1);
    EXPECT_EQ(read_int_attr(f, "world_size"), ctx().size());
    EXPECT_EQ(read_int_attr(f, "seed"), 42);
    EXPECT_EQ(read_string_attr(f, "config_toml"), "seed = 42\n");
    EXPECT_EQ(read_string_attr(f, "config_sha256"), sha256_hex("seed = 42\n"));
    hid_t sf = H5Gopen2(f, "/check", H5P_DEFAULT);
    EXPECT_EQ(read_string_attr(sf, "layer"), "features");
    H5Gclose(sf);
    hid_t prov = H5Gopen2(f, "/provenance", H5P_DEFAULT);
    EXPECT_FALSE(read_string_attr(prov, "libtorch").empty());
    EXPECT_FALSE(read_string_attr(prov, "hdf5").empty());
    H5Gclose(prov);
    H5Fclose(f);

    auto rep = io::validate_results(out);
    EXPECT_TRUE(rep.ok()) << (rep.problems.empty() ? "" : rep.problems[0]);
    auto srep = io::validate_summary(io::summary_path(out));
    EXPECT_TRUE(srep.ok()) << (srep.problems.empty() ? "" : srep.problems[0]);
    std::ifstream js(io::summary_path(out));
    auto j = nlohmann::json::parse(js);
    EXPECT_EQ(j["metrics"]["sf"], 3.5);
    EXPECT_EQ(j["world_size"], ctx().size());
    fs::remove_all(dir);
  }
}

// n = 10 over 3 ranks gives 4/3/3 rows; n = 2 leaves a rank with none; n = 0 writes empty datasets.
INSTANTIATE_TEST_SUITE_P(Sizes, ResultsFileTest, ::testing::Values(10, 2, 0, 1001));

TEST(ResultsFile, OverlappingShardsAreRejectedOnEveryRank) {
  if (ctx().size() < 2) GTEST_SKIP() << "needs two ranks";
  const auto dir = shared_dir("overlap");
  io::ResultsFile rf(ctx(), dir / "o.h5", info(""));
  // Every rank claims rows starting at 0: an overlap, detected before any byte is written.
  EXPECT_THROW(rf.write_per_sample("/samples/index", 0, torch::arange(3, torch::kInt64)), IoError);
  // The gap case: ranks write rows at 10*rank, leaving holes.
  EXPECT_THROW(
      rf.write_per_sample("/samples/label", 10 * ctx().rank(), torch::zeros({2}, torch::kInt64)),
      IoError);
  // Attribute values must agree across ranks.
  EXPECT_THROW(rf.set_attr("/", "note", std::string("rank ") + std::to_string(ctx().rank())),
               IoError);
  // Dtypes must agree.
  auto t =
      ctx().rank() == 0 ? torch::zeros({1}, torch::kInt64) : torch::zeros({1}, torch::kFloat64);
  EXPECT_THROW(rf.write_global("/g", t), IoError);
  rf.finish();
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) {
    EXPECT_TRUE(io::validate_results(dir / "o.h5").ok());
    fs::remove_all(dir);
  }
}

double read_double_attr(hid_t obj, const char* name) {
  double v = -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  H5Aread(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  return v;
}

// Record once: one call writes each metric to the file and the same value to the summary.
TEST(ResultsFile, RecordsAMetricOnceInTheFileAndTheSummary) {
  const auto dir = shared_dir("record");
  const fs::path out = dir / "m.h5";
  {
    io::ResultsFile rf(ctx(), out, info(""));
    const io::SummaryKey where = {"metrics", "demo", "part"};
    rf.record_values("/demo/value", where, "value", torch::tensor(2.5, torch::kFloat64));
    rf.record_metrics("/demo/value", where,
                      {{"ci_low", 0.1},
                       {"n", int64_t{7}},
                       {"target", std::string("logit")},
                       {"orders", std::vector<int64_t>{1, 3}}});
    rf.record_values("/demo/curve", where, "curve",
                     torch::tensor({0.5F, 1.5F, 2.25F}, torch::kFloat32));
    rf.finish();
  }
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) {
    hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    std::vector<hsize_t> dims;
    EXPECT_EQ(read_doubles(f, "/demo/value", &dims), std::vector<double>{2.5});
    EXPECT_TRUE(dims.empty());
    EXPECT_EQ(read_doubles(f, "/demo/curve", &dims), (std::vector<double>{0.5, 1.5, 2.25}));
    hid_t d = H5Dopen2(f, "/demo/value", H5P_DEFAULT);
    EXPECT_EQ(read_double_attr(d, "ci_low"), 0.1);
    EXPECT_EQ(read_int_attr(d, "n"), 7);
    EXPECT_EQ(read_string_attr(d, "target"), "logit");
    H5Dclose(d);
    H5Fclose(f);
    std::ifstream in(io::summary_path(out));
    const nlohmann::json j = nlohmann::json::parse(in)["metrics"]["demo"]["part"];
    EXPECT_EQ(j["value"].get<double>(), 2.5);
    EXPECT_EQ(j["ci_low"].get<double>(), 0.1);
    EXPECT_EQ(j["n"].get<int64_t>(), 7);
    EXPECT_EQ(j["target"], "logit");
    EXPECT_EQ(j["orders"], nlohmann::json({1, 3}));
    EXPECT_EQ(j["curve"].get<std::vector<double>>(), (std::vector<double>{0.5, 1.5, 2.25}));
    EXPECT_EQ(j.size(), 6U) << j.dump();
    fs::remove_all(dir);
  }
}

// The temporary file is created with H5F_ACC_EXCL (MPI_MODE_EXCL): a symbolic link or a file
// already at that name is refused on every rank and left as it was.
TEST(ResultsFile, CreatesItsFileExclusivelyNeverThroughASymlink) {
  const auto dir = shared_dir("excl");
  if (ctx().rank() == 0) {
    std::ofstream(dir / "precious.txt") << "precious";
    fs::create_symlink(dir / "precious.txt", dir / "link.h5");
    std::ofstream(dir / "there.h5") << "there";
  }
  ctx().host_comm().barrier();
  for (const char* name : {"link.h5", "there.h5"}) {
    try {
      io::h5::create_parallel(dir / name, ctx().mpi_comm());
      FAIL() << "created " << name << " over an existing path";
    } catch (const IoError& e) {
      EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
      EXPECT_NE(std::string(e.what()).find("in the way"), std::string::npos) << e.what();
    }
  }
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) {
    for (const auto& [file, text] :
         {std::pair<const char*, const char*>{"precious.txt", "precious"}, {"there.h5", "there"}}) {
      std::ifstream in(dir / file);
      std::string s;
      std::getline(in, s);
      EXPECT_EQ(s, text) << file;
    }
    fs::remove_all(dir);
  }
}

// The summary next to the results file names the same run as the file (run_id), and someone
// else's .json at that name is refused like a foreign .h5.
TEST(ResultsFile, TheSummaryCarriesTheFilesRunIdAndForeignSummariesAreRefused) {
  const auto dir = shared_dir("pair");
  std::string id;
  {
    io::ResultsFile rf(ctx(), dir / "p.h5", info(""));
    id = rf.run_id();
    rf.finish();
  }
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) {
    EXPECT_EQ(id.size(), 12U);
    hid_t f = H5Fopen((dir / "p.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    EXPECT_EQ(read_string_attr(f, "run_id"), id);
    H5Fclose(f);
    std::ifstream in(dir / "p.json");
    EXPECT_EQ(nlohmann::json::parse(in)["run_id"], id);
    std::ofstream(dir / "q.json") << "{\"mine\": 1}\n";
  }
  ctx().host_comm().barrier();
  try {
    io::ResultsFile rf(ctx(), dir / "q.h5", info(""));
    FAIL() << "replaced someone's q.json";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("q.json"), std::string::npos) << e.what();
  }
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) {
    EXPECT_FALSE(fs::exists(dir / "q.h5"));
    fs::remove_all(dir);
  }
}

TEST(ResultsFile, RefusesToOverwriteForeignFilesAndMissingDirectories) {
  const auto dir = shared_dir("foreign");
  if (ctx().rank() == 0) std::ofstream(dir / "notes.h5") << "my thesis";
  ctx().host_comm().barrier();
  try {
    io::ResultsFile rf(ctx(), dir / "notes.h5", info(""));
    FAIL() << "overwrote a foreign file";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("not an sfbench results file"), std::string::npos);
  }
  try {
    io::ResultsFile rf(ctx(), dir / "missing" / "r.h5", info(""));
    FAIL() << "created a file in a missing directory";
  } catch (const AgreedError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) {
    std::ifstream in(dir / "notes.h5");
    std::string s;
    std::getline(in, s);
    EXPECT_EQ(s, "my thesis");
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace sfb::test
