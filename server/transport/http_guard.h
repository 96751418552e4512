#ifndef GCNSERVE_SERVER_TRANSPORT_HTTP_GUARD_H_
#define GCNSERVE_SERVER_TRANSPORT_HTTP_GUARD_H_

#include <microhttpd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace gcnserve {

// Guards a libmicrohttpd daemon against slow and greedy clients; every HTTP
// port of the server has one (StartHttpDaemon, HttpDaemonOptions::guard):
//
// - at most `max_connections` connections, and `max_connections_per_address`
//   from one client address (more are closed as they are accepted), so one
//   client cannot take every slot;
// - a connection has `request_time` to deliver a request and get it
//   answered, counted from when it opened or its previous request ended,
//   whatever it sends meanwhile: libmicrohttpd's own timeout counts from the
//   last byte received, which a client sending a byte every few seconds
//   keeps resetting for ever. Past it the connection is shut down.
//
// The guard owns the daemon's MHD_OPTION_NOTIFY_CONNECTION and
// MHD_OPTION_NOTIFY_COMPLETED (it passes the latter on to the daemon's own
// callback). Stop the daemon before the guard is destroyed. Thread-safe.
class HttpGuard {
 public:
  struct Options {
    unsigned max_connections = 256;
    unsigned max_connections_per_address = 8;
    std::chrono::milliseconds request_time{std::chrono::seconds(10)};
  };

  explicit HttpGuard(const Options& options);
  ~HttpGuard();  // Joins the watchdog thread.

  HttpGuard(const HttpGuard&) = delete;
  HttpGuard& operator=(const HttpGuard&) = delete;

  // The daemon options that apply the guard (without MHD_OPTION_END); they
  // point into this object. `on_completed`, when given, is called as
  // MHD_OPTION_NOTIFY_COMPLETED would be. Call once per guard.
  std::vector<MHD_OptionItem> DaemonOptions(
      MHD_RequestCompletedCallback on_completed, void* on_completed_arg);

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Open {
    int fd;
    TimePoint close_at;
    bool closing = false;
  };

  static void OnConnection(void* cls, MHD_Connection* connection,
                           void** socket_context,
                           MHD_ConnectionNotificationCode code);
  static void OnCompleted(void* cls, MHD_Connection* connection,
                          void** request_context,
                          MHD_RequestTerminationCode code);
  // Shuts down the socket of every connection past its time; the daemon
  // then sees it end and closes it.
  void Watch();

  const Options options_;
  MHD_RequestCompletedCallback on_completed_ = nullptr;
  void* on_completed_arg_ = nullptr;

  // The daemon reports a connection closed before it closes the socket, and
  // Watch() shuts sockets down under mu_, so it never touches a descriptor
  // that has been closed and reused.
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<MHD_Connection*, Open> open_ ABSL_GUARDED_BY(mu_);
  std::thread watchdog_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_HTTP_GUARD_H_
