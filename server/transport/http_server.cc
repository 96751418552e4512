#include "server/transport/http_server.h"

#include <microhttpd.h>

#include <cstring>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/bounded_text.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/transport/http_daemon.h"

namespace gcnserve {
namespace {

// What a connection has read of its current request.
struct PendingRequest {
  HttpRequest request;
  bool too_big = false;   // the body is dropped unread
  bool answered = false;  // refused from its head, answered then
};

MHD_Result Queue(MHD_Connection* connection, const HttpResponse& answer) {
  MHD_Response* response = MHD_create_response_from_buffer(
      answer.body.size(), const_cast<char*>(answer.body.data()),
      MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type", answer.content_type.c_str());
  MHD_add_response_header(response, "Cache-Control", "no-store");
  MHD_Result result = MHD_queue_response(
      connection, static_cast<unsigned>(answer.status), response);
  MHD_destroy_response(response);
  return result;
}

HttpResponse Refused(int status, absl::StatusCode code, std::string message) {
  return {status, "application/json",
          HttpServer::ErrorBody(static_cast<int>(code), std::move(message))};
}

// Sums the bytes of a request's headers (MHD_get_connection_values).
MHD_Result AddHeaderBytes(void* cls, MHD_ValueKind, const char* key,
                          const char* value) {
  *static_cast<size_t*>(cls) +=
      std::strlen(key) + (value ? std::strlen(value) : 0) + 4;  // ": ", CRLF
  return MHD_YES;
}

HttpResponse TooBig(int limit) {
  return {413, "application/json",
          HttpServer::ErrorBody(
              static_cast<int>(absl::StatusCode::kResourceExhausted),
              absl::StrCat("the request body is larger than the ", limit,
                           " bytes allowed (--max-message-bytes)"))};
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

// Answers a request refused before its handler, once, and tells on_refused.
MHD_Result Refuse(const HttpServer& server, MHD_Connection* connection,
                  PendingRequest& pending, const HttpResponse& answer) {
  pending.too_big = true;
  if (pending.answered) return MHD_YES;
  pending.answered = true;
  if (server.options().on_refused) server.options().on_refused(answer.status);
  return Queue(connection, answer);
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url,
                     const char* method, const char* /*version*/,
                     const char* upload_data, size_t* upload_data_size,
                     void** state) {
  const auto* server = static_cast<const HttpServer*>(cls);
  const int limit = server->options().max_body_bytes;
  auto* pending = static_cast<PendingRequest*>(*state);
  if (pending == nullptr) {  // the headers have arrived
    pending = new PendingRequest;
    *state = pending;
    HttpRequest& request = pending->request;
    request.method = method;
    request.path = url;
    request.content_type = Header(connection, MHD_HTTP_HEADER_CONTENT_TYPE);
    request.grpc_timeout = Header(connection, "Grpc-Timeout");
    if (const MHD_ConnectionInfo* info = MHD_get_connection_info(
            connection, MHD_CONNECTION_INFO_CONNECTION_FD)) {
      request.socket = info->connect_fd;
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
    if (target > HttpServer::kMaxTargetBytes) {
      return Refuse(*server, connection, *pending,
                    Refused(414, absl::StatusCode::kInvalidArgument,
                            absl::StrCat("the request target is longer than the ",
                                         HttpServer::kMaxTargetBytes,
                                         " bytes allowed")));
    }
    if (headers > HttpServer::kMaxHeaderBytes) {
      return Refuse(*server, connection, *pending,
                    Refused(431, absl::StatusCode::kInvalidArgument,
                            absl::StrCat("the request's headers are larger than "
                                         "the ", HttpServer::kMaxHeaderBytes,
                                         " bytes allowed")));
    }
    int64_t length = 0;
    if (absl::SimpleAtoi(Header(connection, MHD_HTTP_HEADER_CONTENT_LENGTH),
                         &length) &&
        length > limit) {
      return Refuse(*server, connection, *pending, TooBig(limit));  // before the body
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) {  // a piece of the body
    if (!pending->too_big) {
      if (pending->request.body.size() + *upload_data_size >
          static_cast<size_t>(limit)) {
        pending->too_big = true;
        pending->request.body.clear();
        pending->request.body.shrink_to_fit();
      } else {
        pending->request.body.append(upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (pending->too_big) return Refuse(*server, connection, *pending, TooBig(limit));
  // The edge: nothing a request does may end the process.
  HttpResponse answer;
  try {
    answer = server->Handle(pending->request);
  } catch (const std::exception& e) {
    Log("HTTP ", EchoText(pending->request.method), " ",
        EchoText(pending->request.path), " failed: ", EchoText(e.what(), 256));
    answer = {500, "application/json",
              HttpServer::ErrorBody(static_cast<int>(absl::StatusCode::kInternal),
                                    "the server failed to answer this request")};
    if (server->options().on_refused) server->options().on_refused(500);
  }
  return Queue(connection, answer);
}

void OnCompleted(void* /*cls*/, MHD_Connection* /*connection*/, void** state,
                 MHD_RequestTerminationCode /*reason*/) {
  delete static_cast<PendingRequest*>(*state);
  *state = nullptr;
}

}  // namespace

std::string HttpServer::ErrorBody(int code, const std::string& message) {
  return nlohmann::json{{"code", code}, {"message", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const Options& options, Handler handler) {
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(handler)));
  HttpDaemonOptions daemon;
  daemon.address = options.address;
  daemon.flag = "http-address";
  daemon.threading = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  daemon.tls_cert_pem = options.tls_cert_pem;
  daemon.tls_key_pem = options.tls_key_pem;
  daemon.on_completed = &OnCompleted;
  daemon.connection_memory = kConnectionMemory;
  HttpGuard::Options guard;
  guard.max_connections = 256;
  guard.max_connections_per_address = 64;
  guard.request_time = std::chrono::seconds(120);
  server->guard_ = std::make_unique<HttpGuard>(guard);
  daemon.guard = server->guard_.get();
  GCN_ASSIGN_OR_RETURN(server->daemon_,
                       StartHttpDaemon(daemon, &OnRequest, server.get()));
  server->port_ = HttpDaemonPort(server->daemon_);
  return server;
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace gcnserve
