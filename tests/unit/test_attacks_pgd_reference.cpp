// sfbench's PGD against an independent PyTorch PGD (tests/unit/pgd_reference.py, run by
// SFB_PYTHON): same TorchScript model, same data, PGD-linf with CE, no random start, ε = 8/255,
// α = 2/255, 10 steps. In float64 the per-sample robust flags must be identical and x_adv equal to
// 1e-10; in float32 see the tolerance
// comment in the test.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "models/factory.hpp"

namespace sfb::attacks {
namespace {

namespace fs = std::filesystem;

/// Runs the Python reference in SetUp (ctest runs each test in its own process, so the float32
/// and float64 comparisons are one test and the script runs once) and loads its model and data.
class PgdReference : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string python = SFB_PYTHON;
    if (!fs::exists(python)) {
      GTEST_SKIP() << "no Python with torch at " << python << " (SFB_PYTHON)";
    }
    dir_ = fs::temp_directory_path() / ("sfb_pgd_reference_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string cmd = "OMP_NUM_THREADS=1 '" + python +
                            "' '" SFB_SOURCE_DIR "/tests/unit/pgd_reference.py' '" + dir_.string() +
                            "' > '" + (dir_ / "log.txt").string() + "' 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0)
        << "pgd_reference.py failed; log in " << (dir_ / "log.txt");
    torch::jit::Module data = torch::jit::load((dir_ / "data.pt").string());
    x_ = data.attr("x").toTensor();
    y_ = data.attr("y").toTensor();
    x_adv_ = data.attr("x_adv").toTensor();
    robust_ = data.attr("robust").toTensor().to(torch::kBool);
    margin_ = data.attr("margin").toTensor();
    models::ModelOptions o;
    o.image_shape = {3, 16, 16};
    model_ = models::make_model("torchscript:" + (dir_ / "model.pt").string(), o);
    index_ = torch::arange(x_.size(0), torch::kInt64);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  static AttackOutput run_pgd(models::Classifier& model, const torch::Tensor& x,
                              const torch::Tensor& y, const torch::Tensor& index) {
    AttackOptions o;
    o.eps = 8.0 / 255;
    o.step_size = 2.0 / 255;
    o.steps = 10;
    o.random_start = false;
    o.loss = "ce";
    return make_attack("pgd", o)->run(model, x, y, index);
  }

  fs::path dir_;
  torch::Tensor x_, y_, x_adv_, robust_, margin_, index_;
  std::shared_ptr<models::Classifier> model_;
};

TEST_F(PgdReference, SameRobustFlagsAsAnIndependentPyTorchPgd) {
  {
    SCOPED_TRACE("float32");
    // In float32 the input gradient carries relative rounding errors of ~1e-6, so sign(g) can
    // differ from float64 on components whose gradient is tiny relative to the rest, and such a
    // component then moves by up to 2α per step: x_adv may differ on a few pixels, and the final
    // prediction can flip only for samples whose float64 margin z_y − max_{j≠y} z_j at x_adv is
    // tiny. So: flags must match wherever |margin| > 1e-3 (logits here are O(1)), at most 1% of the
    // pixels may differ from the float64 x_adv by more than 1e-6 (float32 rounding of x ± kα), and
    // no pixel by more than 2ε.
    const AttackOutput out = run_pgd(*model_, x_.to(torch::kFloat32), y_, index_);
    const torch::Tensor decisive = margin_.abs() > 1e-3;
    EXPECT_TRUE(torch::equal(out.robust.masked_select(decisive), robust_.masked_select(decisive)));
    const torch::Tensor diff = (out.x_adv.to(torch::kFloat64) - x_adv_).abs();
    const double frac_differ = (diff > 1e-6).to(torch::kFloat64).mean().item<double>();
    EXPECT_LE(frac_differ, 0.01);
    EXPECT_LE(diff.max().item<double>(), 2 * 8.0 / 255 + 1e-6);
    std::cout << "float32 vs float64 reference: " << frac_differ * 100
              << "% pixels differ > 1e-6 (max " << diff.max().item<double>() << "); min |margin| "
              << margin_.abs().min().item<double>() << "\n";
  }
  // Float64: identical robust flags, x_adv to 1e-10.
  model_->to_dtype(torch::kFloat64);
  const AttackOutput out = run_pgd(*model_, x_, y_, index_);
  // The reference data must exercise both outcomes (and misclassified clean samples).
  EXPECT_GT(robust_.sum().item<int64_t>(), 0);
  EXPECT_LT(robust_.sum().item<int64_t>(), x_.size(0));
  EXPECT_TRUE(torch::equal(out.robust, robust_));
  const double diff = (out.x_adv - x_adv_).abs().max().item<double>();
  EXPECT_LE(diff, 1e-10);
  std::cout << "float64: max |x_adv − reference| = " << diff << ", "
            << robust_.sum().item<int64_t>() << " of " << x_.size(0) << " robust\n";
}

}  // namespace
}  // namespace sfb::attacks
