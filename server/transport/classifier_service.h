#ifndef GCNSERVE_SERVER_TRANSPORT_CLASSIFIER_SERVICE_H_
#define GCNSERVE_SERVER_TRANSPORT_CLASSIFIER_SERVICE_H_

#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "gcnserve/v1/gcnserve.grpc.pb.h"
#include "server/base/call_context.h"
#include "server/base/clock.h"
#include "server/models/model_manager.h"
#include "server/monitoring/metrics.h"
#include "server/pipeline/pipeline.h"

namespace gcnserve {

// Maps an internal status to the status a client sees. The one place where
// absl::Status becomes grpc::Status; the message is cut to
// kMaxStatusMessageBytes (server/base/bounded_text.h).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The CallContext of a gRPC call: its deadline on `clock`, its
// cancellation, protocol "grpc".
CallContext GrpcCallContext(grpc::CallbackServerContext* context, Clock* clock);

// A unary call's reactor that, when the client cancels, cancels the
// pipeline requests the call submitted (Classify one, the Open Inference
// Protocol's ModelInfer one per image), so that their queued work leaves
// at once. gRPC binds the reactor, and may call OnCancel or OnDone, only
// once the method has returned it; OnDone deletes it.
class CancellingReactor final : public grpc::ServerUnaryReactor {
 public:
  // A request of this call; before the method returns.
  void Track(Pipeline::Handle handle) { handles_.push_back(std::move(handle)); }

  void OnCancel() override {
    for (const Pipeline::Handle& handle : handles_) handle.Cancel();
  }
  void OnDone() override { delete this; }

 private:
  std::vector<Pipeline::Handle> handles_;
};

// The gcnserve.v1.Classifier service on gRPC's callback API, an adapter
// over the Pipeline: a handler never blocks. Unary calls and stream items
// take the same path (docs/design.md, "The way a request travels"). A
// stream is a Pipeline::Session, its flow control a StreamFlow. Thread-safe.
class ClassifierService final : public v1::Classifier::CallbackService {
 public:
  // Items of one stream that may be queued or running at once; the stream
  // reads no further until one is answered, so a fast client cannot grow the
  // server's memory without bound.
  static constexpr int kMaxStreamItemsInFlight = 32;

  // Everything passed outlives the service.
  ClassifierService(Pipeline* pipeline, const ModelManager* models,
                    Metrics* metrics, Clock* clock);

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>*
  ClassifyStream(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;

 private:
  class Stream;

  Pipeline* const pipeline_;
  const ModelManager* const models_;
  Metrics* const metrics_;
  Clock* const clock_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_CLASSIFIER_SERVICE_H_
