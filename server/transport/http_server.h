#ifndef GCNSERVE_SERVER_TRANSPORT_HTTP_SERVER_H_
#define GCNSERVE_SERVER_TRANSPORT_HTTP_SERVER_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/transport/http_guard.h"

struct MHD_Daemon;

namespace gcnserve {

struct ServerExchange;

// One HTTP request, read whole.
struct HttpRequest {
  std::string method;  // GET, POST, HEAD...
  std::string path;    // without the query string, e.g. /v1/classify
  std::map<std::string, std::string> query;  // decoded query parameters
  std::string content_type;  // the Content-Type header, or empty
  std::string grpc_timeout;  // the Grpc-Timeout header, or empty
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // More headers, e.g. {"Retry-After", "1"} beside a 503.
  std::vector<std::pair<std::string, std::string>> headers{};
};

// One request of the HTTP port and the way to answer it: what a handler
// gets, and holds (shared) for as long as it needs it. HttpServer makes one
// for each request of its connections; tests and fuzzers make their own.
// Thread-safe.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  virtual const HttpRequest& request() const = 0;

  // Sends `response`; only the first answer counts. From any thread, before
  // or after the handler returns; once the server has stopped, or the
  // connection has ended, nothing is sent.
  virtual void Respond(HttpResponse response) = 0;
  // The same with an answer that `make` builds on the transport's own thread
  // (an event loop's), as it sends it: a completion callback on a busy
  // thread (the batch thread's) then only hands over. `make` must not
  // block.
  virtual void RespondWith(std::function<HttpResponse()> make) = 0;

  // Calls `on_gone` once, on a thread of the transport's, if the client
  // closes or resets its connection while the answer is pending (the TCP
  // state: FIN, RST; a pipelined next request or a TLS close_notify is data,
  // not a close; a client that half-closes after its request counts as
  // gone). Never once the exchange is answered. It must not block; it may
  // answer. The first call only counts.
  virtual void OnClientGone(std::function<void()> on_gone) = 0;
};

// Transport of the HTTP port: reads each request whole (at most
// max_body_bytes of body, else 413 without reading further; a target over
// kMaxTargetBytes 414, headers over kMaxHeaderBytes 431), hands it to a
// handler as an HttpExchange and writes the answer whenever the handler
// gives it, from any thread, over HTTP/1.1 or HTTPS.
//
// No thread waits for an answer: libmicrohttpd runs `threads` event loops
// (epoll where there is one) over every connection, and a connection whose
// answer is pending is suspended (it reads nothing meanwhile) until
// HttpExchange::Respond resumes it. While suspended its socket is watched by
// one thread for the client's leaving (HttpExchange::OnClientGone).
//
// An HttpGuard serves at most max_connections connections, and
// max_connections_per_address from one client address (0: no limit); up to
// kOverLimitAnswered connections past them are accepted and answered 503
// with Retry-After on their first request, then closed, so that a client
// behind a proxy hears why. Each request has kRequestTime from when its
// connection opened or its previous request ended, which a client trickling
// bytes cannot extend. Thread-safe.
class HttpServer {
 public:
  // Called on one of libmicrohttpd's threads for each complete request. It
  // must not block: it answers with Respond now, or keeps the exchange and
  // answers later from any thread.
  using Handler = std::function<void(std::shared_ptr<HttpExchange>)>;

  struct Options {
    std::string address;  // host:port; port 0 picks a free one
    int max_body_bytes = 16 << 20;
    // libmicrohttpd's event-loop threads; 0: one per usable core
    // (UsableCores).
    int threads = 0;
    // Connections served at once, in all (at least 1) and from one client
    // address (0: no limit, the right one behind a proxy, where every
    // client has the proxy's address).
    int max_connections = 4096;
    int max_connections_per_address = 0;
    // PEM certificate chain and key (both or neither): HTTPS.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    // Told of each answer the transport gives without the handler (413,
    // 414, 431, the 503 of a connection past the limits, a 500 for a handler
    // that threw), with its HTTP status, so that it is counted as the
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
  // Connections past the limits that are answered 503 rather than left
  // unanswered (HttpGuard::Options::over_limit_answered).
  static constexpr unsigned kOverLimitAnswered = 256;
  // The time a request has (HttpGuard::Options::request_time).
  static constexpr std::chrono::seconds kRequestTime{120};
  // Retry-After of the transport's 503s, in seconds.
  static constexpr int kRetryAfterSeconds = 1;

  // INVALID_ARGUMENT for limits or threads out of range, or an address that
  // does not resolve; UNAVAILABLE when it cannot be listened on.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const Options& options, Handler handler);

  // Answers every pending exchange 503 (UNAVAILABLE) and stops: the
  // handlers' later Respond calls do nothing.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return !options_.tls_cert_pem.empty(); }
  const Options& options() const { return options_; }
  // Event-loop threads, as started.
  int threads() const { return threads_; }

  // The JSON error body every gcnserve HTTP error carries:
  // {"code": <gRPC code number>, "message": "..."}.
  static std::string ErrorBody(int code, const std::string& message);
  // 503 with Retry-After (kRetryAfterSeconds) and ErrorBody(UNAVAILABLE,
  // message): a refusal the client may retry.
  static HttpResponse Unavailable(const std::string& message);

 private:
  friend struct ServerExchange;  // the exchanges it makes (http_server.cc)
  // What every exchange shares with the server, and outlives it by: the
  // lock over the exchanges' state, the suspended connections, the watcher
  // of their sockets (http_server.cc).
  class Hub;
  // libmicrohttpd's callbacks (http_server.cc).
  struct Callbacks;

  HttpServer(Options options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  const Options options_;
  const Handler handler_;
  std::shared_ptr<Hub> hub_;
  std::unique_ptr<HttpGuard> guard_;  // outlives daemon_
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  int threads_ = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_HTTP_SERVER_H_
