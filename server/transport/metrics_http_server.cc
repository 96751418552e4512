#include "server/transport/metrics_http_server.h"

#include <microhttpd.h>

#include <cstring>

#include <prometheus/text_serializer.h>

#include "server/base/status_macros.h"
#include "server/transport/http_daemon.h"

namespace gcnserve {
namespace {

MHD_Result Answer(MHD_Connection* connection, unsigned status,
                  const std::string& body, const char* content_type) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type", content_type);
  MHD_Result result = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return result;
}

MHD_Result HandleRequest(void* cls, MHD_Connection* connection, const char* url,
                         const char* method, const char* /*version*/,
                         const char* /*upload_data*/,
                         size_t* /*upload_data_size*/, void** /*state*/) {
  const auto* server = static_cast<const MetricsHttpServer*>(cls);
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
    return Answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                  "only GET /metrics is served\n", "text/plain");
  }
  if (std::strcmp(url, "/metrics") != 0) {
    return Answer(connection, MHD_HTTP_NOT_FOUND,
                  "not found: metrics are at /metrics\n", "text/plain");
  }
  return Answer(connection, MHD_HTTP_OK, server->Render(),
                "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address,
    std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_render) {
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(std::move(registry), std::move(before_render)));
  // A scrape is one small GET: a few connections per scraper address, each
  // with 10 s for its request, keep a slow client from holding /metrics.
  HttpGuard::Options guard;
  guard.max_connections = 64;
  guard.max_connections_per_address = 8;
  guard.request_time = std::chrono::seconds(10);
  server->guard_ = std::make_unique<HttpGuard>(guard);
  HttpDaemonOptions options;
  options.address = address;
  options.flag = "metrics-address";
  options.guard = server->guard_.get();
  GCN_ASSIGN_OR_RETURN(server->daemon_,
                       StartHttpDaemon(options, &HandleRequest, server.get()));
  server->port_ = HttpDaemonPort(server->daemon_);
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

std::string MetricsHttpServer::Render() const {
  if (before_render_) before_render_();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace gcnserve
