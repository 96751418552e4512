#include "server/transport/http_guard.h"

#include <sys/socket.h>

#include <algorithm>

namespace gcnserve {

HttpGuard::HttpGuard(const Options& options) : options_(options) {
  watchdog_ = std::thread([this] { Watch(); });
}

HttpGuard::~HttpGuard() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  watchdog_.join();
}

std::vector<MHD_OptionItem> HttpGuard::DaemonOptions(
    MHD_RequestCompletedCallback on_completed, void* on_completed_arg) {
  on_completed_ = on_completed;
  on_completed_arg_ = on_completed_arg;
  // libmicrohttpd's own idle timeout (whole seconds) stays as a second line.
  const auto idle_s = static_cast<intptr_t>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options_.request_time)
             .count()));
  return {
      {MHD_OPTION_CONNECTION_LIMIT,
       static_cast<intptr_t>(options_.max_connections), nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
       static_cast<intptr_t>(options_.max_connections_per_address), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, idle_s, nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION,
       reinterpret_cast<intptr_t>(&HttpGuard::OnConnection), this},
      {MHD_OPTION_NOTIFY_COMPLETED,
       reinterpret_cast<intptr_t>(&HttpGuard::OnCompleted), this},
  };
}

void HttpGuard::OnConnection(void* cls, MHD_Connection* connection,
                             void** /*socket_context*/,
                             MHD_ConnectionNotificationCode code) {
  auto* guard = static_cast<HttpGuard*>(cls);
  std::lock_guard<std::mutex> lock(guard->mu_);
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    guard->open_.erase(connection);
    return;
  }
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  // The watchdog never sleeps past now + request_time, so it need not be
  // woken for this later deadline.
  guard->open_[connection] =
      Open{info->connect_fd,
           std::chrono::steady_clock::now() + guard->options_.request_time};
}

void HttpGuard::OnCompleted(void* cls, MHD_Connection* connection,
                            void** request_context,
                            MHD_RequestTerminationCode code) {
  auto* guard = static_cast<HttpGuard*>(cls);
  {
    std::lock_guard<std::mutex> lock(guard->mu_);
    auto open = guard->open_.find(connection);
    if (open != guard->open_.end() && !open->second.closing) {
      open->second.close_at =
          std::chrono::steady_clock::now() + guard->options_.request_time;
    }
  }
  if (guard->on_completed_) {
    guard->on_completed_(guard->on_completed_arg_, connection, request_context,
                         code);
  }
}

void HttpGuard::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    TimePoint now = std::chrono::steady_clock::now();
    TimePoint next = now + options_.request_time;
    for (auto& [connection, open] : open_) {
      if (open.closing) continue;
      if (open.close_at <= now) {
        shutdown(open.fd, SHUT_RDWR);
        open.closing = true;
      } else {
        next = std::min(next, open.close_at);
      }
    }
    wake_.wait_until(lock, next, [this] { return stop_; });
  }
}

}  // namespace gcnserve
