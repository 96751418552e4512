#ifndef GCNSERVE_BENCH_FORWARD_THROUGHPUT_H_
#define GCNSERVE_BENCH_FORWARD_THROUGHPUT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "server/runner/model_runner.h"

namespace gcnserve {

// One batch size's forward passes, as the server runs them: through
// ModelRunner::Run, input staging, softmax and the copy back included.
struct ForwardThroughput {
  int batch = 0;
  int passes = 0;             // over every instance
  double median_ms = 0;       // one forward pass of the whole batch
  double images_per_s = 0;    // summed over the instances: batch / median pass
};

// Times `runners` (the instances of one model, at least one) on batches of
// `batch` images drawn in turn from `images` (back-to-back CHW images of
// `image_floats` floats each, at least one): each on a thread of its own, all
// at the same time, as the server's batch threads run them under load,
// passes until `seconds` have gone by, at least `min_passes` each. The first
// two passes of each are not timed (TorchScript optimizes on its second
// run). The error of the first pass that fails.
absl::StatusOr<ForwardThroughput> MeasureForward(
    const std::vector<ModelRunner*>& runners, const std::vector<float>& images,
    size_t image_floats, int batch, double seconds, int min_passes = 5);

// `batch` images drawn in turn from `images`, back to back.
std::vector<float> TileImages(const std::vector<float>& images,
                              size_t image_floats, int batch);

}  // namespace gcnserve

#endif  // GCNSERVE_BENCH_FORWARD_THROUGHPUT_H_
