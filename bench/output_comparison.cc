#include "bench/output_comparison.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace gcnserve {

namespace {

// Points closer than this (input-tensor pixels) are the same point.
constexpr float kSamePoint = 1e-3f;

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
  if (a.points != b.points) {
    ++images_with_other_points;
    return;
  }
  const size_t k = a.points;
  auto xy = [](const ModelOutput& o, size_t row, size_t i) {
    return &o.point_xy[(row * o.points + i) * 2];
  };
  auto score = [&](const ModelOutput& o, size_t row, size_t i) {
    return o.point_scores[row * k + i];
  };
  auto level = [&](const ModelOutput& o, size_t row, size_t i) {
    return o.point_levels[row * k + i];
  };
  // match[i]: the point of b at the place and level of a's point i, or -1.
  std::vector<int> match(k, -1);
  std::vector<bool> taken(k, false);
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j) {
      if (!taken[j] && std::fabs(xy(a, ra, i)[0] - xy(b, rb, j)[0]) < kSamePoint &&
          std::fabs(xy(a, ra, i)[1] - xy(b, rb, j)[1]) < kSamePoint &&
          level(a, ra, i) == level(b, rb, j)) {
        match[i] = static_cast<int>(j);
        taken[j] = true;
        break;
      }
    }
  }
  // Points that only one side has must be ties at the K-th score: each
  // within tie_tolerance of its own side's lowest selected score.
  float lowest_a = score(a, ra, 0), lowest_b = score(b, rb, 0);
  for (size_t i = 1; i < k; ++i) {
    lowest_a = std::min(lowest_a, score(a, ra, i));
    lowest_b = std::min(lowest_b, score(b, rb, i));
  }
  bool differ = false;
  bool beyond_tie = std::fabs(lowest_a - lowest_b) > tie_tolerance;
  for (size_t i = 0; i < k; ++i) {
    if (match[i] < 0) {
      differ = true;
      beyond_tie |= score(a, ra, i) - lowest_a > tie_tolerance;
    }
    if (!taken[i]) beyond_tie |= score(b, rb, i) - lowest_b > tie_tolerance;
  }
  if (differ && beyond_tie) {
    ++images_with_other_points;
    return;
  }
  images_with_tied_points += differ;
  for (size_t i = 0; i < k; ++i) {
    if (match[i] < 0) continue;
    max_score_diff = std::max(
        max_score_diff, std::fabs(score(a, ra, i) - score(b, rb, match[i])));
    for (size_t j = 0; j < k; ++j) {
      if (match[j] < 0) continue;
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
