#include "bench/forward_throughput.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "server/base/status_macros.h"

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

// One instance's pass times in ms, sorted.
absl::StatusOr<std::vector<double>> TimeOnThisThread(
    ModelRunner& runner, const std::vector<float>& input, int batch,
    std::chrono::steady_clock::time_point end, int min_passes) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> ms;
  while (static_cast<int>(ms.size()) < min_passes || Clock::now() < end) {
    Clock::time_point start = Clock::now();
    GCN_RETURN_IF_ERROR(runner.Run(input.data(), batch).status());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

}  // namespace

absl::StatusOr<ForwardThroughput> MeasureForward(
    const std::vector<ModelRunner*>& runners, const std::vector<float>& images,
    size_t image_floats, int batch, double seconds, int min_passes) {
  using Clock = std::chrono::steady_clock;
  const std::vector<float> input = TileImages(images, image_floats, batch);
  for (ModelRunner* runner : runners) {
    for (int pass = 0; pass < 2; ++pass) {
      GCN_RETURN_IF_ERROR(runner->Run(input.data(), batch).status());
    }
  }
  const Clock::time_point end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  std::vector<absl::StatusOr<std::vector<double>>> times(runners.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < runners.size(); ++i) {
    threads.emplace_back([&, i] {
      times[i] = TimeOnThisThread(*runners[i], input, batch, end, min_passes);
    });
  }
  for (std::thread& thread : threads) thread.join();
  ForwardThroughput result;
  result.batch = batch;
  std::vector<double> all;
  for (const auto& ms : times) {
    if (!ms.ok()) return ms.status();
    result.images_per_s += batch * 1000.0 / (*ms)[ms->size() / 2];
    all.insert(all.end(), ms->begin(), ms->end());
  }
  std::sort(all.begin(), all.end());
  result.passes = static_cast<int>(all.size());
  result.median_ms = all[all.size() / 2];
  return result;
}

}  // namespace gcnserve
