#include "server/transport/http_daemon.h"

#include <netdb.h>
#include <sys/socket.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace gcnserve {
namespace {

constexpr char kTlsPriorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

}  // namespace

absl::StatusOr<MHD_Daemon*> StartHttpDaemon(const HttpDaemonOptions& options,
                                            MHD_AccessHandlerCallback handler,
                                            void* handler_arg) {
  const std::string& address = options.address;
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  std::string port = colon == std::string::npos ? "" : address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (colon == std::string::npos ||
      getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", options.flag, "=", address, ": the address does not resolve"));
  }
  unsigned flags = options.threading;
  if (found->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_SOCK_ADDR, 0, found->ai_addr}};
  if (options.guard) {
    for (const MHD_OptionItem& item : options.guard->DaemonOptions(
             options.on_completed, options.on_completed_arg)) {
      items.push_back(item);
    }
  } else {
    items.push_back({MHD_OPTION_CONNECTION_TIMEOUT, 30, nullptr});
    items.push_back({MHD_OPTION_CONNECTION_LIMIT, 256, nullptr});
    if (options.on_completed) {
      items.push_back({MHD_OPTION_NOTIFY_COMPLETED,
                       reinterpret_cast<intptr_t>(options.on_completed),
                       options.on_completed_arg});
    }
  }
  if (options.threads > 1) {
    items.push_back({MHD_OPTION_THREAD_POOL_SIZE,
                     static_cast<intptr_t>(options.threads), nullptr});
  }
  if (options.listen_backlog > 0) {
    items.push_back({MHD_OPTION_LISTEN_BACKLOG_SIZE,
                     static_cast<intptr_t>(options.listen_backlog), nullptr});
  }
  if (options.connection_memory > 0) {
    items.push_back({MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                     static_cast<intptr_t>(options.connection_memory), nullptr});
  }
  const bool tls = !options.tls_cert_pem.empty();
  if (tls) {
    flags |= MHD_USE_TLS;
    items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0,
                     const_cast<char*>(options.tls_cert_pem.c_str())});
    items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0,
                     const_cast<char*>(options.tls_key_pem.c_str())});
    // GnuTLS's defaults with TLS 1.2 the oldest version, as gRPC's port
    // (whose TLS stack offers nothing older).
    items.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0,
                     const_cast<char*>(kTlsPriorities)});
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  MHD_Daemon* daemon =
      MHD_start_daemon(flags, 0, nullptr, nullptr, handler, handler_arg,
                       MHD_OPTION_ARRAY, items.data(), MHD_OPTION_END);
  freeaddrinfo(found);
  if (daemon == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "--", options.flag, "=", address, ": cannot listen there",
        tls ? " (or --tls-cert and --tls-key are not a matching certificate "
              "and key)"
            : ""));
  }
  return daemon;
}

int HttpDaemonPort(MHD_Daemon* daemon) {
  const MHD_DaemonInfo* info =
      MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  return info ? info->port : 0;
}

}  // namespace gcnserve
