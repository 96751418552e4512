#include "server/torch_model_runner.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace gcnserve
