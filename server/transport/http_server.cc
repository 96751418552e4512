#include "server/transport/http_server.h"

#include <microhttpd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/bounded_text.h"
#include "server/base/cpu_count.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/transport/http_daemon.h"

namespace gcnserve {

// The exchanges of HttpServer's connections. Their state is guarded by the
// hub's lock (the Hub and the Callbacks below work on it).
struct ServerExchange final : HttpExchange {
  enum class State {
    kHandling,   // the handler runs; not suspended
    kSuspended,  // waits for its answer, the connection suspended
    kAnswered,   // answer or make is set; the connection resumed (or never
                 // paused)
    kSent,       // handed to libmicrohttpd; nothing more is sent
  };

  ServerExchange(std::shared_ptr<HttpServer::Hub> hub,
                 MHD_Connection* connection, int socket, HttpRequest request)
      : hub(std::move(hub)),
        connection(connection),
        socket(socket),
        request_(std::move(request)) {}

  const HttpRequest& request() const override { return request_; }
  void Respond(HttpResponse response) override;
  void RespondWith(std::function<HttpResponse()> make) override;
  void OnClientGone(std::function<void()> on_gone) override;

  const std::shared_ptr<HttpServer::Hub> hub;
  MHD_Connection* const connection;  // valid until kSent
  const int socket;                  // the connection's; -1 when unknown
  const HttpRequest request_;
  // Guarded by hub's lock.
  State state = State::kHandling;
  std::optional<HttpResponse> answer;
  std::function<HttpResponse()> make;  // builds the answer, when not given
  std::function<void()> on_gone;
  uint64_t watch_id = 0;  // its key in the watcher while watched; 0: not
};

// The state every exchange shares with its server: one lock over all the
// exchanges' states (each section under it is a few assignments), the
// suspended connections, and the watcher thread that polls their sockets
// (epoll, EPOLLRDHUP) for clients that leave. Exchanges hold it, so it
// outlives the server; Stop() ends the watcher while the server stops.
class HttpServer::Hub {
 public:
  Hub() = default;
  ~Hub() {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // Starts the watcher; UNAVAILABLE when its descriptors cannot be made.
  absl::Status Start() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("the HTTP port cannot watch its connections: ",
                       std::strerror(errno)));
    }
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u64 = 0;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake);
    watcher_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  // Ends the watcher and joins it. Call once, from the server.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop_watcher_ = true;
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t written = write(wake_fd_, &one, sizeof(one));
    if (watcher_.joinable()) watcher_.join();
  }

  // Suspends the exchange's connection until Resume; the caller is
  // libmicrohttpd's access handler for it.
  void Suspend(ServerExchange& exchange) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    MHD_suspend_connection(exchange.connection);
    exchange.state = ServerExchange::State::kSuspended;
    suspended_.insert(&exchange);
    if (exchange.on_gone) Watch(exchange);
  }

  // Gives the suspended exchange `answer` and resumes its connection, whose
  // access handler then sends it.
  void Resume(ServerExchange& exchange, HttpResponse answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    exchange.answer = std::move(answer);
    Resume(exchange);
  }
  // The same with the answer (or make) set already.
  void Resume(ServerExchange& exchange) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Unwatch(exchange);
    suspended_.erase(&exchange);
    exchange.state = ServerExchange::State::kAnswered;
    MHD_resume_connection(exchange.connection);
  }

  // Starts watching the suspended exchange's socket; its on_gone_ is set.
  void Watch(ServerExchange& exchange) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (stop_watcher_ || exchange.watch_id != 0 ||
        exchange.socket < 0) {
      return;
    }
    const uint64_t id = next_watch_id_++;
    epoll_event event{};
    // Only the TCP state: a peer's FIN (EPOLLRDHUP), and EPOLLHUP and
    // EPOLLERR, which epoll always reports; readable bytes are not asked for.
    event.events = EPOLLRDHUP | EPOLLONESHOT;
    event.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, exchange.socket, &event) !=
        0) {
      return;  // cannot watch: the request runs to its end
    }
    exchange.watch_id = id;
    watched_[id] = &exchange;
  }

  void Unwatch(ServerExchange& exchange) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (exchange.watch_id == 0) return;
    // Before the connection resumes, so before libmicrohttpd can close the
    // socket and its number be reused.
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, exchange.socket, nullptr);
    watched_.erase(exchange.watch_id);
    exchange.watch_id = 0;
  }

  // Answers every suspended exchange 503 and turns later ones away: the
  // server stops.
  void EndAll() {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
    std::set<ServerExchange*> suspended = suspended_;
    for (ServerExchange* exchange : suspended) {
      HttpResponse answer =
          HttpServer::Unavailable("the server is shutting down; retry later");
      answer.headers.emplace_back("Connection", "close");
      Resume(*exchange, std::move(answer));
    }
  }

  std::mutex mu;
  // Set when the server stops: no exchange is suspended from then on.
  bool stopping ABSL_GUARDED_BY(mu) = false;

 private:
  void Run() {
    epoll_event events[64];
    for (;;) {
      const int n = epoll_wait(epoll_fd_, events, 64, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // cannot watch: requests run to their end
      for (int i = 0; i < n; ++i) {
        std::function<void()> on_gone;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (stop_watcher_) return;
          auto found = watched_.find(events[i].data.u64);
          if (found == watched_.end()) continue;  // answered meanwhile
          ServerExchange& exchange = *found->second;
          Unwatch(exchange);
          on_gone = std::move(exchange.on_gone);
          exchange.on_gone = nullptr;
        }
        if (on_gone) on_gone();
      }
    }
  }

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // readable once Stop() is called
  std::thread watcher_;
  bool stop_watcher_ ABSL_GUARDED_BY(mu) = false;
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu) = 1;  // 0 is wake_fd_'s
  std::set<ServerExchange*> suspended_ ABSL_GUARDED_BY(mu);
  std::unordered_map<uint64_t, ServerExchange*> watched_ ABSL_GUARDED_BY(mu);
};

void ServerExchange::Respond(HttpResponse response) {
  std::lock_guard<std::mutex> lock(hub->mu);
  switch (state) {
    case State::kHandling:  // the access handler sends it when it returns
      answer = std::move(response);
      state = State::kAnswered;
      return;
    case State::kSuspended:
      hub->Resume(*this, std::move(response));
      return;
    default:
      return;  // answered already, or nobody to send it to
  }
}

void ServerExchange::RespondWith(std::function<HttpResponse()> make_answer) {
  std::lock_guard<std::mutex> lock(hub->mu);
  if (state != State::kHandling && state != State::kSuspended) return;
  make = std::move(make_answer);
  if (state == State::kSuspended) {
    hub->Resume(*this);
  } else {
    state = State::kAnswered;
  }
}

void ServerExchange::OnClientGone(std::function<void()> on_gone_now) {
  std::lock_guard<std::mutex> lock(hub->mu);
  if (on_gone || (state != State::kHandling && state != State::kSuspended)) {
    return;
  }
  on_gone = std::move(on_gone_now);
  if (state == State::kSuspended) hub->Watch(*this);
}

namespace {

// What a connection has read of its current request.
struct PendingRequest {
  HttpRequest request;
  bool discard = false;   // the body is dropped unread
  bool too_big = false;   // ... because it is over the limit
  bool answered = false;  // refused from its head, answered then
  int socket = -1;        // the connection's; -1 when unknown
  std::shared_ptr<ServerExchange> exchange;  // once handed to the handler
};

MHD_Result Queue(MHD_Connection* connection, const HttpResponse& answer) {
  MHD_Response* response = MHD_create_response_from_buffer(
      answer.body.size(), const_cast<char*>(answer.body.data()),
      MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type",
                          answer.content_type.c_str());
  MHD_add_response_header(response, "Cache-Control", "no-store");
  for (const auto& [name, value] : answer.headers) {
    MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  MHD_Result result = MHD_queue_response(
      connection, static_cast<unsigned>(answer.status), response);
  MHD_destroy_response(response);
  return result;
}

HttpResponse Refused(int status, absl::StatusCode code, std::string message) {
  return {status,
          "application/json",
          HttpServer::ErrorBody(static_cast<int>(code), std::move(message)),
          {}};
}

// Sums the bytes of a request's headers (MHD_get_connection_values).
MHD_Result AddHeaderBytes(void* cls, MHD_ValueKind, const char* key,
                          const char* value) {
  *static_cast<size_t*>(cls) +=
      std::strlen(key) + (value ? std::strlen(value) : 0) + 4;  // ": ", CRLF
  return MHD_YES;
}

HttpResponse TooBig(int limit) {
  return Refused(413, absl::StatusCode::kResourceExhausted,
                 absl::StrCat("the request body is larger than the ", limit,
                              " bytes allowed (--max-message-bytes)"));
}

MHD_Result CollectQuery(void* cls, MHD_ValueKind, const char* key,
                        const char* value) {
  auto* query = static_cast<std::map<std::string, std::string>*>(cls);
  (*query)[key] = value ? value : "";
  return MHD_YES;
}

std::string Header(MHD_Connection* connection, const char* name) {
  const char* value =
      MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
  return value ? value : "";
}

}  // namespace

// libmicrohttpd's access handler: reads a request's head and body, hands it
// to the handler, and suspends the connection until the answer comes.
struct HttpServer::Callbacks {
  // Answers a request refused before its handler, once, and tells
  // on_refused.
  static MHD_Result Refuse(const HttpServer& server, MHD_Connection* connection,
                           PendingRequest& pending,
                           const HttpResponse& answer) {
    pending.discard = true;
    if (pending.answered) return MHD_YES;
    pending.answered = true;
    if (server.options_.on_refused) server.options_.on_refused(answer.status);
    return Queue(connection, answer);
  }

  static MHD_Result OnHead(const HttpServer& server, MHD_Connection* connection,
                           const char* url, const char* method,
                           PendingRequest& pending) {
    const int limit = server.options_.max_body_bytes;
    HttpRequest& request = pending.request;
    request.method = method;
    request.path = url;
    request.content_type = Header(connection, MHD_HTTP_HEADER_CONTENT_TYPE);
    request.grpc_timeout = Header(connection, "Grpc-Timeout");
    if (const MHD_ConnectionInfo* info = MHD_get_connection_info(
            connection, MHD_CONNECTION_INFO_CONNECTION_FD)) {
      pending.socket = info->connect_fd;
    }
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &CollectQuery,
                              &request.query);
    size_t target = request.path.size();
    for (const auto& [name, value] : request.query) {
      target += name.size() + value.size() + 2;
    }
    size_t headers = 0;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, &AddHeaderBytes,
                              &headers);
    if (target > kMaxTargetBytes) {
      return Refuse(server, connection, pending,
                    Refused(414, absl::StatusCode::kInvalidArgument,
                            absl::StrCat("the request target is longer than "
                                         "the ",
                                         kMaxTargetBytes, " bytes allowed")));
    }
    if (headers > kMaxHeaderBytes) {
      return Refuse(server, connection, pending,
                    Refused(431, absl::StatusCode::kInvalidArgument,
                            absl::StrCat("the request's headers are larger "
                                         "than the ",
                                         kMaxHeaderBytes, " bytes allowed")));
    }
    int64_t length = 0;
    if (absl::SimpleAtoi(Header(connection, MHD_HTTP_HEADER_CONTENT_LENGTH),
                         &length) &&
        length > limit) {
      pending.too_big = true;
      return Refuse(server, connection, pending, TooBig(limit));  // unread
    }
    // A connection past the limits reads its request (so that closing it
    // resets nothing) and is answered at its end.
    if (HttpGuard::OverLimit(connection)) pending.discard = true;
    return MHD_YES;
  }

  static MHD_Result OnBody(const HttpServer& server, PendingRequest& pending,
                           const char* data, size_t size) {
    const size_t limit = static_cast<size_t>(server.options_.max_body_bytes);
    if (!pending.discard) {
      if (pending.request.body.size() + size > limit) {
        pending.discard = true;
        pending.too_big = true;
        pending.request.body.clear();
        pending.request.body.shrink_to_fit();
      } else {
        pending.request.body.append(data, size);
      }
    }
    return MHD_YES;
  }

  // The request is whole: refuses it, or hands it to the handler and sends
  // its answer now or suspends the connection until it comes.
  static MHD_Result OnWhole(const HttpServer& server,
                            MHD_Connection* connection,
                            PendingRequest& pending) {
    if (pending.too_big) {
      return Refuse(server, connection, pending,
                    TooBig(server.options_.max_body_bytes));
    }
    if (pending.answered) return MHD_YES;
    if (HttpGuard::OverLimit(connection)) {
      HttpResponse answer = Unavailable(absl::StrCat(
          "the HTTP port serves ", server.options_.max_connections,
          " connections (--http-max-connections), ",
          server.options_.max_connections_per_address > 0
              ? absl::StrCat(server.options_.max_connections_per_address,
                             " from one address "
                             "(--http-max-connections-per-address)")
              : std::string("from any addresses"),
          ", and has them open; retry later"));
      answer.headers.emplace_back("Connection", "close");
      return Refuse(server, connection, pending, answer);
    }
    auto exchange = std::make_shared<ServerExchange>(
        server.hub_, connection, pending.socket, std::move(pending.request));
    pending.exchange = exchange;
    // The edge: nothing a request does may end the process.
    try {
      server.handler_(exchange);
    } catch (const std::exception& e) {
      Log("HTTP ", EchoText(exchange->request().method), " ",
          EchoText(exchange->request().path),
          " failed: ", EchoText(e.what(), 256));
      HttpResponse failed = Refused(500, absl::StatusCode::kInternal,
                                    "the server failed to answer this request");
      bool counted = false;
      {
        std::lock_guard<std::mutex> lock(server.hub_->mu);
        counted = exchange->state == ServerExchange::State::kHandling;
      }
      if (counted && server.options_.on_refused) {
        server.options_.on_refused(500);
      }
      exchange->Respond(std::move(failed));
    }
    {
      std::lock_guard<std::mutex> lock(server.hub_->mu);
      if (exchange->state == ServerExchange::State::kHandling) {
        if (!server.hub_->stopping) {
          server.hub_->Suspend(*exchange);
          return MHD_YES;
        }
        exchange->answer =
            Unavailable("the server is shutting down; retry later");
        exchange->answer->headers.emplace_back("Connection", "close");
        exchange->state = ServerExchange::State::kAnswered;
      }
    }
    return Send(server, connection, *exchange);
  }

  // Sends the exchange's answer, which it has (kAnswered), building it first
  // when it came as a RespondWith: from kSent on nobody else touches it.
  static MHD_Result Send(const HttpServer& server, MHD_Connection* connection,
                         ServerExchange& exchange) {
    {
      std::lock_guard<std::mutex> lock(server.hub_->mu);
      if (exchange.state != ServerExchange::State::kAnswered) return MHD_NO;
      exchange.state = ServerExchange::State::kSent;
    }
    if (!exchange.answer) {
      try {
        exchange.answer = exchange.make();
      } catch (const std::exception& e) {
        Log("HTTP ", EchoText(exchange.request().method), " ",
            EchoText(exchange.request().path),
            " failed: ", EchoText(e.what(), 256));
        exchange.answer =
            Refused(500, absl::StatusCode::kInternal,
                    "the server failed to answer this request");
        if (server.options_.on_refused) server.options_.on_refused(500);
      }
    }
    return Queue(connection, *exchange.answer);
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* connection,
                              const char* url, const char* method,
                              const char* /*version*/, const char* upload_data,
                              size_t* upload_data_size, void** state) {
    const auto& server = *static_cast<const HttpServer*>(cls);
    auto* pending = static_cast<PendingRequest*>(*state);
    if (pending == nullptr) {  // the headers have arrived
      pending = new PendingRequest;
      *state = pending;
      return OnHead(server, connection, url, method, *pending);
    }
    if (pending->exchange) {  // resumed: the answer is in
      return Send(server, connection, *pending->exchange);
    }
    if (*upload_data_size > 0) {  // a piece of the body
      const size_t size = *upload_data_size;
      *upload_data_size = 0;
      return OnBody(server, *pending, upload_data, size);
    }
    return OnWhole(server, connection, *pending);
  }

  // The request has ended, answered or not (the connection may go on).
  static void OnCompleted(void* /*cls*/, MHD_Connection* /*connection*/,
                          void** state, MHD_RequestTerminationCode /*reason*/) {
    auto* pending = static_cast<PendingRequest*>(*state);
    *state = nullptr;
    if (pending != nullptr && pending->exchange) {
      // What the handler left with the exchange may hold the exchange (its
      // call does): let go of it, outside the lock.
      ServerExchange& exchange = *pending->exchange;
      std::function<void()> on_gone;
      std::function<HttpResponse()> make;
      {
        std::lock_guard<std::mutex> lock(exchange.hub->mu);
        on_gone.swap(exchange.on_gone);
        make.swap(exchange.make);
      }
    }
    delete pending;
  }
};

std::string HttpServer::ErrorBody(int code, const std::string& message) {
  return nlohmann::json{{"code", code}, {"message", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse HttpServer::Unavailable(const std::string& message) {
  HttpResponse answer{
      503,
      "application/json",
      ErrorBody(static_cast<int>(absl::StatusCode::kUnavailable), message),
      {}};
  answer.headers.emplace_back("Retry-After", absl::StrCat(kRetryAfterSeconds));
  return answer;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const Options& options, Handler handler) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-max-connections=", options.max_connections,
                     "; allowed: 1 or more"));
  }
  if (options.max_connections_per_address < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-max-connections-per-address=",
                     options.max_connections_per_address,
                     "; allowed: 0 (no limit) or more"));
  }
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-threads=", options.threads,
                     "; allowed: 0 (one per usable core) or more"));
  }
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(handler)));
  server->threads_ = options.threads > 0 ? options.threads : UsableCores();
  server->hub_ = std::make_shared<Hub>();
  GCN_RETURN_IF_ERROR(server->hub_->Start());
  HttpDaemonOptions daemon;
  daemon.address = options.address;
  daemon.flag = "http-address";
  daemon.threading =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;
  daemon.threads = static_cast<unsigned>(server->threads_);
  daemon.tls_cert_pem = options.tls_cert_pem;
  daemon.tls_key_pem = options.tls_key_pem;
  daemon.on_completed = &Callbacks::OnCompleted;
  daemon.connection_memory = kConnectionMemory;
  HttpGuard::Options guard;
  guard.max_connections = static_cast<unsigned>(options.max_connections);
  guard.max_connections_per_address =
      static_cast<unsigned>(options.max_connections_per_address);
  guard.over_limit_answered = kOverLimitAnswered;
  guard.request_time = kRequestTime;
  server->guard_ = std::make_unique<HttpGuard>(guard);
  daemon.guard = server->guard_.get();
  // A burst of connections waits in the backlog while the loops accept.
  daemon.listen_backlog =
      static_cast<unsigned>(options.max_connections) + kOverLimitAnswered;
  absl::StatusOr<MHD_Daemon*> started =
      StartHttpDaemon(daemon, &Callbacks::OnRequest, server.get());
  if (!started.ok()) {
    server->hub_->Stop();
    return started.status();
  }
  server->daemon_ = *started;
  server->port_ = HttpDaemonPort(server->daemon_);
  return server;
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) {
    hub_->EndAll();
    MHD_stop_daemon(daemon_);
  }
  if (hub_) hub_->Stop();
}

}  // namespace gcnserve
