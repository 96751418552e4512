#include "bench/forward_throughput.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "server/status_macros.h"

namespace gcnserve {

std::vector<float> TileImages(const std::vector<float>& images,
                              size_t image_floats, int batch) {
  size_t count = images.size() / image_floats;
  std::vector<float> out(image_floats * batch);
  for (int i = 0; i < batch; ++i) {
    std::copy_n(images.begin() + (i % count) * image_floats, image_floats,
                out.begin() + i * image_floats);
  }
  return out;
}

namespace {

absl::StatusOr<ForwardThroughput> MeasureOnThisThread(
    ModelRunner& runner, const std::vector<float>& images, size_t image_floats,
    int batch, double seconds, int min_passes) {
  using Clock = std::chrono::steady_clock;
  std::vector<float> input = TileImages(images, image_floats, batch);
  for (int pass = 0; pass < 2; ++pass) {
    GCN_RETURN_IF_ERROR(runner.Run(input.data(), batch).status());
  }
  std::vector<double> ms;
  Clock::time_point end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (static_cast<int>(ms.size()) < min_passes || Clock::now() < end) {
    Clock::time_point start = Clock::now();
    GCN_RETURN_IF_ERROR(runner.Run(input.data(), batch).status());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  ForwardThroughput result;
  result.batch = batch;
  result.passes = static_cast<int>(ms.size());
  result.median_ms = ms[ms.size() / 2];
  result.images_per_s = batch * 1000.0 / result.median_ms;
  return result;
}

}  // namespace

absl::StatusOr<ForwardThroughput> MeasureForward(ModelRunner& runner,
                                                 const std::vector<float>& images,
                                                 size_t image_floats, int batch,
                                                 double seconds,
                                                 int min_passes) {
  absl::StatusOr<ForwardThroughput> result;
  // On a thread of its own, as the server's batch thread runs the model.
  std::thread([&] {
    result = MeasureOnThisThread(runner, images, image_floats, batch, seconds,
                                 min_passes);
  }).join();
  return result;
}

}  // namespace gcnserve
