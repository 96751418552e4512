#include "server/transport/classifier_service.h"

#include <algorithm>
#include <optional>
#include <deque>
#include <vector>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/bounded_text.h"
#include "server/pipeline/response_builder.h"

namespace gcnserve {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      BoundStatusMessage(status.message()));
}

// One classification from arrival to answer.
struct ClassifierService::Call {
  CallContext context;
  const v1::ClassifyRequest* request;
  v1::ClassifyResponse* response;
  Done done;
  std::shared_ptr<ServedModel> model;  // null until found
  ResponseOptions options;
  Clock::TimePoint arrival;
  Clock::Duration preprocess{0};
  DecodeBudget::Reservation decode;  // held from acceptance until decoded
};

namespace {

double Seconds(Clock::Duration d) {
  return std::chrono::duration<double>(d).count();
}
int64_t Micros(Clock::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// The call's deadline on the steady clock, from gRPC's system-clock one.
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

void WakingReactor::OnCancel() {
  if (auto model = model_.lock()) model->Wake();
}

ClassifierService::ClassifierService(ModelManager* models,
                                     ThreadPool* preprocess_pool,
                                     Metrics* metrics, Clock* clock,
                                     DecodeBudget* decode_budget)
    : models_(models),
      pool_(preprocess_pool),
      metrics_(metrics),
      clock_(clock),
      decode_budget_(decode_budget) {}

grpc::ServerUnaryReactor* ClassifierService::Classify(
    grpc::CallbackServerContext* context, const v1::ClassifyRequest* request,
    v1::ClassifyResponse* response) {
  auto* reactor = new WakingReactor;
  std::shared_ptr<ServedModel> used;
  Submit(GrpcContext(context), request, response, &used,
         [reactor](const absl::Status& status) {
           reactor->Finish(ToGrpcStatus(status));
         });
  reactor->set_model(used);
  return reactor;
}

CallContext ClassifierService::GrpcContext(
    grpc::CallbackServerContext* context) const {
  CallContext call;
  call.protocol = CallContext::Protocol::kGrpc;
  call.deadline = SteadyDeadline(*context, clock_->Now());
  call.is_cancelled = [context] { return context->IsCancelled(); };
  return call;
}

void ClassifierService::Submit(const CallContext& context,
                               const v1::ClassifyRequest* request,
                               v1::ClassifyResponse* response,
                               std::shared_ptr<ServedModel>* used, Done done) {
  auto call = std::make_shared<Call>();
  call->context = context;
  call->request = request;
  call->response = response;
  call->done = std::move(done);
  call->arrival = clock_->Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++inflight_;
  }
  metrics_->inflight().Increment();

  if (draining_.load()) {
    auto refuse = [this, call] {
      Finish(*call, absl::UnavailableError("server is shutting down"));
    };
    if (!Hold(refuse)) refuse();
    return;
  }
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      models_->Find(request->model(), request->version());
  if (!model.ok()) {
    Finish(*call, model.status());
    return;
  }
  call->model = *std::move(model);
  if (used) *used = call->model;
  absl::Status valid = ReadResponseOptions(*request, call->options);
  if (!valid.ok()) {
    Finish(*call, valid);
    return;
  }
  // The header says what decoding will take: refuse now what cannot fit.
  absl::StatusOr<DecodePlan> plan = call->model->PlanDecode(request->image());
  if (!plan.ok()) {
    Finish(*call, plan.status());
    return;
  }
  if (decode_budget_ != nullptr) {
    absl::StatusOr<DecodeBudget::Reservation> reserved =
        decode_budget_->Reserve(plan->decoded_bytes);
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

void ClassifierService::Preprocess(std::shared_ptr<Call> call) {
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
      call->model->Preprocess(call->request->image());
  call->decode.Release();
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

void ClassifierService::Finish(Call& call, const absl::Status& status) {
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
    metrics_->ForModel(model)->request_duration->Observe(Seconds(total));
  }
  metrics_->inflight().Decrement();
  Done done = std::move(call.done);
  call.model.reset();  // the version may unload once no call holds it
  done(status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--inflight_ > 0 || !streams_.empty()) return;
  }
  idle_.notify_all();
}

bool ClassifierService::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout,
                        [this] { return inflight_ == 0 && streams_.empty(); });
}

// One ClassifyStream call. Reads an item, submits it, and reads the next
// while fewer than kMaxStreamItemsInFlight are unanswered; writes answers one
// at a time as they come, each tagged with its request_id. A failed item is
// answered with `error` set and the stream goes on. The call finishes once
// the client has closed its side and every item is answered; if the client
// cancels, its queued items are dropped; when the server drains, it finishes
// UNAVAILABLE once the items in flight are answered. Each item's call holds
// its model version while in flight; the stream itself holds none
// (docs/design.md, "Lifecycle").
class ClassifierService::Stream
    : public grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse> {
 public:
  Stream(ClassifierService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    if (!service_->AddStream(this)) {  // the server is draining
      finished_ = true;
      auto refuse = [this] { Finish(DrainingStatus()); };
      if (!service_->Hold(refuse)) refuse();
      return;
    }
    read_pending_ = true;
    StartRead(&read_);
  }

  // The server drains: the stream ends, UNAVAILABLE, once the items in
  // flight are answered (at once when none is), whatever the client still
  // sends. Called with the service's lock held, which keeps the stream alive
  // until it is finished.
  bool Drain() {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    return ShouldFinishLocked();
  }
  void FinishNow() { Finish(end_status_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side, or the call ended
      bool finish;
      {
        std::lock_guard<std::mutex> lock(mu_);
        read_pending_ = false;
        reads_done_ = true;
        finish = ShouldFinishLocked();
      }
      if (finish) FinishNow();
      return;
    }
    auto item = std::make_shared<Item>();
    item->request = std::move(read_);
    bool read_more = false, submit = true, finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      read_pending_ = false;
      if (finished_) return;  // drained while this item was read: dropped
      if (broken_) {  // no answer can reach the client: read no further
        finish = ShouldFinishLocked();
        submit = false;
      } else {
        ++in_flight_;
        ++busy_;
        read_more = in_flight_ < kMaxStreamItemsInFlight && !draining_;
        read_paused_ = !read_more;
        read_pending_ = read_more;
      }
    }
    if (!submit) {
      if (finish) FinishNow();
      return;
    }
    std::shared_ptr<ServedModel> used;
    CallContext call = service_->GrpcContext(context_);
    // A stream whose write failed answers nothing more: its items are
    // dropped as its client's (CANCELLED) wherever they wait.
    call.is_cancelled = [cancelled = std::move(call.is_cancelled),
                         broken = broken_flag_] {
      return broken->load() || cancelled();
    };
    service_->Submit(call, &item->request, &item->response, &used,
                     [this, item](const absl::Status& status) {
                       ItemDone(item, status);
                     });
    if (used) Remember(used);
    if (read_more) StartRead(&read_);
    EndBusy();
  }

  void OnWriteDone(bool ok) override {
    const v1::ClassifyResponse* next = nullptr;
    bool resume_read = false, finish;
    std::vector<std::weak_ptr<ServedModel>> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      to_write_.pop_front();
      --in_flight_;
      if (!ok) {  // the client is gone: answer nothing more
        broken_ = true;
        broken_flag_->store(true);
        in_flight_ -= static_cast<int>(to_write_.size());
        to_write_.clear();
        wake.swap(used_);
      }
      if (!to_write_.empty()) {
        next = &to_write_.front()->response;
      } else {
        writing_ = false;
      }
      if (read_paused_ && !reads_done_ && !broken_ && !draining_) {
        read_paused_ = false;
        read_pending_ = true;
        resume_read = true;
        ++busy_;
      }
      finish = ShouldFinishLocked();
    }
    // Its queued items leave their batchers now, not at their next batch.
    for (const auto& weak : wake) {
      if (auto model = weak.lock()) model->Wake();
    }
    if (next) StartWrite(next);
    if (resume_read) {
      StartRead(&read_);
      EndBusy();
    }
    if (finish) FinishNow();
  }

  void OnCancel() override {
    // Wake the batchers so that they drop this stream's queued items now.
    std::vector<std::weak_ptr<ServedModel>> used;
    {
      std::lock_guard<std::mutex> lock(mu_);
      used.swap(used_);
    }
    for (const auto& weak : used) {
      if (auto model = weak.lock()) model->Wake();
    }
  }

  void OnDone() override {
    service_->RemoveStream(this);
    delete this;
  }

 private:
  struct Item {
    v1::ClassifyRequest request;
    v1::ClassifyResponse response;
  };

  // Ends a reaction that was starting a read: Finish must not come before
  // it, so a drain waits for it.
  void EndBusy() {
    bool finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
      finish = ShouldFinishLocked();
    }
    if (finish) FinishNow();
  }

  // Notes a version this stream sent an item to, without holding it: the
  // item's call holds it while in flight, and a version no item uses may
  // unload whatever streams stay open (docs/design.md, "Lifecycle").
  void Remember(const std::shared_ptr<ServedModel>& model) {
    std::lock_guard<std::mutex> lock(mu_);
    used_.erase(std::remove_if(used_.begin(), used_.end(),
                               [&](const std::weak_ptr<ServedModel>& weak) {
                                 return weak.expired() ||
                                        (!weak.owner_before(model) &&
                                         !model.owner_before(weak));
                               }),
                used_.end());
    used_.push_back(model);
  }

  void ItemDone(const std::shared_ptr<Item>& item, const absl::Status& status) {
    if (!status.ok()) {
      item->response.Clear();
      if (item->request.request_id().size() <= kMaxRequestIdBytes) {
        item->response.set_request_id(item->request.request_id());
      }
      item->response.mutable_error()->set_code(static_cast<int>(status.code()));
      item->response.mutable_error()->set_message(
          BoundStatusMessage(status.message()));
    }
    const v1::ClassifyResponse* write = nullptr;
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (broken_) {
        --in_flight_;
        finish = ShouldFinishLocked();
      } else {
        to_write_.push_back(item);
        if (!writing_) {
          writing_ = true;
          write = &item->response;
        }
      }
    }
    if (write) StartWrite(write);
    if (finish) FinishNow();
  }

  static grpc::Status DrainingStatus() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "server is shutting down; send the items not answered "
                        "to another server");
  }

  // True once, when the stream has nothing more to read or write: the
  // client closed its side (or the call broke with no read outstanding) and
  // every item is answered; or the server drains and every item is answered
  // (a read may be outstanding: Finish ends it). Sets end_status_.
  bool ShouldFinishLocked() {
    if (finished_ || in_flight_ > 0 || busy_ > 0) return false;
    bool closed = !read_pending_ && (reads_done_ || broken_);
    if (!closed && !draining_) return false;
    finished_ = true;
    end_status_ = closed ? grpc::Status::OK : DrainingStatus();
    return true;
  }

  ClassifierService* const service_;
  grpc::CallbackServerContext* const context_;
  v1::ClassifyRequest read_;  // the read buffer; one read at a time

  std::mutex mu_;
  int in_flight_ = 0;  // submitted and not yet written (or given up)
  std::deque<std::shared_ptr<Item>> to_write_;  // front is being written
  std::vector<std::weak_ptr<ServedModel>> used_;  // see Remember()
  bool writing_ = false;
  bool read_paused_ = false;   // in_flight_ hit the limit; no read issued
  bool read_pending_ = false;  // a StartRead awaits its OnReadDone
  bool reads_done_ = false;
  bool broken_ = false;  // a write failed; broken_flag_ says so to items
  std::shared_ptr<std::atomic<bool>> broken_flag_ =
      std::make_shared<std::atomic<bool>>(false);
  int busy_ = 0;  // reactions between deciding to read and StartRead
  bool draining_ = false;
  bool finished_ = false;
  grpc::Status end_status_;  // set with finished_
};

void ClassifierService::HoldNewCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  holding_ = true;
}

bool ClassifierService::Hold(std::function<void()> answer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!holding_) return false;
  held_.push_back(std::move(answer));
  return true;
}

int ClassifierService::held() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(held_.size());
}

void ClassifierService::ReleaseHeld() {
  std::vector<std::function<void()>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = false;
    held.swap(held_);
  }
  for (auto& answer : held) answer();
}

bool ClassifierService::AddStream(Stream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return false;
  streams_.insert(stream);
  return true;
}

void ClassifierService::RemoveStream(Stream* stream) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(stream);
    if (inflight_ > 0 || !streams_.empty()) return;
  }
  idle_.notify_all();
}

void ClassifierService::StartDraining() {
  std::vector<Stream*> finish;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    // A stream is deleted only after it is finished, so those that Drain()
    // finishes here stay valid outside the lock.
    for (Stream* stream : streams_) {
      if (stream->Drain()) finish.push_back(stream);
    }
  }
  for (Stream* stream : finish) stream->FinishNow();
}

grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>*
ClassifierService::ClassifyStream(grpc::CallbackServerContext* context) {
  return new Stream(this, context);
}

grpc::ServerUnaryReactor* ClassifierService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  DescribeModels(response);
  metrics_->CountRequest("", absl::StatusCode::kOk, "grpc");
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void ClassifierService::DescribeModels(
    v1::ListModelsResponse* response) const {
  response->set_default_model(models_->DefaultModel());
  for (const ModelManager::VersionInfo& info : models_->List()) {
    v1::ModelVersion* out = response->add_models();
    out->set_name(info.name);
    out->set_version(info.version);
    out->set_state(info.state);
    out->set_state_reason(info.reason);
    out->set_serving_version(info.serving_version);
    if (!info.model) continue;
    const ModelMetadata& meta = info.model->metadata();
    out->set_architecture(meta.architecture);
    out->set_input_width(meta.input.width);
    out->set_input_height(meta.input.height);
    out->set_input_channels(meta.input.channels);
    for (const std::string& label : meta.labels) out->add_labels(label);
    out->set_num_points(meta.num_points);
    const Batcher::Options& batching = info.model->options().batching;
    out->set_max_batch_size(batching.max_batch_size);
    out->set_max_queue_delay_us(batching.max_queue_delay.count());
    out->set_max_queue_size(batching.max_queue_size);
    out->set_dataset(meta.dataset);
    out->set_digest(meta.digest);
    for (const auto& [key, value] : meta.metrics) {
      (*out->mutable_metrics())[key] = value;
    }
    if (DriftMonitor* drift = info.model->drift()) {
      v1::Drift* summary = out->mutable_drift();
      summary->set_has_reference(true);
      summary->set_min_requests(drift->options().min_requests);
      if (std::optional<DriftMonitor::Score> score = drift->Compute()) {
        summary->set_window_requests(score->requests);
        summary->set_scored(true);
        summary->set_score(score->max);
      } else {
        summary->set_window_requests(drift->Requests());
      }
    }
  }
}

}  // namespace gcnserve
