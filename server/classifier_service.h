#ifndef GCNSERVE_SERVER_CLASSIFIER_SERVICE_H_
#define GCNSERVE_SERVER_CLASSIFIER_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "gcnserve/v1/gcnserve.grpc.pb.h"
#include "server/clock.h"
#include "server/metrics.h"
#include "server/served_model.h"
#include "server/thread_pool.h"

namespace gcnserve {

// Maps an internal status to the status a client sees. The one place where
// absl::Status becomes grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The gcnserve.v1.Classifier service on gRPC's callback API. A handler never
// blocks: it validates the request, hands decoding to the preprocess pool and
// returns; the pool queues the image with the model's batcher, and the batch
// thread finishes the call. Thread-safe.
class ClassifierService final : public v1::Classifier::CallbackService {
 public:
  using Models = std::map<std::string, std::shared_ptr<ServedModel>>;

  // `default_model` must be a key of `models`. The pool, metrics and clock
  // outlive the service.
  ClassifierService(Models models, std::string default_model,
                    ThreadPool* preprocess_pool, Metrics* metrics,
                    Clock* clock);

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;

  // From now on new requests get UNAVAILABLE; accepted ones go on.
  void StartDraining() { draining_ = true; }
  // Waits until no accepted request is unanswered or `timeout` passes;
  // true when idle.
  bool WaitIdle(std::chrono::milliseconds timeout);

  const Models& models() const { return models_; }

 private:
  struct Call;
  // Answers `call` with `status`, records its metrics. Called exactly once.
  void Finish(Call& call, const absl::Status& status);
  void Preprocess(std::shared_ptr<Call> call);

  const Models models_;
  const std::string default_model_;
  ThreadPool* const pool_;
  Metrics* const metrics_;
  Clock* const clock_;

  std::atomic<bool> draining_{false};
  std::mutex mu_;
  std::condition_variable idle_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_CLASSIFIER_SERVICE_H_
