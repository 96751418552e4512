#ifndef GCNSERVE_SERVER_SERVER_H_
#define GCNSERVE_SERVER_SERVER_H_

#include <memory>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/classifier_service.h"
#include "server/metrics.h"
#include "server/metrics_http_server.h"
#include "server/server_options.h"
#include "server/thread_pool.h"

namespace gcnserve {

// The whole server: models, batchers, the preprocess pool, the gRPC server
// with health and reflection, and the metrics endpoint.
//
// Create() returns once every model is loaded and warmed up and the health
// service says SERVING. Shutdown() stops in a fixed order: health
// NOT_SERVING, new requests UNAVAILABLE, wait up to the drain timeout for
// accepted requests, stop the batchers, shut the gRPC server down, join.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options);
  ~Server();  // Shutdown()

  // The first half of Shutdown(): health NOT_SERVING, new requests
  // UNAVAILABLE, batches close without waiting to fill. Idempotent.
  void BeginDrain();
  // Idempotent and thread-safe; returns when the server has stopped.
  void Shutdown();

  int grpc_port() const { return grpc_port_; }
  // 0 when metrics are off.
  int metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }
  Metrics& metrics() { return *metrics_; }

 private:
  Server() = default;

  ServerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ClassifierService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;

  std::mutex shutdown_mu_;
  bool draining_ = false;  // guarded by shutdown_mu_
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_SERVER_H_
