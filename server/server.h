#ifndef GCNSERVE_SERVER_SERVER_H_
#define GCNSERVE_SERVER_SERVER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/classifier_service.h"
#include "server/metrics.h"
#include "server/metrics_http_server.h"
#include "server/model_manager.h"
#include "server/server_options.h"
#include "server/thread_pool.h"

namespace gcnserve {

// The whole server: the model manager, the preprocess pool, the gRPC server
// with health and reflection, the metrics endpoint and the reload thread.
//
// Create() returns once the models are loaded and warmed up and health says
// SERVING ("" and gcnserve.v1.Classifier; "gcnserve.v1.Classifier/<model>"
// per model while it has a ready version). Shutdown() stops in a fixed order:
// health NOT_SERVING, new requests UNAVAILABLE, wait up to the drain timeout
// for accepted requests, stop the models, shut the gRPC server down, join.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options);
  ~Server();  // Shutdown()

  // Asks the reload thread to scan the repository now (SIGHUP).
  void RequestReload();
  // Scans the repository and returns when new versions are loaded (tests).
  absl::Status ReloadNow() { return models_->Reconcile(); }

  // The first half of Shutdown(): health NOT_SERVING, new requests
  // UNAVAILABLE, batches close without waiting to fill. Idempotent.
  void BeginDrain();
  // Idempotent and thread-safe; returns when the server has stopped.
  void Shutdown();

  int grpc_port() const { return grpc_port_; }
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
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<ClassifierService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;

  std::mutex reload_mu_;
  std::condition_variable reload_cv_;
  bool reload_requested_ ABSL_GUARDED_BY(reload_mu_) = false;
  bool reload_stop_ ABSL_GUARDED_BY(reload_mu_) = false;
  std::thread reload_thread_;

  std::mutex shutdown_mu_;
  bool draining_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_SERVER_H_
