#include "server/transport/http_guard.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

namespace gcnserve {
namespace {

// The socket context of a connection past the limits (OverLimit).
char over_limit_mark;

// The client's address as bytes (family and address, no port): the key of
// the per-address count.
std::string AddressKey(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "";
  const sockaddr* address = info->client_addr;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return std::string("4") +
           std::string(reinterpret_cast<const char*>(&in->sin_addr),
                       sizeof in->sin_addr);
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    return std::string("6") +
           std::string(reinterpret_cast<const char*>(&in6->sin6_addr),
                       sizeof in6->sin6_addr);
  }
  return "";
}

}  // namespace

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
  // libmicrohttpd's limits sit above the guard's by the connections to be
  // answered; 0 per address stays no limit.
  const unsigned extra = options_.over_limit_answered;
  const unsigned per_address = options_.max_connections_per_address;
  return {
      {MHD_OPTION_CONNECTION_LIMIT,
       static_cast<intptr_t>(options_.max_connections + extra), nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
       static_cast<intptr_t>(per_address == 0 ? 0 : per_address + extra),
       nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, idle_s, nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION,
       reinterpret_cast<intptr_t>(&HttpGuard::OnConnection), this},
      {MHD_OPTION_NOTIFY_COMPLETED,
       reinterpret_cast<intptr_t>(&HttpGuard::OnCompleted), this},
  };
}

bool HttpGuard::OverLimit(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info != nullptr && info->socket_context == &over_limit_mark;
}

void HttpGuard::OnConnection(void* cls, MHD_Connection* connection,
                             void** socket_context,
                             MHD_ConnectionNotificationCode code) {
  auto* guard = static_cast<HttpGuard*>(cls);
  std::lock_guard<std::mutex> lock(guard->mu_);
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    auto open = guard->open_.find(connection);
    if (open == guard->open_.end()) return;
    if (!open->second.over_limit) {
      --guard->served_;
      auto count = guard->served_by_address_.find(open->second.address);
      if (count != guard->served_by_address_.end() && --count->second == 0) {
        guard->served_by_address_.erase(count);
      }
    }
    guard->open_.erase(open);
    return;
  }
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  const Options& options = guard->options_;
  std::string address = AddressKey(connection);
  unsigned& from_address = guard->served_by_address_[address];
  const bool over_limit = guard->served_ >= options.max_connections ||
                          (options.max_connections_per_address > 0 &&
                           from_address >= options.max_connections_per_address);
  if (over_limit) {
    *socket_context = &over_limit_mark;
    if (from_address == 0) guard->served_by_address_.erase(address);
  } else {
    ++guard->served_;
    ++from_address;
  }
  // The watchdog never sleeps past now + request_time, so it need not be
  // woken for this later deadline.
  guard->open_[connection] =
      Open{info->connect_fd, std::move(address), over_limit,
           std::chrono::steady_clock::now() + options.request_time};
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
