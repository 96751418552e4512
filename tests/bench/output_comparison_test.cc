#include "bench/output_comparison.h"

#include <gtest/gtest.h>

namespace gcnserve {
namespace {

// One image, two classes, three points at (0,0), (1,0) and (2,0), level 0,
// with adjacency a[i][j] = i * 3 + j.
ModelOutput ThreePoints() {
  ModelOutput out;
  out.batch = 1;
  out.classes = 2;
  out.points = 3;
  out.probabilities = {0.25f, 0.75f};
  out.point_xy = {0, 0, 1, 0, 2, 0};
  out.point_scores = {0.9f, 0.8f, 0.7f};
  out.point_levels = {0, 0, 0};
  for (int i = 0; i < 9; ++i) out.adjacency.push_back(static_cast<float>(i));
  return out;
}

TEST(OutputComparisonTest, IdenticalOutputsAgree) {
  OutputComparison c;
  c.Add(ThreePoints(), 0, ThreePoints(), 0);
  EXPECT_EQ(c.images, 1);
  EXPECT_EQ(c.max_probability_diff, 0);
  EXPECT_EQ(c.max_adjacency_diff, 0);
  EXPECT_TRUE(c.Agrees(1e-4f));
}

TEST(OutputComparisonTest, ProbabilitiesBeyondTheToleranceDisagree) {
  ModelOutput other = ThreePoints();
  other.probabilities = {0.2498f, 0.7502f};
  OutputComparison c;
  c.Add(ThreePoints(), 0, other, 0);
  EXPECT_NEAR(c.max_probability_diff, 2e-4f, 1e-6f);
  EXPECT_FALSE(c.Agrees(1e-4f));
  EXPECT_TRUE(c.Agrees(1e-3f));
}

TEST(OutputComparisonTest, PointsInAnotherOrderMatchAndPermuteTheAdjacency) {
  // Points 0 and 1 swapped, and the adjacency's rows and columns with them.
  ModelOutput swapped = ThreePoints();
  swapped.point_xy = {1, 0, 0, 0, 2, 0};
  swapped.point_scores = {0.8f, 0.9f, 0.7f};
  const int order[3] = {1, 0, 2};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      swapped.adjacency[i * 3 + j] = static_cast<float>(order[i] * 3 + order[j]);
    }
  }
  OutputComparison c;
  c.Add(ThreePoints(), 0, swapped, 0);
  EXPECT_EQ(c.images_with_other_points, 0);
  EXPECT_EQ(c.max_adjacency_diff, 0);
  EXPECT_TRUE(c.Agrees(1e-4f));

  // The same points but an adjacency left in the old order: a difference.
  swapped.adjacency = ThreePoints().adjacency;
  OutputComparison unpermuted;
  unpermuted.Add(ThreePoints(), 0, swapped, 0);
  EXPECT_GT(unpermuted.max_adjacency_diff, 1.0f);
  EXPECT_FALSE(unpermuted.Agrees(1e-4f));
}

TEST(OutputComparisonTest, AnotherPointOrLevelIsCounted) {
  ModelOutput moved = ThreePoints();
  moved.point_xy[0] = 5;  // the best point, (0,0) -> (5,0)
  ModelOutput relevelled = ThreePoints();
  relevelled.point_levels[1] = 1;
  OutputComparison c;
  c.Add(ThreePoints(), 0, moved, 0);
  c.Add(ThreePoints(), 0, relevelled, 0);
  EXPECT_EQ(c.images, 2);
  EXPECT_EQ(c.images_with_other_points, 2);
  EXPECT_FALSE(c.Agrees(1.0f));
}

TEST(OutputComparisonTest, ATieAtTheLastPlaceMayPickAnotherPoint) {
  // Both sides' third point scores 0.7; b picked (4,0) instead of (2,0).
  ModelOutput other = ThreePoints();
  other.point_xy[4] = 4;
  other.adjacency[8] = 99;  // the unmatched point's own entry is not compared
  OutputComparison c;
  c.Add(ThreePoints(), 0, other, 0);
  EXPECT_EQ(c.images_with_tied_points, 1);
  EXPECT_EQ(c.images_with_other_points, 0);
  EXPECT_EQ(c.max_adjacency_diff, 0);
  EXPECT_TRUE(c.Agrees(1e-4f));

  // Not a tie when b's lowest score is another.
  other.point_scores[2] = 0.6f;
  OutputComparison lower;
  lower.Add(ThreePoints(), 0, other, 0);
  EXPECT_EQ(lower.images_with_other_points, 1);
  EXPECT_FALSE(lower.Agrees(1e-4f));
}

TEST(OutputComparisonTest, ComparesTheRowsAsked) {
  ModelOutput two = ThreePoints();  // row 1: other probabilities
  two.batch = 2;
  two.probabilities = {0.25f, 0.75f, 0.5f, 0.5f};
  ModelOutput p = ThreePoints();
  for (auto* v : {&two.point_xy, &two.point_scores, &two.adjacency}) {
    v->insert(v->end(), v->begin(), v->end());
  }
  two.point_levels.insert(two.point_levels.end(), p.point_levels.begin(),
                          p.point_levels.end());
  OutputComparison row0, row1;
  row0.Add(two, 0, p, 0);
  row1.Add(two, 1, p, 0);
  EXPECT_TRUE(row0.Agrees(1e-4f));
  EXPECT_NEAR(row1.max_probability_diff, 0.25f, 1e-6f);
}

TEST(OutputComparisonTest, ModelsWithoutAGraphCompareProbabilitiesOnly) {
  ModelOutput a;
  a.batch = 1;
  a.classes = 2;
  a.probabilities = {0.5f, 0.5f};
  OutputComparison c;
  c.Add(a, 0, a, 0);
  EXPECT_TRUE(c.Agrees(1e-4f));
}

}  // namespace
}  // namespace gcnserve
