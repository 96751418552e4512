#ifndef GCNSERVE_SERVER_RUNNER_TORCH_MODEL_RUNNER_H_
#define GCNSERVE_SERVER_RUNNER_TORCH_MODEL_RUNNER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runner/model_metadata.h"
#include "server/runner/model_runner.h"

namespace gcnserve {

// Runs a TorchScript export with LibTorch. The only part of the server that
// includes torch headers. Not thread-safe: one batch thread calls Run; the
// runners that Share() one loaded module may run at once, each on its own
// thread (a module's forward only reads it).
//
// On a CUDA device the model is moved there once at load; each batch is
// staged in pinned host memory, copied without blocking, and its outputs are
// copied back once per batch. Without CUDA in LibTorch those paths are never
// taken, and asking for a GPU is a clear error at load.
class TorchModelRunner : public ModelRunner {
 public:
  struct Options {
    std::string device = "cpu";  // cpu, cuda or cuda:N
    // LibTorch threads for the forward passes of the thread that calls Run;
    // 0 leaves the process default.
    int intra_op_threads = 0;
    // Freeze the module and run LibTorch's inference passes over it
    // (torch::jit::optimize_for_inference): batch norms folded into the
    // convolutions, convolutions through oneDNN with their weights packed
    // once, on the CPU. Results agree with the export as saved to float
    // rounding (bench/README.md, "Optimized for inference").
    bool optimize = true;
  };

  // Loads `path`, reads and checks its gcnserve.json, moves the model to the
  // device once and, with `optimize`, optimizes it for inference; a model
  // that the optimization refuses is served as saved (not_optimized_why
  // says why). A clear error when the file, its metadata or the device is
  // unusable.
  static absl::StatusOr<std::unique_ptr<TorchModelRunner>> Load(
      const std::string& path, const Options& options);

  ~TorchModelRunner() override;

  // Runs the model before it takes traffic, so that no request pays its
  // first-call cost, and checks the outputs against the metadata. On the
  // CPU, TorchScript's profiling executor profiles the first run and
  // optimizes on the second, once for every shape: batch 1 runs twice, then
  // batch sizes 2, 4, 8, ... and `max_batch_size` once each (the largest
  // buffers). A size first seen afterwards costs a few ms more, once (4 to
  // 9 ms for Model3, optimized), against 35 ms for the first two runs
  // (bench/first_call.py), so nothing is padded and the warm-up stays
  // linear in `max_batch_size`. On CUDA, where fusers specialize on shapes,
  // every size from 1 to `max_batch_size` runs twice.
  absl::Status WarmUp(int max_batch_size);

  // Seconds a pass of `batch` images takes (zeros) on the calling thread's
  // current intra-op threads, warming that size up: at least two passes,
  // and more until they took kMinTimed together or kMaxTimedPasses ran. Of
  // kMedianFrom passes or more (a light model's) the median counts: the pass
  // as it usually goes, with its threads woken and other processes on the
  // node, which no single pass decides; of fewer (a heavy model's, each long
  // against such noise) the fastest, as the first at a new size or thread
  // count sets things up. With a `gap`, the thread sleeps that long before
  // each pass, as a lone request's batch thread waits between requests
  // (several intra-op threads are then woken each pass).
  absl::StatusOr<double> TimeBatch(int batch, std::chrono::microseconds gap =
                                                  std::chrono::microseconds(0));

  // The warm-up that also chooses the batch size worth forming, on the CPU:
  // one untimed pass (the module's first, which profiles it), then times
  // batch sizes 1, 2, 4, ... up to `largest` (TimeBatch) and stops at
  // the first size whose images/s is less than kWorthIt times the size
  // before it: that size before is `chosen`. Larger sizes are not run (nor
  // warmed): a batch never grows past `chosen`.
  struct Choice {
    int chosen = 1;
    std::vector<int> sizes;          // run, ascending
    std::vector<double> images_per_s;  // of each size
  };
  static constexpr double kWorthIt = 1.05;
  static constexpr std::chrono::milliseconds kMinTimed{20};
  static constexpr int kMaxTimedPasses = 50;
  static constexpr size_t kMedianFrom = 5;
  // The wait before each pass that times a lone batch: past the spinning of
  // idle OpenMP threads, so that they sleep as between lone requests.
  static constexpr std::chrono::milliseconds kLoneGap{5};
  absl::StatusOr<Choice> WarmUpChoosingBatchSize(int largest);

  // Another runner over the same loaded (and optimized, warmed) module, for
  // another instance: the weights are not copied.
  std::unique_ptr<TorchModelRunner> Share() const;
  // The batch sizes WarmUp runs, ascending: 1, 2, 4, ... below
  // `max_batch_size`, then `max_batch_size`; with `every_size` (CUDA), every
  // size from 1 to `max_batch_size`.
  static std::vector<int> WarmUpBatchSizes(int max_batch_size, bool every_size);

  absl::StatusOr<ModelOutput> Run(const float* input, int batch) override;
  void SetThreads(int threads) override { threads_ = threads; }

  const ModelMetadata& metadata() const { return metadata_; }
  // Whether the module runs optimized for inference: asked for and done.
  bool optimized() const { return options_.optimize && not_optimized_why_.empty(); }
  // Empty unless Options::optimize was asked for and LibTorch's optimization
  // failed: then its error, and the module runs as saved.
  const std::string& not_optimized_why() const { return not_optimized_why_; }

  // Sets LibTorch's intra-op thread count for the whole process, and
  // OpenBLAS's to the same unless OPENBLAS_NUM_THREADS is set; 0 leaves both.
  static void SetIntraOpThreads(int threads);
  // OpenBLAS's thread count; 0 when LibTorch's BLAS is not OpenBLAS.
  static int BlasThreads();
  // The LibTorch version, e.g. "1.13.1".
  static std::string TorchVersion();
  // Checks a device string ("cpu", "cuda", "cuda:1") against this build and
  // machine.
  static absl::Status CheckDevice(const std::string& device);

 private:
  struct Impl;
  TorchModelRunner(std::shared_ptr<Impl> impl, ModelMetadata metadata,
                   Options options, std::string not_optimized_why);

  const std::shared_ptr<Impl> impl_;  // shared by Share()'s runners
  struct Staging;  // CUDA only: this runner's pinned host buffer
  std::unique_ptr<Staging> staging_;
  int threads_ = 0;  // SetThreads; 0: options_.intra_op_threads
  const ModelMetadata metadata_;
  const Options options_;
  const std::string not_optimized_why_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_RUNNER_TORCH_MODEL_RUNNER_H_
