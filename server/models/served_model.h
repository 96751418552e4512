#ifndef GCNSERVE_SERVER_MODELS_SERVED_MODEL_H_
#define GCNSERVE_SERVER_MODELS_SERVED_MODEL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/base/clock.h"
#include "server/batching/batcher.h"
#include "server/decode/image_preprocessor.h"
#include "server/monitoring/drift_monitor.h"
#include "server/monitoring/metrics.h"
#include "server/runner/model_metadata.h"
#include "server/runner/model_runner.h"

namespace gcnserve {

// One model version taking requests: its metadata, its preprocessor, its
// instances (one runner and one batch thread each) and the batcher that feeds
// them from one queue. Thread-safe. ModelManager hands it out as a
// shared_ptr made by ModelUnloader, which stops and frees it once the last
// request holding it is answered (docs/design.md, "Lifecycle").
class ServedModel {
 public:
  struct Options {
    Batcher::Options batching;
    int64_t max_image_pixels = 50'000'000;
    int64_t max_decode_bytes = int64_t{128} << 20;  // per image
    // > 0: each batch runs on max(1, shared_cores / instances busy at its
    // start) intra-op threads (ModelConfig::ThreadsFollowLoad), the busy
    // ones those running a batch and those the work still queued will
    // occupy (up to every instance); 0: the runners keep their own.
    int shared_cores = 0;
    // How the model is executed and why (the loader's words), for ListModels.
    std::string execution;
  };

  // One runner per instance, at least one. `metrics` and `clock` outlive
  // the model. INVALID_ARGUMENT for batching options out of range
  // (Batcher::Create) or no runner.
  static absl::StatusOr<std::unique_ptr<ServedModel>> Create(
      std::string name, int64_t version, ModelMetadata metadata,
      std::vector<std::unique_ptr<ModelRunner>> runners, const Options& options,
      Metrics::Model* metrics, Clock* clock);
  ~ServedModel();  // Stop(true)

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const ModelMetadata& metadata() const { return metadata_; }
  const Options& options() const { return options_; }
  // The metrics of this model's name, which the request path records into.
  Metrics::Model* metrics() const { return metrics_; }

  // Decodes and normalizes an image for this model (see ImagePreprocessor);
  // with the plan PlanDecode made of the same bytes, without reading the
  // header again.
  absl::StatusOr<PreprocessedImage> Preprocess(std::string_view encoded) const {
    return preprocessor_.Process(encoded);
  }
  absl::StatusOr<PreprocessedImage> Preprocess(std::string_view encoded,
                                               const DecodePlan& plan) const {
    return preprocessor_.Process(encoded, plan);
  }
  // What decoding `encoded` will take, from its header (see
  // ImagePreprocessor::Plan).
  absl::StatusOr<DecodePlan> PlanDecode(std::string_view encoded) const {
    return preprocessor_.Plan(encoded);
  }
  // Queues a task for the next batch; see Batcher::Enqueue.
  absl::Status Enqueue(std::unique_ptr<BatchTask>& task);

  // Starts one batch thread per instance.
  void Start() { batcher_->Start(static_cast<int>(instances_.size())); }
  int instances() const { return static_cast<int>(instances_.size()); }
  // See Batcher::Wake.
  void Wake() { batcher_->Wake(); }
  // This version's drift summary; null when the export has no reference.
  DriftMonitor* drift() const { return drift_.get(); }
  // See Batcher::Flush.
  void Flush() { batcher_->Flush(); }
  // See Batcher::Stop.
  void Stop(bool drain) { batcher_->Stop(drain); }

 private:
  ServedModel(std::string name, int64_t version, ModelMetadata metadata,
              const Options& options, Metrics::Model* metrics, Clock* clock);

  // Runs one batch: stacks the inputs, runs the model, completes every task,
  // or fails every task with the model's error; then, the answers sent,
  // records each one's confidence and drift signals.
  void Process(Batch batch, int instance);

  // What one instance's batch thread owns.
  struct Instance {
    std::unique_ptr<ModelRunner> runner;
    std::vector<float> input;  // the batch's stacked inputs
  };

  const std::string name_;
  const int64_t version_;
  const ModelMetadata metadata_;
  const Options options_;
  const ImagePreprocessor preprocessor_;
  std::vector<Instance> instances_;  // [i] used by batch thread i only
  std::atomic<int> running_{0};      // instances inside a forward pass
  Metrics::Model* const metrics_;
  Clock* const clock_;
  // Null when the export carries no drift reference.
  const std::shared_ptr<DriftMonitor> drift_;
  std::unique_ptr<Batcher> batcher_;  // last: its threads use the members above
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_SERVED_MODEL_H_
