#ifndef GCNSERVE_TESTS_SUPPORT_RAW_SOCKET_H_
#define GCNSERVE_TESTS_SUPPORT_RAW_SOCKET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace gcnserve {

// A TCP socket connected to 127.0.0.1:port that has sent `bytes` (e.g. an
// HTTP request written by hand, to close the connection before the answer);
// -1 on failure. The caller closes it.
inline int SendRaw(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(bytes.size())) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_RAW_SOCKET_H_
