#ifndef GCNSERVE_SERVER_TRANSPORT_HTTP_SERVER_H_
#define GCNSERVE_SERVER_TRANSPORT_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/transport/http_guard.h"

struct MHD_Daemon;

namespace gcnserve {

// One HTTP request, read whole.
struct HttpRequest {
  std::string method;  // GET, POST, HEAD...
  std::string path;    // without the query string, e.g. /v1/classify
  std::map<std::string, std::string> query;  // decoded query parameters
  std::string content_type;  // the Content-Type header, or empty
  std::string grpc_timeout;  // the Grpc-Timeout header, or empty
  std::string body;
  // The connection's socket, for a handler that waits to watch its client
  // with (ConnectionWatch); -1 when unknown. The handler must not read,
  // write or close it.
  int socket = -1;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Transport of the HTTP port: reads each request whole (at most
// max_body_bytes of body, else 413 without reading further; a target over
// kMaxTargetBytes 414, headers over kMaxHeaderBytes 431), hands it to a
// handler and writes the answer, over HTTP/1.1 or HTTPS. libmicrohttpd runs
// one thread per connection, so a handler may block until its answer is
// ready, watching HttpRequest::socket to notice a client that leaves
// meanwhile. An HttpGuard caps connections (256, 64 per client address) and
// gives each request 120 s from when its connection opened or its previous
// request ended, which a client trickling bytes cannot extend. Thread-safe.
class HttpServer {
 public:
  // Called on a connection's thread for each complete request.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  struct Options {
    std::string address;  // host:port; port 0 picks a free one
    int max_body_bytes = 16 << 20;
    // PEM certificate chain and key (both or neither): HTTPS.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    // Told of each answer the transport gives without the handler (413,
    // 414, 431), with its HTTP status, so that it is counted as the
    // handler's answers are. May be empty.
    std::function<void(int status)> on_refused;
  };

  // The request target (path and query) and the headers, in bytes: past
  // these a request is answered 414 or 431 (and counted). libmicrohttpd's
  // own limit, kConnectionMemory for all of a request's head, stays behind
  // them and answers uncounted.
  static constexpr size_t kMaxTargetBytes = 8 << 10;
  static constexpr size_t kMaxHeaderBytes = 16 << 10;
  static constexpr size_t kConnectionMemory = 128 << 10;

  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const Options& options, Handler handler);
  // Stops listening and joins the connection threads, which first finish the
  // requests they hold.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return !options_.tls_cert_pem.empty(); }
  const Options& options() const { return options_; }
  // Runs the handler (for the daemon's callbacks).
  HttpResponse Handle(const HttpRequest& request) const {
    return handler_(request);
  }

  // The JSON error body every gcnserve HTTP error carries:
  // {"code": <gRPC code number>, "message": "..."}.
  static std::string ErrorBody(int code, const std::string& message);

 private:
  HttpServer(Options options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  const Options options_;
  const Handler handler_;
  std::unique_ptr<HttpGuard> guard_;  // outlives daemon_
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_HTTP_SERVER_H_
