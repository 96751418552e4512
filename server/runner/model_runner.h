#ifndef GCNSERVE_SERVER_RUNNER_MODEL_RUNNER_H_
#define GCNSERVE_SERVER_RUNNER_MODEL_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runner/model_metadata.h"

namespace gcnserve {

// What one forward pass returns for a batch of `batch` images, in plain
// row-major arrays (docs/design.md, "The export contract"). The graph arrays
// are empty for a model without a graph.
struct ModelOutput {
  int batch = 0;
  int classes = 0;
  int points = 0;                    // K
  std::vector<float> probabilities;  // [batch, classes], softmax of logits
  std::vector<float> point_xy;       // [batch, K, 2], input-tensor pixels
  std::vector<float> point_scores;   // [batch, K]
  std::vector<int64_t> point_levels; // [batch, K]
  std::vector<float> adjacency;      // [batch, K, K]
};

// Runs one model's forward pass. Implementations say whether they are
// thread-safe; the server calls Run from one batch thread per instance.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // `input` holds `batch` normalized CHW images back to back. INTERNAL when
  // the model raises; the runner stays usable.
  virtual absl::StatusOr<ModelOutput> Run(const float* input, int batch) = 0;

  // The intra-op threads of the next passes run from the calling thread; 0
  // goes back to the runner's own setting. A runner without threads of its
  // own ignores it.
  virtual void SetThreads(int threads) {}
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_RUNNER_MODEL_RUNNER_H_
