#include "server/runner/model_metadata.h"

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

nlohmann::json Reference() {
  return nlohmann::json::parse(R"({
    "split": "val", "images": 100,
    "signals": {
      "predicted_class": {"fractions": [0.5, 0.25, 0.25]},
      "confidence": {"edges": [0.5, 0.9], "fractions": [0.1, 0.2, 0.7]},
      "border": {"edges": [0.1], "fractions": [0.5, 0.5]},
      "a_newer_signal": {"whatever": 1}}})");
}

TEST(ModelMetadataTest, TheReferenceIsOptional) {
  auto without = ModelMetadata::Parse(Valid().dump());
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->reference.has_value());
  nlohmann::json json = Valid();
  json["reference"] = Reference();
  auto with = ModelMetadata::Parse(json.dump());
  ASSERT_TRUE(with.ok()) << with.status();
  ASSERT_TRUE(with->reference.has_value());
  EXPECT_EQ(with->reference->images, 100);
  ASSERT_EQ(with->reference->signals.size(), 3u);  // the unknown one skipped
  EXPECT_EQ(with->reference->signals[1].signal, DriftSignal::kConfidence);
  EXPECT_EQ(with->reference->signals[1].edges.size(), 2u);
}

TEST(ModelMetadataTest, ReadsTheCalibrationTemperature) {
  auto without = ModelMetadata::Parse(Valid().dump());
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->temperature, 1.0);
  nlohmann::json json = Valid();
  json["calibration"] = {{"method", "temperature"}, {"temperature", 1.7},
                         {"validation_ece_before", 0.03},
                         {"validation_ece_after", 0.01}};
  auto with = ModelMetadata::Parse(json.dump());
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_DOUBLE_EQ(with->temperature, 1.7);
}

TEST(ModelMetadataTest, RefusesABrokenCalibrationNamingTheField) {
  auto refused = [](nlohmann::json calibration) {
    nlohmann::json json = Valid();
    json["calibration"] = std::move(calibration);
    auto meta = ModelMetadata::Parse(json.dump());
    return meta.ok() ? std::string() : std::string(meta.status().message());
  };
  EXPECT_THAT(refused(3), HasSubstr("calibration"));
  EXPECT_THAT(refused({{"method", "platt"}, {"temperature", 1.0}}),
              HasSubstr("calibration.method"));
  for (nlohmann::json bad : {nlohmann::json(0.0), nlohmann::json(-2.0),
                             nlohmann::json("1.5"), nlohmann::json(nullptr)}) {
    EXPECT_THAT(refused({{"method", "temperature"}, {"temperature", bad}}),
                HasSubstr("calibration.temperature"))
        << bad.dump();
  }
  EXPECT_THAT(refused({{"method", "temperature"}}),
              HasSubstr("calibration.temperature"));
}

TEST(ModelMetadataTest, RefusesABrokenReferenceNamingTheSignal) {
  auto refused = [](auto mutate) {
    nlohmann::json json = Valid();
    json["reference"] = Reference();
    mutate(json);
    auto meta = ModelMetadata::Parse(json.dump());
    return meta.ok() ? std::string("ok") : std::string(meta.status().message());
  };
  EXPECT_THAT(refused([](nlohmann::json& j) {
                j["reference"]["signals"]["predicted_class"]["fractions"] = {1.0};
              }),
              HasSubstr("reference.signals.predicted_class"));
  EXPECT_THAT(refused([](nlohmann::json& j) {
                j["reference"]["signals"]["confidence"]["edges"] = {0.9, 0.5};
              }),
              HasSubstr("ascending"));
  EXPECT_THAT(refused([](nlohmann::json& j) {
                j["reference"]["signals"]["confidence"]["fractions"] = {0.5, 0.5, 0.5};
              }),
              HasSubstr("sum to 1"));
  EXPECT_THAT(refused([](nlohmann::json& j) {
                j["architecture"] = "resnet";
                j["num_points"] = 0;
                j.erase("adjacency");
              }),
              HasSubstr("needs a model with a graph"));
}

TEST(ModelMetadataTest, RefusesBrokenJson) {
  EXPECT_FALSE(ModelMetadata::Parse("{not json").ok());
  EXPECT_FALSE(ModelMetadata::Parse("[1, 2]").ok());
  EXPECT_FALSE(ModelMetadata::Parse("").ok());
}

}  // namespace
}  // namespace gcnserve
