#include "server/models/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

TEST(ModelConfigTest, ServesOneSingleThreadedInstancePerCoreOnTheCpu) {
  ModelConfig config;  // instances 0, intra_op_threads 0: the defaults
  EXPECT_EQ(config.Instances(2), 2);
  EXPECT_EQ(config.ThreadsPerInstance(2), 1);
  EXPECT_EQ(config.Instances(16), 16);
  EXPECT_EQ(config.ThreadsPerInstance(16), 1);
  EXPECT_EQ(config.Instances(0), 1);  // hardware_concurrency may say 0
  EXPECT_EQ(config.ThreadsPerInstance(0), 1);
}

TEST(ModelConfigTest, ServesOneInstanceWithEveryCoreOnCuda) {
  ModelConfig config;
  config.device = "cuda:0";
  EXPECT_EQ(config.Instances(8), 1);
  EXPECT_EQ(config.ThreadsPerInstance(8), 8);
}

TEST(ModelConfigTest, DividesTheCoresAmongTheInstancesItIsGiven) {
  ModelConfig config;
  config.instances = 1;
  EXPECT_EQ(config.Instances(4), 1);
  EXPECT_EQ(config.ThreadsPerInstance(4), 4);
  config.instances = 3;
  EXPECT_EQ(config.ThreadsPerInstance(4), 1);
  config.intra_op_threads = 2;
  EXPECT_EQ(config.ThreadsPerInstance(4), 2);
}

TEST(ModelConfigTest, OverridesTheDefaults) {
  ModelConfig defaults;
  defaults.batching.max_batch_size = 8;
  auto config = ModelConfig::Parse(
      R"({"max_batch_size": 16, "max_queue_delay_us": 500, "max_queue_size": 9,
          "instances": 2, "intra_op_threads": 1, "device": "cuda:1",
          "version_policy": {"latest": 2}})",
      "m/config.json", defaults);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->batching.max_batch_size, 16);
  EXPECT_EQ(config->batching.max_queue_delay.count(), 500);
  EXPECT_EQ(config->batching.max_queue_size, 9);
  EXPECT_EQ(config->instances, 2);
  EXPECT_EQ(config->intra_op_threads, 1);
  EXPECT_EQ(config->device, "cuda:1");
  EXPECT_EQ(config->Candidates({1, 2, 3}), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(config->Wanted(3), 2);
  EXPECT_EQ(config->Wanted(1), 1);
  EXPECT_FALSE(config->is_default);
}

TEST(ModelConfigTest, MarksTheDefaultModel) {
  auto config = ModelConfig::Parse(R"({"default": true})", "m/config.json", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->is_default);
  auto bad = ModelConfig::Parse(R"({"default": "yes"})", "m/config.json", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'default'"));
}

TEST(ModelConfigTest, OptimizesForInferenceUnlessTurnedOff) {
  EXPECT_TRUE(ModelConfig().optimize);
  auto config = ModelConfig::Parse(R"({"optimize": false})", "m/config.json", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->optimize);
  auto bad = ModelConfig::Parse(R"({"optimize": 0})", "m/config.json", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'optimize'"));
}

TEST(ModelConfigTest, EmptyObjectKeepsDefaults) {
  ModelConfig defaults;
  defaults.batching.max_batch_size = 5;
  auto config = ModelConfig::Parse("{}", "m/config.json", defaults);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->batching.max_batch_size, 5);
  EXPECT_EQ(config->Candidates({4, 9, 2}), (std::vector<int64_t>{9, 4, 2}));
  EXPECT_EQ(config->Wanted(3), 1);
}

TEST(ModelConfigTest, ListedVersions) {
  auto config = ModelConfig::Parse(R"({"version_policy": {"versions": [1, 3]}})",
                                   "m/config.json", {});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Candidates({1, 2, 3, 4}), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(config->Wanted(2), 2);
}

TEST(ModelConfigTest, RefusesNamingFileAndKey) {
  struct Case {
    const char* json;
    const char* key;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"batch_size": 4})", "'batch_size'"},
           {R"({"max_batch_size": -1})", "'max_batch_size'"},
           {R"({"max_batch_size": 257})", "'max_batch_size'"},
           {R"({"max_batch_size": "8"})", "'max_batch_size'"},
           {R"({"max_queue_delay_us": -1})", "'max_queue_delay_us'"},
           {R"({"instances": 0})", "'instances'"},
           {R"({"device": "tpu"})", "'device'"},
           {R"({"version_policy": {"newest": 1}})", "'version_policy'"},
           {R"({"version_policy": {"versions": []}})", "'version_policy'"},
           {R"({"version_policy": {"latest": 0}})", "'version_policy.latest'"},
       }) {
    auto config = ModelConfig::Parse(c.json, "repo/m/config.json", {});
    ASSERT_FALSE(config.ok()) << c.json;
    EXPECT_THAT(std::string(config.status().message()),
                HasSubstr("repo/m/config.json"));
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.key));
  }
  EXPECT_FALSE(ModelConfig::Parse("[1]", "m/config.json", {}).ok());
  EXPECT_FALSE(ModelConfig::Parse("{oops", "m/config.json", {}).ok());
}

TEST(ModelConfigTest, ABatchSizeOfZeroIsLeftToTheLoader) {
  auto config = ModelConfig::Parse(R"({"max_batch_size": 0})", "m/config.json", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->batching.max_batch_size, 0);
}

TEST(ModelConfigTest, ThreadsFollowTheLoadUnlessSetOrOnCuda) {
  ModelConfig config;
  EXPECT_TRUE(config.ThreadsFollowLoad());
  config.intra_op_threads = 2;
  EXPECT_FALSE(config.ThreadsFollowLoad());
  config.intra_op_threads = 0;
  config.device = "cuda";
  EXPECT_FALSE(config.ThreadsFollowLoad());
}

}  // namespace
}  // namespace gcnserve
