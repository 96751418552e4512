#ifndef GCNSERVE_TESTS_SUPPORT_RAW_HTTP_H_
#define GCNSERVE_TESTS_SUPPORT_RAW_HTTP_H_

// HTTP/1.1 over a socket of the test's own, for tests that hold many
// keep-alive connections, send from a chosen source address, or must tell a
// reset connection from an answer (libcurl hides all three).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gcnserve {

struct RawHttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& name) const {
    auto found = headers.find(name);
    return found == headers.end() ? "" : found->second;
  }
};

// Takes one whole response (with a Content-Length, as gcnserve sends them)
// off the front of `buffer`; nullopt while it is not whole yet.
inline std::optional<RawHttpResponse> TakeHttpResponse(std::string& buffer) {
  const size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  RawHttpResponse response;
  bool first = true;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(buffer).substr(0, head_end), "\r\n")) {
    if (first) {  // HTTP/1.1 200 OK
      first = false;
      std::vector<absl::string_view> parts =
          absl::StrSplit(line, absl::MaxSplits(' ', 2));
      if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &response.status)) {
        response.status = -1;
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    response.headers[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  size_t length = 0;
  if (!absl::SimpleAtoi(response.header("content-length"), &length)) length = 0;
  const size_t end = head_end + 4 + length;
  if (buffer.size() < end) return std::nullopt;
  response.body = buffer.substr(head_end + 4, length);
  buffer.erase(0, end);
  return response;
}

// A request with a Content-Length body.
inline std::string RawHttpRequest(const std::string& method,
                                  const std::string& target,
                                  const std::string& body = "",
                                  const std::string& headers = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: gcnserve\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A TCP connection to 127.0.0.1:`port` from the loopback address `source`,
// non-blocking, its connect perhaps still under way; -1 when no socket is
// left.
inline int ConnectLoopback(int port, const char* source = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // The port is chosen at connect, per destination: a test that opens
  // thousands of connections does not run out of ports held in TIME_WAIT.
  const int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
       errno != EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

// Lets this process hold `files` descriptors, raising the soft limit up to
// the hard one; false when the hard limit is lower.
inline bool AllowOpenFiles(rlim_t files) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= files) return true;
  if (limit.rlim_max < files) return false;
  limit.rlim_cur = files;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// One keep-alive connection, used one request at a time.
class RawHttpConnection {
 public:
  explicit RawHttpConnection(int port, const char* source = "127.0.0.1")
      : fd_(ConnectLoopback(port, source)) {}
  ~RawHttpConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawHttpConnection(const RawHttpConnection&) = delete;
  RawHttpConnection& operator=(const RawHttpConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all of `bytes` within `limit`; false otherwise.
  bool Send(const std::string& bytes,
            std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    size_t sent = 0;
    while (fd_ >= 0 && sent < bytes.size()) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, LeftMs(give_up)) != 1) return false;
      ssize_t n =
          send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) sent += static_cast<size_t>(n);
    }
    return sent == bytes.size();
  }

  // The next response within `limit`; nullopt when the connection ended
  // (closed(), reset()) or the limit passed first.
  std::optional<RawHttpResponse> Read(
      std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto response = TakeHttpResponse(buffer_)) return response;
      if (fd_ < 0 || closed_) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, LeftMs(give_up)) != 1) return std::nullopt;
      char chunk[16384];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        closed_ = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        closed_ = true;
        reset_ = errno == ECONNRESET;
      }
    }
  }

  // True once the server closed the connection (EOF or an error).
  bool closed() const { return closed_; }
  // True when it ended with a reset.
  bool reset() const { return reset_; }

 private:
  static int LeftMs(std::chrono::steady_clock::time_point until) {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(
               until - std::chrono::steady_clock::now())
               .count()));
  }

  int fd_;
  std::string buffer_;
  bool closed_ = false;
  bool reset_ = false;
};

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_RAW_HTTP_H_
