#include "server/runner/torch_model_runner.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>
#include <vector>

namespace gcnserve {
namespace {

TEST(TorchModelRunnerTest, WarmsPowersOfTwoAndTheLargestSizeOnTheCpu) {
  EXPECT_EQ(TorchModelRunner::WarmUpBatchSizes(64, false),
            (std::vector<int>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(TorchModelRunner::WarmUpBatchSizes(24, false),
            (std::vector<int>{1, 2, 4, 8, 16, 24}));
  EXPECT_EQ(TorchModelRunner::WarmUpBatchSizes(1, false), (std::vector<int>{1}));
}

TEST(TorchModelRunnerTest, WarmsEverySizeWhenAsked) {
  EXPECT_EQ(TorchModelRunner::WarmUpBatchSizes(5, true),
            (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(TorchModelRunnerTest, GivesOpenBlasTheIntraOpThreadCount) {
  if (TorchModelRunner::BlasThreads() == 0) {
    GTEST_SKIP() << "LibTorch's BLAS here is not OpenBLAS";
  }
  if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) {
    GTEST_SKIP() << "OPENBLAS_NUM_THREADS is set, and wins";
  }
  TorchModelRunner::SetIntraOpThreads(1);
  EXPECT_EQ(TorchModelRunner::BlasThreads(), 1);
  TorchModelRunner::SetIntraOpThreads(3);
  EXPECT_EQ(TorchModelRunner::BlasThreads(), 3);
  TorchModelRunner::SetIntraOpThreads(0);  // leaves it
  EXPECT_EQ(TorchModelRunner::BlasThreads(), 3);
  TorchModelRunner::SetIntraOpThreads(
      static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace gcnserve
