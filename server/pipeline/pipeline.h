#ifndef GCNSERVE_SERVER_PIPELINE_PIPELINE_H_
#define GCNSERVE_SERVER_PIPELINE_PIPELINE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "gcnserve/v1/gcnserve.pb.h"
#include "server/base/call_context.h"
#include "server/base/clock.h"
#include "server/base/thread_pool.h"
#include "server/decode/decode_budget.h"
#include "server/models/model_finder.h"
#include "server/models/served_model.h"
#include "server/monitoring/metrics.h"

namespace gcnserve {

// The request path every protocol shares, from submission to answer
// (docs/design.md, "The way a request travels"): it finds the version,
// checks the request's fields, plans the decode from the image's header
// (once: the plan stays with the request), reserves the decode budget,
// decodes on the preprocess pool, queues the image with the version's
// batcher, builds the answer from the batch's outputs, and records the
// metrics through the version's own Metrics::Model. It also owns the drain:
// refusing new requests, holding the last ones, waiting for idle.
//
// Transports are adapters over it that only translate: gRPC's Classify and
// ClassifyStream (ClassifierService), the Open Inference Protocol over gRPC
// (InferenceService) and the HTTP API. Thread-safe.
class Pipeline {
 public:
  using Done = std::function<void(const absl::Status&)>;

  // One submitted request. Cancel() makes it CANCELLED wherever it waits (the
  // preprocess pool, the batch queue) and wakes its version's batcher, so
  // that queued work of a client that has gone leaves at once instead of at
  // the next batch. Copyable and cheap; an empty handle, or one whose
  // request is answered, cancels nothing. Holds no model version.
  class Handle {
   public:
    Handle() = default;
    void Cancel() const;

   private:
    friend class Pipeline;
    struct State {
      std::atomic<bool> cancelled{false};
      std::weak_ptr<ServedModel> model;  // set before Submit returns
    };
    explicit Handle(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
  };

  // A long-lived call that carries many requests (a gRPC stream): told when
  // the server drains, so that it ends once its requests in flight are
  // answered.
  class Session {
   public:
    virtual ~Session() = default;
    // Called once, with the pipeline's lock held (which keeps the session
    // registered, so alive): true when it must end now, which the pipeline
    // then asks of it by EndDrained(), outside the lock.
    virtual bool Drain() = 0;
    virtual void EndDrained() = 0;
  };

  // Everything passed outlives the pipeline; `decode_budget` may be null
  // (no limit on the bytes decoded at once).
  Pipeline(const ModelFinder* models, ThreadPool* preprocess_pool,
           Metrics* metrics, Clock* clock, DecodeBudget* decode_budget = nullptr);

  // Classifies `request` into `response` and calls `done` exactly once, on
  // whichever thread finishes (perhaps this one, before Submit returns).
  // `request` and `response` must live until then; `context` gives the
  // deadline, the transport's own cancellation and the protocol.
  Handle Submit(const CallContext& context, const v1::ClassifyRequest* request,
                v1::ClassifyResponse* response, Done done);
  // The same for a request whose version the transport has found already
  // (request->model() and version() are then not read).
  Handle Submit(const CallContext& context, std::shared_ptr<ServedModel> model,
                const v1::ClassifyRequest* request,
                v1::ClassifyResponse* response, Done done);

  // A session that opens while the server drains is refused: false, and the
  // session must end (UNAVAILABLE) at once or when ReleaseHeld() runs its
  // Hold. Each registered session unregisters itself when it is done.
  bool Open(Session* session);
  void Close(Session* session);

  // From now on new requests get UNAVAILABLE; accepted ones go on. Every
  // open session is drained.
  void StartDraining();
  bool draining() const { return draining_.load(); }
  // The last step of a drain, around the gRPC server's shutdown: from
  // HoldNewCalls() on, the refusals of requests and sessions that arrive are
  // held until ReleaseHeld() runs them (and any later one at once). A client
  // whose call is held sends no other meanwhile, and gRPC cancels a call
  // that it receives while it shuts down: held, the clients hear UNAVAILABLE
  // after GOAWAY, never CANCELLED. See docs/design.md, "Drain".
  void HoldNewCalls();
  void ReleaseHeld();
  // Refusals held now.
  int held();
  // Holds `answer` until ReleaseHeld(); false when refusals are not held.
  bool Hold(std::function<void()> answer);
  // Waits until no accepted request is unanswered and no session is open,
  // or `timeout` passes; true when idle.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  struct Call;
  Handle Start(const CallContext& context, const v1::ClassifyRequest* request,
               v1::ClassifyResponse* response, Done done,
               std::shared_ptr<Call>& call);
  void Admit(std::shared_ptr<Call> call);
  // Decodes the call's image, unless its caller has gone: then it answers
  // DEADLINE_EXCEEDED or CANCELLED at once.
  void Preprocess(std::shared_ptr<Call> call);
  // Records the call's metrics and calls its `done`.
  void Finish(Call& call, const absl::Status& status);

  const ModelFinder* const models_;
  ThreadPool* const pool_;
  Metrics* const metrics_;
  Clock* const clock_;
  DecodeBudget* const decode_budget_;  // may be null

  std::atomic<bool> draining_{false};
  std::mutex mu_;
  std::condition_variable idle_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  // Set with draining_ under mu_, so that no session opens unseen by
  // StartDraining.
  std::set<Session*> sessions_ ABSL_GUARDED_BY(mu_);
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_PIPELINE_PIPELINE_H_
