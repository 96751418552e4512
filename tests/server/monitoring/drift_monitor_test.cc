#include "server/monitoring/drift_monitor.h"

#include <chrono>
#include <cmath>

#include <gtest/gtest.h>

#include "tests/server/fake_clock.h"

namespace gcnserve {
namespace {

using std::chrono::seconds;

// Two classes; the confidence in bins below 0.5, 0.5-0.9, above 0.9.
DriftReference TwoClasses() {
  DriftReference reference;
  reference.images = 1000;
  reference.signals.push_back({DriftSignal::kPredictedClass, {}, {0.5, 0.5}});
  reference.signals.push_back(
      {DriftSignal::kConfidence, {0.5, 0.9}, {0.0, 0.2, 0.8}});
  return reference;
}

// One answer: class 0 with probability `p0`, else class 1.
ModelOutput Answer(float p0) {
  ModelOutput output;
  output.batch = 1;
  output.classes = 2;
  output.probabilities = {p0, 1 - p0};
  return output;
}

DriftMonitor::Options Window(int requests, int min_requests) {
  DriftMonitor::Options options;
  options.window_requests = requests;
  options.window = seconds(60);
  options.min_requests = min_requests;
  return options;
}

TEST(DriftMonitorTest, PsiIsZeroForTheSameSharesAndGrowsWithTheShift) {
  EXPECT_NEAR(DriftMonitor::Psi({0.5, 0.5}, {50, 50}, 100, 1e-3), 0, 1e-12);
  const double small = DriftMonitor::Psi({0.5, 0.5}, {55, 45}, 100, 1e-3);
  const double large = DriftMonitor::Psi({0.5, 0.5}, {90, 10}, 100, 1e-3);
  EXPECT_GT(small, 0);
  EXPECT_LT(small, 0.1);
  EXPECT_GT(large, 0.25);
  // (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5), without epsilon.
  EXPECT_NEAR(DriftMonitor::Psi({0.5, 0.5}, {90, 10}, 100, 0),
              0.4 * std::log(1.8) + 0.4 * std::log(5.0), 1e-12);
}

TEST(DriftMonitorTest, EpsilonKeepsAnEmptyReferenceBinFinite) {
  const double psi = DriftMonitor::Psi({1.0, 0.0}, {0, 10}, 10, 1e-3);
  EXPECT_TRUE(std::isfinite(psi));
  EXPECT_GT(psi, 5);
}

TEST(DriftMonitorTest, BinsByUpperBound) {
  const std::vector<double> edges = {0.5, 0.9};
  EXPECT_EQ(DriftMonitor::Bin(edges, 0.1), 0);
  EXPECT_EQ(DriftMonitor::Bin(edges, 0.5), 1);  // an edge opens its bin
  EXPECT_EQ(DriftMonitor::Bin(edges, 0.89), 1);
  EXPECT_EQ(DriftMonitor::Bin(edges, 1.0), 2);
}

TEST(DriftMonitorTest, NoScoreUntilTheWindowHoldsTheMinimum) {
  FakeClock clock;
  DriftMonitor monitor(TwoClasses(), 32, 32, Window(100, 10), &clock);
  for (int i = 0; i < 9; ++i) monitor.Record(Answer(0.95f), 0);
  EXPECT_FALSE(monitor.Compute().has_value());
  monitor.Record(Answer(0.95f), 0);
  std::optional<DriftMonitor::Score> score = monitor.Compute();
  ASSERT_TRUE(score.has_value());
  EXPECT_EQ(score->requests, 10);
  ASSERT_EQ(score->signals.size(), 2u);
  EXPECT_EQ(score->signals[0].first, DriftSignal::kPredictedClass);
  // Every answer class 0 against half and half: a major shift.
  EXPECT_GT(score->signals[0].second, 0.25);
  EXPECT_DOUBLE_EQ(score->max,
                   std::max(score->signals[0].second, score->signals[1].second));
}

TEST(DriftMonitorTest, InDistributionScoresLow) {
  FakeClock clock;
  DriftMonitor monitor(TwoClasses(), 32, 32, Window(1000, 100), &clock);
  // Classes alternate; confidences 80 % above 0.9, 20 % between.
  for (int i = 0; i < 1000; ++i) {
    const float top = i % 5 == 0 ? 0.7f : 0.95f;
    monitor.Record(Answer(i % 2 == 0 ? top : 1 - top), 0);
  }
  std::optional<DriftMonitor::Score> score = monitor.Compute();
  ASSERT_TRUE(score.has_value());
  EXPECT_LT(score->max, 0.01);
}

TEST(DriftMonitorTest, KeepsOnlyTheLastNRequests) {
  FakeClock clock;
  DriftMonitor monitor(TwoClasses(), 32, 32, Window(20, 20), &clock);
  // 20 shifted answers, then 20 in distribution push them all out.
  for (int i = 0; i < 20; ++i) monitor.Record(Answer(0.6f), 0);
  ASSERT_GT(monitor.Compute()->max, 0.25);
  for (int i = 0; i < 20; ++i) {
    monitor.Record(Answer(i % 2 == 0 ? 0.95f : 0.05f), 0);
  }
  std::optional<DriftMonitor::Score> score = monitor.Compute();
  ASSERT_TRUE(score.has_value());
  EXPECT_EQ(score->requests, 20);
  EXPECT_NEAR(score->signals[0].second, 0, 1e-9);  // 10 and 10
}

TEST(DriftMonitorTest, ForgetsAnswersOlderThanTheWindow) {
  FakeClock clock;
  DriftMonitor monitor(TwoClasses(), 32, 32, Window(100, 10), &clock);
  for (int i = 0; i < 10; ++i) monitor.Record(Answer(0.95f), 0);
  clock.Advance(seconds(30));
  for (int i = 0; i < 10; ++i) monitor.Record(Answer(0.05f), 0);
  EXPECT_EQ(monitor.Compute()->requests, 20);
  clock.Advance(seconds(31));  // the first ten are 61 s old
  std::optional<DriftMonitor::Score> score = monitor.Compute();
  ASSERT_TRUE(score.has_value());
  EXPECT_EQ(score->requests, 10);
  clock.Advance(seconds(30));
  EXPECT_FALSE(monitor.Compute().has_value());
}

TEST(DriftMonitorTest, GraphSignalsInInputRelativeCoordinates) {
  ModelOutput output = Answer(0.9f);
  output.points = 2;
  // (0, 0) at the border and (16, 16) in the middle of a 32 x 32 input.
  output.point_xy = {0, 0, 16, 16};
  output.point_scores = {0.2f, 0.6f};
  output.point_levels = {0, 0};
  output.adjacency = {0.5f, 0.5f, 0.5f, 0.5f};
  std::array<double, kDriftSignals> s =
      DriftMonitor::SignalsOf(output, 0, 32, 32);
  auto at = [&](DriftSignal signal) { return s[static_cast<int>(signal)]; };
  EXPECT_EQ(at(DriftSignal::kPredictedClass), 0);
  EXPECT_NEAR(at(DriftSignal::kConfidence), 0.9, 1e-6);
  EXPECT_NEAR(at(DriftSignal::kAttention), 0.4, 1e-6);
  EXPECT_DOUBLE_EQ(at(DriftSignal::kCentroidX), 0.25);
  EXPECT_DOUBLE_EQ(at(DriftSignal::kCentroidY), 0.25);
  EXPECT_DOUBLE_EQ(at(DriftSignal::kSpread), std::sqrt(0.125));
  EXPECT_DOUBLE_EQ(at(DriftSignal::kBorder), 0.5);
  EXPECT_DOUBLE_EQ(at(DriftSignal::kAdjacency), 0.5);
}

}  // namespace
}  // namespace gcnserve
