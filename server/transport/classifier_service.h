#ifndef GCNSERVE_SERVER_TRANSPORT_CLASSIFIER_SERVICE_H_
#define GCNSERVE_SERVER_TRANSPORT_CLASSIFIER_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "gcnserve/v1/gcnserve.grpc.pb.h"
#include "server/base/call_context.h"
#include "server/base/clock.h"
#include "server/base/thread_pool.h"
#include "server/decode/decode_budget.h"
#include "server/models/model_manager.h"
#include "server/monitoring/metrics.h"

namespace gcnserve {

// Maps an internal status to the status a client sees. The one place where
// absl::Status becomes grpc::Status; the message is cut to
// kMaxStatusMessageBytes (server/base/bounded_text.h).
grpc::Status ToGrpcStatus(const absl::Status& status);

// A unary call's reactor that, when the client cancels, wakes the batcher
// of the model the call was queued for, which then drops the call's queued
// work at once instead of at its next batch (Classify, and the Open
// Inference Protocol's ModelInfer). gRPC binds the reactor, and may call
// OnCancel or OnDone, only once the method has returned it; OnDone deletes
// it.
class WakingReactor final : public grpc::ServerUnaryReactor {
 public:
  // The model the call was queued for; set before the method returns.
  void set_model(const std::shared_ptr<ServedModel>& model) { model_ = model; }

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  std::weak_ptr<ServedModel> model_;  // weakly: cancelling must not hold it
};

// The gcnserve.v1.Classifier service on gRPC's callback API. A handler never
// blocks: it finds the model, checks the request, hands decoding to the
// preprocess pool and returns; the pool queues the image with the model's
// batcher, and the batch thread answers. Unary calls and stream items take
// the same path (docs/design.md, "The way a request travels"); a call holds
// its model version from Find until it is answered, and nothing else here
// holds one. Thread-safe.
class ClassifierService final : public v1::Classifier::CallbackService {
 public:
  // Items of one stream that may be queued or running at once; the stream
  // reads no further until one is answered, so a fast client cannot grow the
  // server's memory without bound.
  static constexpr int kMaxStreamItemsInFlight = 32;

  // The models, pool, metrics, clock and decode budget outlive the service.
  // Each request reserves its image's decoded bytes from `decode_budget`
  // (none: no limit) until its image is decoded.
  ClassifierService(ModelManager* models, ThreadPool* preprocess_pool,
                    Metrics* metrics, Clock* clock,
                    DecodeBudget* decode_budget = nullptr);

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>*
  ClassifyStream(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;

  using Done = std::function<void(const absl::Status&)>;

  // Classifies `request` into `response` and calls `done` exactly once, on
  // whichever thread finishes; the entry of every transport (gRPC here, the
  // HTTP server too). `request` and `response` must live until then;
  // `context` gives the deadline, cancellation and protocol. When `used` is
  // given, it receives the model version the request was routed to.
  void Submit(const CallContext& context, const v1::ClassifyRequest* request,
              v1::ClassifyResponse* response,
              std::shared_ptr<ServedModel>* used, Done done);

  // The CallContext of a gRPC call: its deadline on the service's clock,
  // its cancellation (for the adapters of other gRPC protocols).
  CallContext GrpcContext(grpc::CallbackServerContext* context) const;

  // Every model and version the manager knows, as ListModels answers.
  void DescribeModels(v1::ListModelsResponse* response) const;

  // From now on new requests get UNAVAILABLE; accepted ones go on. Each
  // open stream ends, UNAVAILABLE, once its items in flight are answered.
  void StartDraining();
  // The last step of a drain, around the gRPC server's shutdown: from
  // HoldNewCalls() on, calls and streams that arrive are held unanswered
  // until ReleaseHeld() answers them UNAVAILABLE (and any later one at
  // once). A client whose call is held sends no other meanwhile, and gRPC
  // cancels a call that it receives while it shuts down: held, the clients
  // hear UNAVAILABLE after GOAWAY, never CANCELLED. See docs/design.md.
  void HoldNewCalls();
  void ReleaseHeld();
  // Calls held now.
  int held();
  // Waits until no accepted request is unanswered and no stream is open, or
  // `timeout` passes; true when idle.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  struct Call;
  class Stream;
  // Decodes the call's image, unless its deadline has passed or its client
  // has cancelled: then it answers DEADLINE_EXCEEDED or CANCELLED at once.
  void Preprocess(std::shared_ptr<Call> call);
  // Holds `answer` until ReleaseHeld(); false when calls are not held.
  bool Hold(std::function<void()> answer);
  // Registers an open stream; false when draining (the stream must end).
  bool AddStream(Stream* stream);
  void RemoveStream(Stream* stream);
  // Records the call's metrics and calls its `done`.
  void Finish(Call& call, const absl::Status& status);

  ModelManager* const models_;
  ThreadPool* const pool_;
  Metrics* const metrics_;
  Clock* const clock_;
  DecodeBudget* const decode_budget_;  // may be null

  std::atomic<bool> draining_{false};
  std::mutex mu_;
  std::condition_variable idle_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  // Open streams; each removes itself when done. Set with draining_ under
  // mu_, so that no stream opens unseen by StartDraining.
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_CLASSIFIER_SERVICE_H_
