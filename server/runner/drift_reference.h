#ifndef GCNSERVE_SERVER_RUNNER_DRIFT_REFERENCE_H_
#define GCNSERVE_SERVER_RUNNER_DRIFT_REFERENCE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace gcnserve {

// The numbers the server watches per answer, each one per image, computed
// from the model's outputs as model/gcnserve_model/reference.py computes them
// at export (docs/design.md, "Drift"). The graph signals exist only for a
// model with a graph.
enum class DriftSignal : int {
  kPredictedClass,  // argmax of the probabilities: one bin per class
  kConfidence,      // the top-1 probability
  kAttention,       // the points' mean attention score
  kCentroidX,       // mean x / input width
  kCentroidY,       // mean y / input height
  kSpread,          // RMS distance from the centroid, input-relative
  kBorder,          // share of points within kDriftBorder of an edge
  kAdjacency,       // mean of the K x K normalized adjacency
};
inline constexpr int kDriftSignals = 8;
// A point is at the border when its relative x or y is below this or above
// 1 minus this (reference.py's BORDER).
inline constexpr double kDriftBorder = 0.125;

// The names in gcnserve.json and in the metric's `signal` label.
inline constexpr std::array<std::string_view, kDriftSignals> kDriftSignalNames =
    {"predicted_class", "confidence", "attention", "centroid_x",
     "centroid_y",      "spread",     "border",    "adjacency"};

inline std::optional<DriftSignal> DriftSignalNamed(std::string_view name) {
  for (int i = 0; i < kDriftSignals; ++i) {
    if (kDriftSignalNames[i] == name) return static_cast<DriftSignal>(i);
  }
  return std::nullopt;
}
inline bool IsGraphSignal(DriftSignal s) {
  return static_cast<int>(s) >= static_cast<int>(DriftSignal::kAttention);
}

// The `reference` object of gcnserve.json: how the model's answers are
// distributed over its validation split, in fixed bins.
struct DriftReference {
  struct Signal {
    DriftSignal signal;
    // Ascending; value v falls in bin upper_bound(edges, v), so there are
    // edges.size() + 1 bins. Empty for kPredictedClass (bin = class).
    std::vector<double> edges;
    std::vector<double> fractions;  // the reference's share of each bin
  };
  int64_t images = 0;           // how many images it was computed on
  std::vector<Signal> signals;  // each signal at most once
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_RUNNER_DRIFT_REFERENCE_H_
