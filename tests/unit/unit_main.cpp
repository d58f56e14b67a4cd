// Main of every unit-test binary: the test environment of SFB_TEST_ENV (cmake/SfbHelpers.cmake)
// set in-process, because ctest's discovered gtest cases cannot carry a list of variables, and one
// intra-op thread so parallel ctest jobs do not oversubscribe the cores. A test that wants more
// threads sets them itself.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

int main(int argc, char** argv) {
  ::setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  torch::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
