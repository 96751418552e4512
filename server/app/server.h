#ifndef GCNSERVE_SERVER_APP_SERVER_H_
#define GCNSERVE_SERVER_APP_SERVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/app/server_options.h"
#include "server/base/thread_pool.h"
#include "server/decode/decode_budget.h"
#include "server/models/model_manager.h"
#include "server/monitoring/metrics.h"
#include "server/transport/classifier_service.h"
#include "server/transport/http_api.h"
#include "server/transport/http_server.h"
#include "server/transport/inference_service.h"
#include "server/transport/metrics_http_server.h"

namespace gcnserve {

// The whole server: the model manager, the preprocess pool, the gRPC server
// with health and reflection, the HTTP port, the metrics endpoint and the
// reload thread.
//
// Create() returns once the models are loaded and warmed up and health says
// SERVING ("" and gcnserve.v1.Classifier; "gcnserve.v1.Classifier/<model>"
// per model while it has a ready version). Shutdown() stops in a fixed order
// (docs/design.md, "Drain"): health NOT_SERVING for good, new requests and
// streams UNAVAILABLE for the grace window, then up to the drain timeout for
// accepted requests and open streams (each ends once its items are
// answered), stop the models, GOAWAY and shut the gRPC server down, join. No
// caller that did not cancel sees CANCELLED.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options);
  ~Server();  // Shutdown()

  // Asks the reload thread to scan the repository now, trying FAILED
  // versions again whether or not their file changed (SIGHUP).
  void RequestReload();
  // Scans the repository and returns when new versions are loaded (tests);
  // FAILED versions are tried again only when their file changed.
  absl::Status ReloadNow() { return models_->Reconcile(); }

  // The first part of Shutdown(): health NOT_SERVING in a way no reload can
  // undo, new requests and streams UNAVAILABLE, open streams end once their
  // items are answered, batches close without waiting to fill. Idempotent;
  // the grace window counts from the first call.
  void BeginDrain();
  // True from BeginDrain() on (for /readyz and the like). Thread-safe.
  bool draining() const { return draining_.load(); }
  // Idempotent and thread-safe; returns when the server has stopped.
  void Shutdown();

  int grpc_port() const { return grpc_port_; }
  // 0 when the HTTP port is off.
  int http_port() const { return http_ ? http_->port() : 0; }
  // 0 when metrics are off.
  int metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }
  Metrics& metrics() { return *metrics_; }
  ModelManager& models() { return *models_; }

 private:
  Server() = default;
  void SetHealth(const std::string& model, bool serving);
  void ReloadLoop();

  ServerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<DecodeBudget> decode_budget_;  // outlives the requests
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<Pipeline> pipeline_;  // every transport's request path
  std::unique_ptr<ClassifierService> service_;
  std::unique_ptr<InferenceService> inference_;  // the Open Inference Protocol
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
  std::unique_ptr<HttpApi> http_api_;
  std::unique_ptr<HttpServer> http_;  // null when --http-address is empty

  std::mutex reload_mu_;
  std::condition_variable reload_cv_;
  bool reload_requested_ ABSL_GUARDED_BY(reload_mu_) = false;
  bool reload_retry_failed_ ABSL_GUARDED_BY(reload_mu_) = false;
  bool reload_stop_ ABSL_GUARDED_BY(reload_mu_) = false;
  std::thread reload_thread_;

  std::mutex shutdown_mu_;
  std::atomic<bool> draining_{false};  // set once, under shutdown_mu_
  std::chrono::steady_clock::time_point drain_start_ ABSL_GUARDED_BY(shutdown_mu_);
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_APP_SERVER_H_
