#include "bench/output_comparison.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace gcnserve {

namespace {

// Points closer than this (input-tensor pixels) are the same point.
constexpr float kSamePoint = 1e-3f;

// For each point of row `ra` of `a`, the index of the point of row `rb` of
// `b` at the same place and level; empty when the two sets differ.
std::vector<int> MatchPoints(const ModelOutput& a, int ra, const ModelOutput& b,
                             int rb) {
  const int k = a.points;
  std::vector<int> match(k, -1);
  std::vector<bool> taken(k, false);
  for (int i = 0; i < k; ++i) {
    const float* pa = &a.point_xy[(static_cast<size_t>(ra) * k + i) * 2];
    int64_t level = a.point_levels[static_cast<size_t>(ra) * k + i];
    for (int j = 0; j < k; ++j) {
      const float* pb = &b.point_xy[(static_cast<size_t>(rb) * k + j) * 2];
      if (!taken[j] && std::fabs(pa[0] - pb[0]) < kSamePoint &&
          std::fabs(pa[1] - pb[1]) < kSamePoint &&
          b.point_levels[static_cast<size_t>(rb) * k + j] == level) {
        match[i] = j;
        taken[j] = true;
        break;
      }
    }
    if (match[i] < 0) return {};
  }
  return match;
}

}  // namespace

void OutputComparison::Add(const ModelOutput& a, int ra, const ModelOutput& b,
                           int rb) {
  ++images;
  for (int c = 0; c < a.classes; ++c) {
    max_probability_diff = std::max(
        max_probability_diff,
        std::fabs(a.probabilities[static_cast<size_t>(ra) * a.classes + c] -
                  b.probabilities[static_cast<size_t>(rb) * b.classes + c]));
  }
  if (a.points == 0 && b.points == 0) return;
  std::vector<int> match;
  if (a.points == b.points) match = MatchPoints(a, ra, b, rb);
  if (match.empty()) {
    ++images_with_other_points;
    return;
  }
  const size_t k = a.points;
  for (size_t i = 0; i < k; ++i) {
    max_score_diff = std::max(
        max_score_diff, std::fabs(a.point_scores[ra * k + i] -
                                  b.point_scores[rb * k + match[i]]));
    for (size_t j = 0; j < k; ++j) {
      float x = a.adjacency[(ra * k + i) * k + j];
      float y = b.adjacency[(rb * k + match[i]) * k + match[j]];
      max_adjacency_diff = std::max(max_adjacency_diff, std::fabs(x - y));
    }
  }
}

bool OutputComparison::Agrees(float tolerance) const {
  return images_with_other_points == 0 && max_probability_diff <= tolerance &&
         max_adjacency_diff <= tolerance;
}

}  // namespace gcnserve
