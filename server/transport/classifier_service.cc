#include "server/transport/classifier_service.h"

#include <algorithm>
#include <list>
#include <memory>
#include <mutex>
#include <utility>

#include "server/base/bounded_text.h"
#include "server/pipeline/model_list.h"
#include "server/pipeline/response_builder.h"
#include "server/pipeline/stream_flow.h"

namespace gcnserve {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      BoundStatusMessage(status.message()));
}

CallContext GrpcCallContext(grpc::CallbackServerContext* context, Clock* clock) {
  CallContext call;
  call.protocol = CallContext::Protocol::kGrpc;
  // The call's deadline on the steady clock, from gRPC's system-clock one.
  auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() -
                      std::chrono::hours(24 * 365)) {
    call.deadline = Clock::TimePoint::max();
  } else {
    call.deadline = clock->Now() + std::chrono::duration_cast<Clock::Duration>(
                                       deadline - std::chrono::system_clock::now());
  }
  call.is_cancelled = [context] { return context->IsCancelled(); };
  return call;
}

ClassifierService::ClassifierService(Pipeline* pipeline,
                                     const ModelManager* models,
                                     Metrics* metrics, Clock* clock)
    : pipeline_(pipeline), models_(models), metrics_(metrics), clock_(clock) {}

grpc::ServerUnaryReactor* ClassifierService::Classify(
    grpc::CallbackServerContext* context, const v1::ClassifyRequest* request,
    v1::ClassifyResponse* response) {
  auto* reactor = new CancellingReactor;
  reactor->Track(pipeline_->Submit(GrpcCallContext(context, clock_), request,
                                   response,
                                   [reactor](const absl::Status& status) {
                                     reactor->Finish(ToGrpcStatus(status));
                                   }));
  return reactor;
}

// One ClassifyStream call: its items go through the pipeline, the flow
// control is a StreamFlow (reads paused at kMaxStreamItemsInFlight, answers
// written one at a time as they come, each tagged with its request_id). A
// failed item is answered with `error` set and the stream goes on. If the
// client cancels, or a write fails, the items in flight are cancelled. Each
// item holds its model version while in flight; the stream itself holds
// none (docs/design.md, "Lifecycle").
class ClassifierService::Stream
    : public grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>,
      public Pipeline::Session {
 public:
  Stream(ClassifierService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    // Registered first, outside the lock (the pipeline calls Drain() under
    // its own): a drain may then come before Open, which the flow allows.
    registered_ = service_->pipeline_->Open(this);
    Flow::Step step;
    {
      std::lock_guard<std::mutex> lock(mu_);
      step = flow_.Open(!registered_);
    }
    if (!registered_) {  // the server is draining
      auto refuse = [this] { End(Flow::End::kDraining); };
      if (!service_->pipeline_->Hold(refuse)) refuse();
      return;
    }
    Act(step);
  }

  bool Drain() override {
    std::lock_guard<std::mutex> lock(mu_);
    drained_end_ = flow_.Drain().end;
    return drained_end_.has_value();
  }
  void EndDrained() override { End(*drained_end_); }

  void OnReadDone(bool ok) override {
    std::shared_ptr<Item> item;
    Flow::Step step;
    {
      std::lock_guard<std::mutex> lock(mu_);
      step = flow_.ReadDone(ok);
      if (step.submit) {
        item = std::make_shared<Item>();
        item->request = std::move(read_);
      }
    }
    if (item) {
      item->handle = service_->pipeline_->Submit(
          GrpcCallContext(context_, service_->clock_), &item->request,
          &item->response,
          [this, item](const absl::Status& status) { ItemDone(item, status); });
      bool cancel;
      {
        std::lock_guard<std::mutex> lock(mu_);
        // A write may have failed meanwhile: then this item is given up too.
        cancel = cancelled_;
        if (!cancel && !item->answered) in_flight_.push_back(item);
      }
      if (cancel) item->handle.Cancel();
    }
    Act(step);
  }

  void OnWriteDone(bool ok) override {
    Flow::Step step;
    {
      std::lock_guard<std::mutex> lock(mu_);
      step = flow_.WriteDone(ok);
    }
    Act(step);
  }

  void OnCancel() override { CancelInFlight(); }

  void OnDone() override {
    if (registered_) service_->pipeline_->Close(this);
    delete this;
  }

 private:
  struct Item {
    v1::ClassifyRequest request;
    v1::ClassifyResponse response;
    Pipeline::Handle handle;
    bool answered = false;  // guarded by the stream's mu_
  };
  using Flow = StreamFlow<std::shared_ptr<Item>>;

  // Does what the flow asks: the next read, the next write, cancelling the
  // items in flight, the end. After the end nothing may touch `this`.
  void Act(Flow::Step step) {
    for (;;) {
      if (step.read) StartRead(&read_);
      if (step.write) StartWrite(&(*step.write)->response);
      if (step.cancel_in_flight) CancelInFlight();
      if (step.end) {
        End(*step.end);
        return;
      }
      if (!step.read && !step.submit) return;
      std::lock_guard<std::mutex> lock(mu_);
      step = flow_.Acted();
    }
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
    Flow::Step step;
    {
      std::lock_guard<std::mutex> lock(mu_);
      item->answered = true;
      in_flight_.remove(item);
      step = flow_.ItemDone(item);  // kept until written
    }
    Act(step);
  }

  // Cancels every item in flight; later ones are cancelled as submitted.
  void CancelInFlight() {
    std::list<std::shared_ptr<Item>> items;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      items = in_flight_;
    }
    for (const auto& item : items) item->handle.Cancel();
  }

  void End(Flow::End end) {
    Finish(end == Flow::End::kClosed
               ? grpc::Status::OK
               : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "server is shutting down; send the items not "
                              "answered to another server"));
  }

  ClassifierService* const service_;
  grpc::CallbackServerContext* const context_;
  bool registered_ = true;    // with the pipeline, as a session
  v1::ClassifyRequest read_;  // the read buffer; one read at a time

  std::mutex mu_;
  Flow flow_{kMaxStreamItemsInFlight};
  std::list<std::shared_ptr<Item>> in_flight_;  // submitted, not answered
  bool cancelled_ = false;  // the client cancelled or a write failed
  std::optional<Flow::End> drained_end_;
};

grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>*
ClassifierService::ClassifyStream(grpc::CallbackServerContext* context) {
  return new Stream(this, context);
}

grpc::ServerUnaryReactor* ClassifierService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  DescribeModels(*models_, response);
  metrics_->CountRequest("", absl::StatusCode::kOk, "grpc");
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace gcnserve
