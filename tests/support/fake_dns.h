#ifndef GCNSERVE_TESTS_SUPPORT_FAKE_DNS_H_
#define GCNSERVE_TESTS_SUPPORT_FAKE_DNS_H_

// A DNS server on loopback UDP that answers every A query with the
// addresses the test sets, as the DNS of a headless Kubernetes Service
// answers with the ready pods. gRPC's c-ares resolver asks it when the
// target names it: dns://127.0.0.1:<port>/<any name>:<grpc port>.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gcnserve {

class FakeDns {
 public:
  FakeDns() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }

  int port() const { return port_; }
  // How many queries were answered.
  int queries() const { return queries_; }
  // The IPv4 addresses every A query gets from now on ("127.0.0.2").
  void SetAddresses(const std::vector<std::string>& addresses) {
    std::lock_guard<std::mutex> lock(mu_);
    addresses_.clear();
    for (const std::string& a : addresses) {
      in_addr parsed{};
      inet_pton(AF_INET, a.c_str(), &parsed);
      addresses_.push_back(parsed.s_addr);
    }
  }

 private:
  void Serve() {
    unsigned char query[512];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      ssize_t n = recvfrom(fd_, query, sizeof query, 0,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 12) continue;
      // The question: labels up to a zero byte, then type and class.
      size_t end = 12;
      while (end < static_cast<size_t>(n) && query[end] != 0) end += query[end] + 1;
      end += 5;
      if (end > static_cast<size_t>(n)) continue;
      const int type = query[end - 4] << 8 | query[end - 3];
      std::vector<uint32_t> addresses;
      if (type == 1) {  // A; AAAA and the rest get no answer
        std::lock_guard<std::mutex> lock(mu_);
        addresses = addresses_;
      }
      std::string answer(reinterpret_cast<char*>(query), end);
      answer[2] = static_cast<char>(0x81);  // response, recursion desired
      answer[3] = static_cast<char>(0x80);  // recursion available, NOERROR
      answer[6] = 0;                        // answer count
      answer[7] = static_cast<char>(addresses.size());
      answer[8] = answer[9] = answer[10] = answer[11] = 0;
      for (uint32_t address : addresses) {
        // Name (a pointer to the question's), A, IN, TTL 0, 4 bytes.
        const char record[] = {'\xc0', '\x0c', 0, 1, 0, 1, 0, 0, 0, 0, 0, 4};
        answer.append(record, sizeof record);
        answer.append(reinterpret_cast<const char*>(&address), 4);
      }
      sendto(fd_, answer.data(), answer.size(), 0,
             reinterpret_cast<sockaddr*>(&from), from_len);
      ++queries_;
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::mutex mu_;
  std::vector<uint32_t> addresses_;  // network byte order
  std::thread thread_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_FAKE_DNS_H_
