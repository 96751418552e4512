#ifndef GCNSERVE_SERVER_TRANSPORT_HTTP_DAEMON_H_
#define GCNSERVE_SERVER_TRANSPORT_HTTP_DAEMON_H_

#include <microhttpd.h>

#include <string>

#include "absl/status/statusor.h"
#include "server/transport/http_guard.h"

namespace gcnserve {

// How one of gcnserve's HTTP ports (metrics, the HTTP API) runs.
struct HttpDaemonOptions {
  // host:port; port 0 picks a free one. IPv6 hosts may be bracketed.
  std::string address;
  // The flag that set `address`, for error messages ("metrics-address").
  std::string flag;
  // MHD_USE_INTERNAL_POLLING_THREAD, with MHD_USE_POLL, MHD_USE_AUTO (epoll
  // on Linux) and MHD_ALLOW_SUSPEND_RESUME as wanted; IPv6 and TLS are added
  // as needed.
  unsigned threading = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  // Event-loop threads (MHD_OPTION_THREAD_POOL_SIZE when more than 1).
  unsigned threads = 1;
  // Connections that may wait to be accepted (listen(2)'s backlog, which the
  // kernel caps at net.core.somaxconn); 0: libmicrohttpd's default.
  unsigned listen_backlog = 0;
  // Both or neither: PEM certificate chain and key to serve HTTPS with.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Called when a request ends, answered or not (MHD_OPTION_NOTIFY_COMPLETED).
  MHD_RequestCompletedCallback on_completed = nullptr;
  void* on_completed_arg = nullptr;
  // The port's limits on connections and on the time a request may take
  // (HttpGuard); it outlives the daemon. Null: an idle connection is closed
  // after 30 s, at most 256 connections at once.
  HttpGuard* guard = nullptr;
  // Bytes each connection may hold for its request line, headers and read
  // buffer (MHD_OPTION_CONNECTION_MEMORY_LIMIT); past it libmicrohttpd
  // answers 414 or 431 itself. 0: libmicrohttpd's default (32 KiB).
  size_t connection_memory = 0;
};

// Starts a libmicrohttpd daemon behind options.guard, calling `handler`
// with `handler_arg` for each request.
// INVALID_ARGUMENT when the address does not resolve, UNAVAILABLE when it
// cannot be listened on; both name options.flag.
absl::StatusOr<MHD_Daemon*> StartHttpDaemon(const HttpDaemonOptions& options,
                                            MHD_AccessHandlerCallback handler,
                                            void* handler_arg);

// The port `daemon` listens on (0 when unknown).
int HttpDaemonPort(MHD_Daemon* daemon);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_HTTP_DAEMON_H_
