#include "server/pipeline/pipeline.h"

#include <utility>

#include "server/pipeline/response_builder.h"

namespace gcnserve {

// One request from submission to answer.
struct Pipeline::Call {
  CallContext context;  // is_cancelled also reads the handle's flag
  const v1::ClassifyRequest* request;
  v1::ClassifyResponse* response;
  Done done;
  std::shared_ptr<ServedModel> model;  // null until found
  ResponseOptions options;
  DecodePlan plan;  // from the header, at admission
  Clock::TimePoint arrival;
  Clock::Duration preprocess{0};
  DecodeBudget::Reservation decode;  // held from admission until decoded
};

namespace {

double Seconds(Clock::Duration d) {
  return std::chrono::duration<double>(d).count();
}
int64_t Micros(Clock::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

void Pipeline::Handle::Cancel() const {
  if (!state_) return;
  state_->cancelled.store(true);
  if (auto model = state_->model.lock()) model->Wake();
}

Pipeline::Pipeline(const ModelFinder* models, ThreadPool* preprocess_pool,
                   Metrics* metrics, Clock* clock, DecodeBudget* decode_budget)
    : models_(models),
      pool_(preprocess_pool),
      metrics_(metrics),
      clock_(clock),
      decode_budget_(decode_budget) {}

Pipeline::Handle Pipeline::Start(const CallContext& context,
                                 const v1::ClassifyRequest* request,
                                 v1::ClassifyResponse* response, Done done,
                                 std::shared_ptr<Call>& call) {
  auto state = std::make_shared<Handle::State>();
  call = std::make_shared<Call>();
  call->context = context;
  call->context.is_cancelled = [state, cancelled = context.is_cancelled] {
    return state->cancelled.load() || (cancelled && cancelled());
  };
  call->request = request;
  call->response = response;
  call->done = std::move(done);
  call->arrival = clock_->Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++inflight_;
  }
  metrics_->inflight().Increment();
  return Handle(std::move(state));
}

Pipeline::Handle Pipeline::Submit(const CallContext& context,
                                  const v1::ClassifyRequest* request,
                                  v1::ClassifyResponse* response, Done done) {
  std::shared_ptr<Call> call;
  Handle handle = Start(context, request, response, std::move(done), call);
  if (!draining_.load()) {
    absl::StatusOr<std::shared_ptr<ServedModel>> model =
        models_->Find(request->model(), request->version());
    if (!model.ok()) {
      Finish(*call, model.status());
      return handle;
    }
    call->model = *std::move(model);
    handle.state_->model = call->model;
  }
  Admit(std::move(call));
  return handle;
}

Pipeline::Handle Pipeline::Submit(const CallContext& context,
                                  std::shared_ptr<ServedModel> model,
                                  const v1::ClassifyRequest* request,
                                  v1::ClassifyResponse* response, Done done) {
  std::shared_ptr<Call> call;
  Handle handle = Start(context, request, response, std::move(done), call);
  handle.state_->model = model;
  call->model = std::move(model);
  Admit(std::move(call));
  return handle;
}

void Pipeline::Admit(std::shared_ptr<Call> call) {
  if (draining_.load()) {
    auto refuse = [this, call] {
      Finish(*call, absl::UnavailableError("server is shutting down"));
    };
    if (!Hold(refuse)) refuse();
    return;
  }
  absl::Status valid = ReadResponseOptions(*call->request, call->options);
  if (!valid.ok()) {
    Finish(*call, valid);
    return;
  }
  // The header says what decoding will take: refuse now what cannot fit.
  absl::StatusOr<DecodePlan> plan = call->model->PlanDecode(call->request->image());
  if (!plan.ok()) {
    Finish(*call, plan.status());
    return;
  }
  call->plan = *std::move(plan);
  if (decode_budget_ != nullptr) {
    absl::StatusOr<DecodeBudget::Reservation> reserved =
        decode_budget_->Reserve(call->plan.decoded_bytes);
    if (!reserved.ok()) {
      Finish(*call, reserved.status());
      return;
    }
    call->decode = *std::move(reserved);
  }
  if (!pool_->TrySubmit([this, call] { Preprocess(call); })) {
    Finish(*call, absl::UnavailableError(
                      "the preprocessing queue is full; retry later"));
  }
}

void Pipeline::Preprocess(std::shared_ptr<Call> call) {
  Clock::TimePoint start = clock_->Now();
  // Nobody waits for this decode any more: skip it.
  switch (CheckCaller(call->context.deadline, call->context.is_cancelled, start)) {
    case CallerGone::kNo:
      break;
    case CallerGone::kDeadline:
      call->decode.Release();
      Finish(*call, absl::DeadlineExceededError(
                        "the deadline passed before the image was decoded"));
      return;
    case CallerGone::kCancelled:
      call->decode.Release();
      Finish(*call, absl::CancelledError(
                        "the client cancelled before the image was decoded"));
      return;
  }
  absl::StatusOr<PreprocessedImage> image =
      call->model->Preprocess(call->request->image(), call->plan);
  call->decode.Release();
  call->preprocess = clock_->Now() - start;
  Metrics::Model* metrics = call->model->metrics();
  metrics->preprocess->Observe(Seconds(call->preprocess));
  if (!image.ok()) {
    Finish(*call, image.status());
    return;
  }
  call->options.original_width = image->original_width;
  call->options.original_height = image->original_height;

  auto task = std::make_unique<BatchTask>();
  task->input = std::move(image->chw);
  task->deadline = call->context.deadline;
  task->is_cancelled = call->context.is_cancelled;
  task->fail = [this, call](absl::Status status) { Finish(*call, status); };
  task->complete = [this, call, metrics](const ModelOutput& output, int row,
                                         const BatchInfo& batch) {
    Clock::TimePoint start = clock_->Now();
    v1::ClassifyResponse& response = *call->response;
    BuildResponse(call->model->metadata(), output, row, call->options,
                  response);
    response.set_model(call->model->name());
    response.set_version(call->model->version());
    response.set_model_digest(call->model->metadata().digest);
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

void Pipeline::Finish(Call& call, const absl::Status& status) {
  // An unknown version is counted under its known model.
  const std::string model = call.model ? call.model->name()
                                       : models_->MetricLabel(call.request->model());
  Clock::Duration total = clock_->Now() - call.arrival;
  if (status.ok()) {
    call.response->mutable_timing()->set_total_us(Micros(total));
  }
  metrics_->CountRequest(model, status.code(),
                         ProtocolName(call.context.protocol));
  if (call.model) {
    call.model->metrics()->request_duration->Observe(Seconds(total));
  }
  metrics_->inflight().Decrement();
  Done done = std::move(call.done);
  call.model.reset();  // the version may unload once no call holds it
  done(status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--inflight_ > 0 || !sessions_.empty()) return;
  }
  idle_.notify_all();
}

bool Pipeline::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout,
                        [this] { return inflight_ == 0 && sessions_.empty(); });
}

void Pipeline::HoldNewCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  holding_ = true;
}

bool Pipeline::Hold(std::function<void()> answer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!holding_) return false;
  held_.push_back(std::move(answer));
  return true;
}

int Pipeline::held() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(held_.size());
}

void Pipeline::ReleaseHeld() {
  std::vector<std::function<void()>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = false;
    held.swap(held_);
  }
  for (auto& answer : held) answer();
}

bool Pipeline::Open(Session* session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return false;
  sessions_.insert(session);
  return true;
}

void Pipeline::Close(Session* session) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(session);
    if (inflight_ > 0 || !sessions_.empty()) return;
  }
  idle_.notify_all();
}

void Pipeline::StartDraining() {
  std::vector<Session*> end;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    // A session is deleted only after it has ended, so those that Drain()
    // ends here stay valid outside the lock.
    for (Session* session : sessions_) {
      if (session->Drain()) end.push_back(session);
    }
  }
  for (Session* session : end) session->EndDrained();
}

}  // namespace gcnserve
