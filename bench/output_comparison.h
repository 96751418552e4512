#ifndef GCNSERVE_BENCH_OUTPUT_COMPARISON_H_
#define GCNSERVE_BENCH_OUTPUT_COMPARISON_H_

#include "server/model_runner.h"

namespace gcnserve {

// How far apart two runs of a model on the same images answered, image by
// image (CPU against CUDA, or a batch's row against the image run alone).
//
// Interest points are matched by position and level, not by their order in
// the output, so that two points of (nearly) equal score may come in either
// order; the adjacency is then compared under that matching. An image whose
// points are not the same set is counted, and its adjacency is not compared.
struct OutputComparison {
  int images = 0;
  float max_probability_diff = 0;  // absolute, over every class
  float max_adjacency_diff = 0;    // absolute, over every matched entry
  float max_score_diff = 0;        // attention scores of matched points
  int images_with_other_points = 0;

  // Compares row `row_a` of `a` with row `row_b` of `b` (same model) and
  // folds the result in.
  void Add(const ModelOutput& a, int row_a, const ModelOutput& b, int row_b);

  // Probabilities and adjacency within `tolerance`, the same points in every
  // image.
  bool Agrees(float tolerance) const;
};

}  // namespace gcnserve

#endif  // GCNSERVE_BENCH_OUTPUT_COMPARISON_H_
