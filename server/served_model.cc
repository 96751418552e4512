#include "server/served_model.h"

#include <chrono>
#include <utility>

namespace gcnserve {

namespace {
double Seconds(Clock::Duration d) {
  return std::chrono::duration<double>(d).count();
}
}  // namespace

ServedModel::ServedModel(std::string name, int64_t version,
                         ModelMetadata metadata,
                         std::unique_ptr<ModelRunner> runner,
                         const Options& options, Metrics::Model* metrics,
                         Clock* clock)
    : name_(std::move(name)),
      version_(version),
      metadata_(std::move(metadata)),
      options_(options),
      preprocessor_(metadata_.input, options.max_image_pixels),
      runner_(std::move(runner)),
      metrics_(metrics),
      clock_(clock),
      batcher_(options.batching, [this](Batch batch) { Process(std::move(batch)); },
               clock) {}

ServedModel::~ServedModel() { Stop(/*drain=*/true); }

absl::Status ServedModel::Enqueue(std::unique_ptr<BatchTask>& task) {
  absl::Status status = batcher_.Enqueue(task);
  metrics_->queue_depth->Set(batcher_.queue_depth());
  return status;
}

void ServedModel::Process(Batch batch) {
  metrics_->queue_depth->Set(batcher_.queue_depth());
  const int size = static_cast<int>(batch.size());
  const size_t image = batch.front()->input.size();
  input_.resize(image * size);
  for (int i = 0; i < size; ++i) {
    const BatchTask& task = *batch[i];
    metrics_->queue->Observe(Seconds(task.dequeue_time - task.enqueue_time));
    std::copy(task.input.begin(), task.input.end(), input_.begin() + i * image);
  }
  metrics_->batch_size->Observe(size);

  Clock::TimePoint start = clock_->Now();
  absl::StatusOr<ModelOutput> output = runner_->Run(input_.data(), size);
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
}

}  // namespace gcnserve
