#include "proto/graph_detail.h"

#include <gtest/gtest.h>

namespace gcnserve {
namespace {

TEST(GraphDetailTest, ReadsTheNamesInAnyCase) {
  EXPECT_EQ(*ParseGraphDetail("none"), v1::GRAPH_DETAIL_NONE);
  EXPECT_EQ(*ParseGraphDetail("points"), v1::GRAPH_DETAIL_POINTS);
  EXPECT_EQ(*ParseGraphDetail("full"), v1::GRAPH_DETAIL_FULL);
  EXPECT_EQ(*ParseGraphDetail("Full"), v1::GRAPH_DETAIL_FULL);
  EXPECT_EQ(*ParseGraphDetail("NONE"), v1::GRAPH_DETAIL_NONE);
}

TEST(GraphDetailTest, ReadsTheEnumsOwnNames) {
  EXPECT_EQ(*ParseGraphDetail("GRAPH_DETAIL_FULL"), v1::GRAPH_DETAIL_FULL);
  EXPECT_EQ(*ParseGraphDetail("graph_detail_points"), v1::GRAPH_DETAIL_POINTS);
  EXPECT_EQ(*ParseGraphDetail("unspecified"), v1::GRAPH_DETAIL_UNSPECIFIED);
}

TEST(GraphDetailTest, RefusesAnythingElseSayingWhatIsAllowed) {
  for (const char* text : {"", "some", "edges", "fulll", " full", "2",
                           "GRAPH_DETAIL_", "graph_detail_graph_detail_none"}) {
    auto graph = ParseGraphDetail(text);
    ASSERT_FALSE(graph.ok()) << text;
    EXPECT_EQ(graph.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(graph.status().message(),
              std::string("graph='") + text + "'; allowed: none, points, full");
  }
}

TEST(GraphDetailTest, NamesRoundTrip) {
  for (v1::GraphDetail graph : {v1::GRAPH_DETAIL_NONE, v1::GRAPH_DETAIL_POINTS,
                                v1::GRAPH_DETAIL_FULL}) {
    EXPECT_EQ(*ParseGraphDetail(GraphDetailName(graph)), graph);
  }
  EXPECT_EQ(GraphDetailName(v1::GRAPH_DETAIL_UNSPECIFIED), "points");
}

}  // namespace
}  // namespace gcnserve
