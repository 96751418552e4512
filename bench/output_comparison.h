#ifndef GCNSERVE_BENCH_OUTPUT_COMPARISON_H_
#define GCNSERVE_BENCH_OUTPUT_COMPARISON_H_

#include "server/runner/model_runner.h"

namespace gcnserve {

// How far apart two runs of a model on the same images answered, image by
// image (CPU against CUDA, or a batch's row against the image run alone).
//
// Interest points are matched by place and level, not by their order in
// the output, so that two points of (nearly) equal score may come in either
// order; scores and the adjacency are then compared under that matching.
// The two sides may also pick different points where attention scores tie
// at the K-th place (a blank background gives many cells the same score, and
// the order of a tie follows rounding): an image whose points differ only by
// points within `tie_tolerance` of their side's lowest selected score is
// counted as tied and compared on the points both picked; any other
// difference in the points is counted and fails Agrees.
struct OutputComparison {
  int images = 0;
  float max_probability_diff = 0;  // absolute, over every class
  float max_adjacency_diff = 0;    // absolute, over every matched entry
  float max_score_diff = 0;        // attention scores of matched points
  int images_with_tied_points = 0;   // differ only by ties at the K-th
  int images_with_other_points = 0;  // differ otherwise
  float tie_tolerance = 1e-5f;       // on attention scores

  // Compares row `row_a` of `a` with row `row_b` of `b` (same model) and
  // folds the result in.
  void Add(const ModelOutput& a, int row_a, const ModelOutput& b, int row_b);

  // Probabilities and adjacency within `tolerance`, the same points in every
  // image but for ties at the K-th score.
  bool Agrees(float tolerance) const;
};

}  // namespace gcnserve

#endif  // GCNSERVE_BENCH_OUTPUT_COMPARISON_H_
