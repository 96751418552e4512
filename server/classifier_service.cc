#include "server/classifier_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/response_builder.h"

namespace gcnserve {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// One Classify call from arrival to answer.
struct ClassifierService::Call {
  grpc::CallbackServerContext* context;
  grpc::ServerUnaryReactor* reactor;
  const v1::ClassifyRequest* request;
  v1::ClassifyResponse* response;
  std::shared_ptr<ServedModel> model;  // null until found
  ResponseOptions options;
  Clock::TimePoint arrival;
  Clock::TimePoint deadline = Clock::TimePoint::max();
  Clock::Duration preprocess{0};
};

namespace {

double Seconds(Clock::Duration d) {
  return std::chrono::duration<double>(d).count();
}
int64_t Micros(Clock::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// The call's deadline on `clock`, from gRPC's system-clock deadline.
Clock::TimePoint SteadyDeadline(const grpc::CallbackServerContext& context,
                                Clock::TimePoint now) {
  auto deadline = context.deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() -
                      std::chrono::hours(24 * 365)) {
    return Clock::TimePoint::max();
  }
  return now + std::chrono::duration_cast<Clock::Duration>(
                   deadline - std::chrono::system_clock::now());
}

}  // namespace

ClassifierService::ClassifierService(Models models, std::string default_model,
                                     ThreadPool* preprocess_pool,
                                     Metrics* metrics, Clock* clock)
    : models_(std::move(models)),
      default_model_(std::move(default_model)),
      pool_(preprocess_pool),
      metrics_(metrics),
      clock_(clock) {}

grpc::ServerUnaryReactor* ClassifierService::Classify(
    grpc::CallbackServerContext* context, const v1::ClassifyRequest* request,
    v1::ClassifyResponse* response) {
  auto call = std::make_shared<Call>();
  call->context = context;
  call->reactor = context->DefaultReactor();
  call->request = request;
  call->response = response;
  call->arrival = clock_->Now();
  call->deadline = SteadyDeadline(*context, call->arrival);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++inflight_;
  }
  metrics_->inflight().Increment();

  if (draining_) {
    Finish(*call, absl::UnavailableError("server is shutting down"));
    return call->reactor;
  }
  const std::string& name =
      request->model().empty() ? default_model_ : request->model();
  auto it = models_.find(name);
  if (it == models_.end()) {
    std::vector<std::string> names;
    for (const auto& [known, model] : models_) names.push_back(known);
    Finish(*call, absl::NotFoundError(absl::StrCat(
                      "model '", name, "' not found; served: ",
                      absl::StrJoin(names, ", "))));
    return call->reactor;
  }
  if (request->version() != 0 && request->version() != it->second->version()) {
    Finish(*call, absl::NotFoundError(absl::StrCat(
                      "model '", name, "' has no version ", request->version(),
                      "; served: ", it->second->version())));
    return call->reactor;
  }
  call->model = it->second;
  absl::Status valid = ReadResponseOptions(*request, call->options);
  if (!valid.ok()) {
    Finish(*call, valid);
    return call->reactor;
  }
  if (!pool_->TrySubmit([this, call] { Preprocess(call); })) {
    Finish(*call, absl::ResourceExhaustedError(
                      "the preprocessing queue is full; retry later"));
  }
  return call->reactor;
}

void ClassifierService::Preprocess(std::shared_ptr<Call> call) {
  Clock::TimePoint start = clock_->Now();
  absl::StatusOr<PreprocessedImage> image =
      call->model->Preprocess(call->request->image());
  call->preprocess = clock_->Now() - start;
  Metrics::Model* metrics = metrics_->ForModel(call->model->name());
  metrics->preprocess->Observe(Seconds(call->preprocess));
  if (!image.ok()) {
    Finish(*call, image.status());
    return;
  }
  call->options.original_width = image->original_width;
  call->options.original_height = image->original_height;

  auto task = std::make_unique<BatchTask>();
  task->input = std::move(image->chw);
  task->deadline = call->deadline;
  grpc::CallbackServerContext* context = call->context;
  task->is_cancelled = [context] { return context->IsCancelled(); };
  task->fail = [this, call](absl::Status status) { Finish(*call, status); };
  task->complete = [this, call, metrics](const ModelOutput& output, int row,
                                         const BatchInfo& batch) {
    Clock::TimePoint start = clock_->Now();
    v1::ClassifyResponse& response = *call->response;
    BuildResponse(call->model->metadata(), output, row, call->options,
                  response);
    response.set_model(call->model->name());
    response.set_version(call->model->version());
    response.set_request_id(call->request->request_id());
    metrics->postprocess->Observe(Seconds(clock_->Now() - start));
    v1::Timing* timing = response.mutable_timing();
    timing->set_queue_us(Micros(batch.queued));
    timing->set_preprocess_us(Micros(call->preprocess));
    timing->set_inference_us(Micros(batch.inference));
    timing->set_batch_size(batch.size);
    Finish(*call, absl::OkStatus());
  };
  absl::Status queued = call->model->Enqueue(task);
  if (!queued.ok()) Finish(*call, queued);
}

void ClassifierService::Finish(Call& call, const absl::Status& status) {
  const std::string model = call.model ? call.model->name() : "";
  Clock::Duration total = clock_->Now() - call.arrival;
  if (status.ok()) {
    call.response->mutable_timing()->set_total_us(Micros(total));
  }
  metrics_->CountRequest(model, status.code());
  if (call.model) {
    metrics_->ForModel(model)->request_duration->Observe(Seconds(total));
  }
  metrics_->inflight().Decrement();
  call.reactor->Finish(ToGrpcStatus(status));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--inflight_ > 0) return;
  }
  idle_.notify_all();
}

bool ClassifierService::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return inflight_ == 0; });
}

grpc::ServerUnaryReactor* ClassifierService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  response->set_default_model(default_model_);
  for (const auto& [name, model] : models_) {
    const ModelMetadata& meta = model->metadata();
    v1::ModelVersion* out = response->add_models();
    out->set_name(name);
    out->set_version(model->version());
    out->set_state(v1::READY);
    out->set_architecture(meta.architecture);
    out->set_input_width(meta.input.width);
    out->set_input_height(meta.input.height);
    out->set_input_channels(meta.input.channels);
    for (const std::string& label : meta.labels) out->add_labels(label);
    out->set_num_points(meta.num_points);
    const Batcher::Options& batching = model->options().batching;
    out->set_max_batch_size(batching.max_batch_size);
    out->set_max_queue_delay_us(batching.max_queue_delay.count());
    out->set_max_queue_size(batching.max_queue_size);
    out->set_dataset(meta.dataset);
    for (const auto& [key, value] : meta.metrics) {
      (*out->mutable_metrics())[key] = value;
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace gcnserve
