#ifndef GCNSERVE_SERVER_TRANSPORT_HTTP_GUARD_H_
#define GCNSERVE_SERVER_TRANSPORT_HTTP_GUARD_H_

#include <microhttpd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace gcnserve {

// Guards a libmicrohttpd daemon against slow and greedy clients; every HTTP
// port of the server has one (StartHttpDaemon, HttpDaemonOptions::guard):
//
// - at most `max_connections` connections are served at once, and
//   `max_connections_per_address` from one client address, so that one
//   client cannot take every slot. Up to `over_limit_answered` connections
//   past those limits are accepted all the same and marked (OverLimit()),
//   for the daemon to answer their first request (503) and close them: a
//   client behind a proxy or a NAT hears why instead of losing its
//   connection. Past that libmicrohttpd refuses connections itself: from an
//   address past its limit they are closed as accepted, and past the total
//   they wait in the listen backlog until a connection closes.
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
    // Connections served at once; at least 1.
    unsigned max_connections = 256;
    // Connections served at once from one client address; 0: no limit but
    // max_connections (right behind a proxy, where every client shares the
    // proxy's address).
    unsigned max_connections_per_address = 8;
    // Connections past the limits accepted to be answered and closed
    // (OverLimit); 0: none, libmicrohttpd closes them as they are accepted.
    unsigned over_limit_answered = 0;
    std::chrono::milliseconds request_time{std::chrono::seconds(10)};
  };

  explicit HttpGuard(const Options& options);
  ~HttpGuard();  // Joins the watchdog thread.

  HttpGuard(const HttpGuard&) = delete;
  HttpGuard& operator=(const HttpGuard&) = delete;

  const Options& options() const { return options_; }

  // The daemon options that apply the guard (without MHD_OPTION_END); they
  // point into this object. `on_completed`, when given, is called as
  // MHD_OPTION_NOTIFY_COMPLETED would be. Call once per guard.
  std::vector<MHD_OptionItem> DaemonOptions(
      MHD_RequestCompletedCallback on_completed, void* on_completed_arg);

  // True when `connection` was accepted past the limits, to be answered and
  // closed. Lock-free; any thread.
  static bool OverLimit(MHD_Connection* connection);

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Open {
    int fd;
    std::string address;  // the client's address bytes; "" when unknown
    bool over_limit;
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
  // Served connections (those of open_ not over the limits), in all and by
  // client address; an address leaves the map with its last connection.
  unsigned served_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, unsigned> served_by_address_ ABSL_GUARDED_BY(mu_);
  std::thread watchdog_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_HTTP_GUARD_H_
