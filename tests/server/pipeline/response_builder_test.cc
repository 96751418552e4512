#include "server/pipeline/response_builder.h"

#include <gtest/gtest.h>

namespace gcnserve {
namespace {

ModelMetadata Meta() {
  ModelMetadata meta;
  meta.architecture = "model3";
  meta.input.width = 32;
  meta.input.height = 32;
  meta.labels = {"zero", "one", "two", "three"};
  meta.num_points = 3;
  return meta;
}

// Two rows; row 1 is the one under test.
ModelOutput Output() {
  ModelOutput out;
  out.batch = 2;
  out.classes = 4;
  out.points = 3;
  out.probabilities = {0.25f, 0.25f, 0.25f, 0.25f, 0.1f, 0.6f, 0.2f, 0.1f};
  out.point_xy = {0, 0, 0, 0, 0, 0, 4, 8, 16, 16, 32, 0};
  out.point_scores = {0, 0, 0, 0.9f, 0.5f, 0.1f};
  out.point_levels = {0, 0, 0, 0, 1, 2};
  out.adjacency.assign(18, 0.0f);
  float row1[9] = {0.5f, 0.3f, 0.2f, 0.3f, 0.4f, 0.1f, 0.2f, 0.1f, 0.6f};
  std::copy(row1, row1 + 9, out.adjacency.begin() + 9);
  return out;
}

ResponseOptions Options(v1::GraphDetail graph, int top_k = 2, int edges = 0) {
  ResponseOptions options;
  options.top_k = top_k;
  options.graph = graph;
  options.max_edges_per_node = edges;
  options.original_width = 64;  // twice the input
  options.original_height = 16;  // half the input
  return options;
}

TEST(ResponseBuilderTest, TopClassesBestFirstWithLabels) {
  v1::ClassifyResponse response;
  BuildResponse(Meta(), Output(), 1, Options(v1::GRAPH_DETAIL_NONE), response);
  ASSERT_EQ(response.classes_size(), 2);
  EXPECT_EQ(response.classes(0).index(), 1);
  EXPECT_EQ(response.classes(0).label(), "one");
  EXPECT_FLOAT_EQ(response.classes(0).probability(), 0.6f);
  EXPECT_EQ(response.classes(1).label(), "two");
  EXPECT_EQ(response.points_size(), 0);
  EXPECT_FALSE(response.has_adjacency());
  EXPECT_EQ(response.image_width(), 64);
}

TEST(ResponseBuilderTest, TopKIsCappedAtTheClasses) {
  v1::ClassifyResponse response;
  BuildResponse(Meta(), Output(), 1, Options(v1::GRAPH_DETAIL_NONE, 50), response);
  EXPECT_EQ(response.classes_size(), 4);
}

TEST(ResponseBuilderTest, PointsAreMappedToTheOriginalImage) {
  v1::ClassifyResponse response;
  BuildResponse(Meta(), Output(), 1, Options(v1::GRAPH_DETAIL_POINTS), response);
  ASSERT_EQ(response.points_size(), 3);
  EXPECT_FLOAT_EQ(response.points(0).x(), 8);   // 4 * 64/32
  EXPECT_FLOAT_EQ(response.points(0).y(), 4);   // 8 * 16/32
  EXPECT_FLOAT_EQ(response.points(1).x(), 32);
  EXPECT_FLOAT_EQ(response.points(1).y(), 8);
  EXPECT_FLOAT_EQ(response.points(0).score(), 0.9f);
  EXPECT_EQ(response.points(2).level(), 2);
  EXPECT_FALSE(response.has_adjacency());
}

TEST(ResponseBuilderTest, FullAddsTheAdjacencyOfTheRow) {
  v1::ClassifyResponse response;
  BuildResponse(Meta(), Output(), 1, Options(v1::GRAPH_DETAIL_FULL), response);
  ASSERT_EQ(response.adjacency().size(), 3);
  ASSERT_EQ(response.adjacency().weights_size(), 9);
  EXPECT_FLOAT_EQ(response.adjacency().weights(1), 0.3f);
  EXPECT_FLOAT_EQ(response.adjacency().weights(8), 0.6f);
}

TEST(ResponseBuilderTest, ThinningKeepsTheStrongestEdgesAndTheDiagonal) {
  v1::ClassifyResponse response;
  BuildResponse(Meta(), Output(), 1, Options(v1::GRAPH_DETAIL_FULL, 2, 1), response);
  const auto& w = response.adjacency().weights();
  // Row 0: 0.5 (self) kept, 0.3 kept, 0.2 dropped.
  EXPECT_FLOAT_EQ(w[0], 0.5f);
  EXPECT_FLOAT_EQ(w[1], 0.3f);
  EXPECT_FLOAT_EQ(w[2], 0.0f);
  // Row 2: 0.2 kept over 0.1.
  EXPECT_FLOAT_EQ(w[6], 0.2f);
  EXPECT_FLOAT_EQ(w[7], 0.0f);
  EXPECT_FLOAT_EQ(w[8], 0.6f);
}

TEST(ResponseBuilderTest, RequestFieldsAreChecked) {
  ResponseOptions options;
  v1::ClassifyRequest request;
  EXPECT_TRUE(ReadResponseOptions(request, options).ok());
  EXPECT_EQ(options.top_k, 5);
  EXPECT_EQ(options.graph, v1::GRAPH_DETAIL_POINTS);
  request.set_top_k(-1);
  EXPECT_EQ(ReadResponseOptions(request, options).code(),
            absl::StatusCode::kInvalidArgument);
  request.set_top_k(3);
  request.set_graph(static_cast<v1::GraphDetail>(42));
  EXPECT_EQ(ReadResponseOptions(request, options).code(),
            absl::StatusCode::kInvalidArgument);
  request.set_graph(v1::GRAPH_DETAIL_FULL);
  request.set_max_edges_per_node(-2);
  EXPECT_EQ(ReadResponseOptions(request, options).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ResponseBuilderTest, RequestIdIsBounded) {
  ResponseOptions options;
  v1::ClassifyRequest request;
  request.set_request_id(std::string(kMaxRequestIdBytes, 'r'));
  EXPECT_TRUE(ReadResponseOptions(request, options).ok());
  request.set_request_id(std::string(100'000, 'r'));
  absl::Status status = ReadResponseOptions(request, options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "request_id is 100000 bytes; allowed: at most 256");
}

}  // namespace
}  // namespace gcnserve
