#include "server/runner/torch_model_runner.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <unordered_map>
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

// A TorchScript file whose logits are its 1x1x1x3 input itself, with
// `metadata` as its gcnserve.json.
std::string SaveIdentityModel(const std::string& name,
                              const std::string& metadata) {
  torch::jit::Module module("Identity");
  module.define(R"(
def forward(self, x):
    return {"logits": x.reshape([x.size(0), 3])}
)");
  std::string path = (std::filesystem::path(::testing::TempDir()) / name).string();
  torch::jit::ExtraFilesMap extra{{"gcnserve.json", metadata}};
  module.save(path, extra);
  return path;
}

std::string IdentityMetadata(const std::string& calibration) {
  return R"({"name": "identity", "architecture": "test", "num_points": 0,
             "input": {"height": 1, "width": 3, "channels": 1, "color": "gray",
                       "mean": [0], "std": [1], "resize": "area_or_linear"},
             "labels": ["a", "b", "c"])" +
         calibration + "}";
}

// The probabilities served are softmax(logits / T), T the export's
// calibration.temperature, as model/gcnserve_model/calibration.py computes
// them offline.
TEST(TorchModelRunnerTest, DividesTheLogitsByTheCalibrationTemperature) {
  const std::vector<float> logits = {1.0f, 2.0f, 4.0f};
  auto softmax = [&](double t) {
    std::vector<double> p;
    double sum = 0;
    for (float z : logits) sum += std::exp(z / t);
    for (float z : logits) p.push_back(std::exp(z / t) / sum);
    return p;
  };
  TorchModelRunner::Options options;
  options.optimize = false;
  for (double t : {1.0, 2.5}) {
    std::string calibration =
        t == 1.0 ? "" : R"(, "calibration": {"method": "temperature", "temperature": 2.5})";
    auto runner = TorchModelRunner::Load(
        SaveIdentityModel("identity_" + std::to_string(t) + ".pt",
                          IdentityMetadata(calibration)),
        options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    auto out = (*runner)->Run(logits.data(), 1);
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<double> want = softmax(t);
    ASSERT_EQ(out->probabilities.size(), 3u);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(out->probabilities[c], want[c], 1e-6) << "T " << t << " class " << c;
    }
  }
}

// Share() gives another instance the same loaded module: it answers as
// the first does, and either may run while the other is gone.
TEST(TorchModelRunnerTest, ASharedRunnerRunsTheSameLoadedModule) {
  TorchModelRunner::Options options;
  options.optimize = false;
  auto first = TorchModelRunner::Load(
      SaveIdentityModel("identity_shared.pt", IdentityMetadata("")), options);
  ASSERT_TRUE(first.ok()) << first.status();
  std::unique_ptr<TorchModelRunner> second = (*first)->Share();
  EXPECT_EQ(second->metadata().name, "identity");
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f};
  auto a = (*first)->Run(logits.data(), 1);
  first->reset();  // the module lives on in the other runner
  auto b = second->Run(logits.data(), 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->probabilities, b->probabilities);
}

// Whatever the timings, the choice follows the rule: every size up to the
// chosen one gave at least kWorthIt times the images/s of the one before,
// and a size run past it gave less.
TEST(TorchModelRunnerTest, ChoosesTheLargestBatchWorthFormingByItsRule) {
  TorchModelRunner::Options options;
  options.optimize = false;
  auto runner = TorchModelRunner::Load(
      SaveIdentityModel("identity_choice.pt", IdentityMetadata("")), options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto choice = (*runner)->WarmUpChoosingBatchSize(16);
  ASSERT_TRUE(choice.ok()) << choice.status();
  ASSERT_FALSE(choice->sizes.empty());
  ASSERT_EQ(choice->sizes.size(), choice->images_per_s.size());
  EXPECT_EQ(choice->sizes.front(), 1);
  size_t chosen = 0;
  for (size_t i = 0; i < choice->sizes.size(); ++i) {
    if (i > 0) EXPECT_EQ(choice->sizes[i], 2 * choice->sizes[i - 1]);
    EXPECT_LE(choice->sizes[i], 16);
    if (choice->sizes[i] == choice->chosen) chosen = i;
  }
  EXPECT_EQ(choice->sizes[chosen], choice->chosen);
  for (size_t i = 1; i <= chosen; ++i) {
    EXPECT_GE(choice->images_per_s[i],
              TorchModelRunner::kWorthIt * choice->images_per_s[i - 1]);
  }
  if (chosen + 1 < choice->sizes.size()) {
    EXPECT_EQ(chosen + 2, choice->sizes.size());  // stopped right after
    EXPECT_LT(choice->images_per_s[chosen + 1],
              TorchModelRunner::kWorthIt * choice->images_per_s[chosen]);
  } else {
    EXPECT_EQ(choice->chosen, 16);  // worth it all the way
  }
}

}  // namespace
}  // namespace gcnserve
