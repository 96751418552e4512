#include "server/models/served_model.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace gcnserve {

namespace {
double Seconds(Clock::Duration d) {
  return std::chrono::duration<double>(d).count();
}
}  // namespace

absl::StatusOr<std::unique_ptr<ServedModel>> ServedModel::Create(
    std::string name, int64_t version, ModelMetadata metadata,
    std::vector<std::unique_ptr<ModelRunner>> runners, const Options& options,
    Metrics::Model* metrics, Clock* clock) {
  if (runners.empty()) {
    return absl::InvalidArgumentError("a served model needs a runner");
  }
  std::unique_ptr<ServedModel> model(new ServedModel(
      std::move(name), version, std::move(metadata), options, metrics, clock));
  for (auto& runner : runners) {
    model->instances_.push_back({std::move(runner), {}});
  }
  ServedModel* served = model.get();
  absl::StatusOr<std::unique_ptr<Batcher>> batcher = Batcher::Create(
      options.batching,
      [served](Batch batch, int instance) {
        served->Process(std::move(batch), instance);
      },
      clock,
      // The model's gauges sum over its served versions (each has its own
      // queue), so each version adds its own changes.
      [metrics, reported = 0](int depth) mutable {
        metrics->queue_depth->Increment(depth - reported);
        reported = depth;
      });
  if (!batcher.ok()) return batcher.status();
  model->batcher_ = *std::move(batcher);
  return model;
}

ServedModel::ServedModel(std::string name, int64_t version,
                         ModelMetadata metadata, const Options& options,
                         Metrics::Model* metrics, Clock* clock)
    : name_(std::move(name)),
      version_(version),
      metadata_(std::move(metadata)),
      options_(options),
      preprocessor_(metadata_.input, options.max_image_pixels,
                    options.max_decode_bytes),
      metrics_(metrics),
      clock_(clock),
      drift_(metrics->drift->Add(name_, version, metadata_, clock)) {
  metrics_->queue_capacity->Increment(options.batching.max_queue_size);
}

ServedModel::~ServedModel() {
  if (batcher_) Stop(/*drain=*/true);
  metrics_->queue_capacity->Decrement(options_.batching.max_queue_size);
}

absl::Status ServedModel::Enqueue(std::unique_ptr<BatchTask>& task) {
  return batcher_->Enqueue(task);
}

void ServedModel::Process(Batch batch, int instance) {
  Instance& self = instances_[instance];
  const int size = static_cast<int>(batch.size());
  const size_t image = batch.front()->input.size();
  self.input.resize(image * size);
  for (int i = 0; i < size; ++i) {
    const BatchTask& task = *batch[i];
    metrics_->queue->Observe(Seconds(task.dequeue_time - task.enqueue_time));
    std::copy(task.input.begin(), task.input.end(),
              self.input.begin() + i * image);
  }
  metrics_->batch_size->Observe(size);

  if (options_.shared_cores > 0) {
    // Work still queued starts on other instances before this batch ends:
    // count them as running, so that this batch does not hold their cores
    // (more threads than cores) for its length.
    const int running = running_.fetch_add(1) + 1;
    const int max_batch = std::max(1, options_.batching.max_batch_size);
    const int soon = (batcher_->queue_depth() + max_batch - 1) / max_batch;
    const int busy =
        std::min(static_cast<int>(instances_.size()), running + soon);
    self.runner->SetThreads(std::max(1, options_.shared_cores / std::max(1, busy)));
  }
  Clock::TimePoint start = clock_->Now();
  absl::StatusOr<ModelOutput> output = self.runner->Run(self.input.data(), size);
  if (options_.shared_cores > 0) running_.fetch_sub(1);
  BatchInfo info{size, clock_->Now() - start};
  metrics_->inference->Observe(Seconds(info.inference));
  for (int i = 0; i < size; ++i) {
    if (output.ok()) {
      info.queued = batch[i]->dequeue_time - batch[i]->enqueue_time;
      batch[i]->complete(*output, i, info);
    } else {
      batch[i]->fail(output.status());
    }
  }
  if (!output.ok()) return;
  for (int i = 0; i < size; ++i) {
    const float* p =
        output->probabilities.data() + static_cast<size_t>(i) * output->classes;
    metrics_->confidence->Observe(*std::max_element(p, p + output->classes));
    if (drift_) drift_->Record(*output, i);
  }
}

}  // namespace gcnserve
