#ifndef GCNSERVE_SERVER_TRANSPORT_METRICS_HTTP_SERVER_H_
#define GCNSERVE_SERVER_TRANSPORT_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "server/transport/http_guard.h"

struct MHD_Daemon;

namespace gcnserve {

// Serves a Prometheus registry in the text format at GET /metrics over
// HTTP/1.1, with libmicrohttpd on its own thread, behind an HttpGuard: a
// scraper is answered while a slow client holds connections open.
//
// Why not prometheus-cpp's Exposer: its civetweb threads get a fixed 100 KB
// stack, less than the static TLS that LibTorch and OpenBLAS bring into this
// process, so pthread_create fails with EINVAL there. libmicrohttpd's
// threads take the system's default stack.
class MetricsHttpServer {
 public:
  // Listens on `address` (host:port; port 0 picks a free one).
  // `before_render`, when set, runs before each rendering (the metrics that
  // are computed when scraped, such as the drift scores).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address,
      std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_render = nullptr);
  ~MetricsHttpServer();  // Stops serving and joins the thread.

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

  // The body of a /metrics answer: every metric in the text format.
  std::string Render() const;

 private:
  MetricsHttpServer(std::shared_ptr<prometheus::Registry> registry,
                    std::function<void()> before_render)
      : registry_(std::move(registry)),
        before_render_(std::move(before_render)) {}

  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<void()> before_render_;
  std::unique_ptr<HttpGuard> guard_;  // outlives daemon_
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_METRICS_HTTP_SERVER_H_
