#include "server/model_metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

nlohmann::json Valid() {
  return nlohmann::json::parse(R"({
    "name": "model3", "architecture": "model3",
    "input": {"height": 32, "width": 32, "channels": 1, "color": "gray",
              "mean": [0.286], "std": [0.353], "resize": "area_or_linear"},
    "labels": ["a", "b", "c"], "num_points": 8, "adjacency": "euclidean",
    "dataset": "fashion-mnist", "metrics": {"test_accuracy": 0.9}})");
}

TEST(ModelMetadataTest, ParsesTheExportContract) {
  auto meta = ModelMetadata::Parse(Valid().dump());
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->architecture, "model3");
  EXPECT_EQ(meta->input.width, 32);
  EXPECT_EQ(meta->labels.size(), 3u);
  EXPECT_EQ(meta->num_points, 8);
  EXPECT_DOUBLE_EQ(meta->metrics.at("test_accuracy"), 0.9);
  EXPECT_TRUE(meta->has_graph());
}

TEST(ModelMetadataTest, BaselineNeedsNoGraphFields) {
  nlohmann::json json = Valid();
  json["architecture"] = "resnet";
  json["num_points"] = 0;
  json.erase("adjacency");
  auto meta = ModelMetadata::Parse(json.dump());
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_FALSE(meta->has_graph());
}

TEST(ModelMetadataTest, TheGraphComesFromTheMetadataNotTheName) {
  // Any label is an architecture; points decide whether there is a graph.
  nlohmann::json json = Valid();
  json["architecture"] = "vgg-with-graph";
  auto meta = ModelMetadata::Parse(json.dump());
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->architecture, "vgg-with-graph");
  EXPECT_TRUE(meta->has_graph());

  json["architecture"] = "model3";  // a name the bundled graph models use
  json["num_points"] = 0;
  json.erase("adjacency");
  meta = ModelMetadata::Parse(json.dump());
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_FALSE(meta->has_graph());
}

TEST(ModelMetadataTest, RefusesNamingTheField) {
  struct Case {
    std::function<void(nlohmann::json&)> spoil;
    const char* field;
  };
  std::vector<Case> cases = {
      {[](auto& j) { j.erase("labels"); }, "labels"},
      {[](auto& j) { j["labels"] = nlohmann::json::array(); }, "labels"},
      {[](auto& j) { j["architecture"] = ""; }, "architecture"},
      {[](auto& j) { j["num_points"] = "eight"; }, "num_points"},
      {[](auto& j) { j["num_points"] = -1; }, "num_points"},
      // K x K floats per image: bounded, and never wrapped into range.
      {[](auto& j) { j["num_points"] = ModelMetadata::kMaxPoints + 1; }, "num_points"},
      {[](auto& j) { j["num_points"] = (int64_t{1} << 32) + 8; }, "num_points"},
      {[](auto& j) { j["num_points"] = 1e30; }, "num_points"},
      {[](auto& j) { j["adjacency"] = "random"; }, "adjacency"},
      {[](auto& j) { j["input"]["channels"] = 3; }, "input.color"},
      {[](auto& j) { j["input"]["std"] = {0.0}; }, "input.std"},
      {[](auto& j) { j["input"]["mean"] = {0.1, 0.2}; }, "input.mean"},
      {[](auto& j) { j["input"]["width"] = 0; }, "input"},
      {[](auto& j) { j["input"]["resize"] = "nearest"; }, "input.resize"},
      {[](auto& j) { j.erase("input"); }, "input"},
  };
  for (const Case& c : cases) {
    nlohmann::json json = Valid();
    c.spoil(json);
    auto meta = ModelMetadata::Parse(json.dump());
    ASSERT_FALSE(meta.ok()) << json.dump();
    EXPECT_THAT(std::string(meta.status().message()), HasSubstr(c.field));
  }
}

TEST(ModelMetadataTest, RefusesBrokenJson) {
  EXPECT_FALSE(ModelMetadata::Parse("{not json").ok());
  EXPECT_FALSE(ModelMetadata::Parse("[1, 2]").ok());
  EXPECT_FALSE(ModelMetadata::Parse("").ok());
}

}  // namespace
}  // namespace gcnserve
