// The client's connection options against small gRPC servers made here: TLS
// (with the test certificates in testdata/), round-robin over several
// targets, compression (bytes counted on the wire), and the checks that
// Create() makes.
#include "client/classifier_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

const std::string kTestData = GCNSERVE_CLIENT_TESTDATA;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A health service that answers SERVING and counts the calls.
class CountingHealth final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*,
                     const grpc::health::v1::HealthCheckRequest*,
                     HealthResponse* response) override {
    ++calls;
    response->set_status(HealthResponse::SERVING);
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};
};

// A gRPC server on a free loopback port with a CountingHealth.
struct TestServer {
  explicit TestServer(std::shared_ptr<grpc::ServerCredentials> credentials =
                          grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(&health);
    server = builder.BuildAndStart();
  }
  ~TestServer() { server->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  CountingHealth health;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

std::shared_ptr<grpc::ServerCredentials> ServerTls() {
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({ReadFile(kTestData + "/server.key"),
                                        ReadFile(kTestData + "/server.pem")});
  return grpc::SslServerCredentials(options);
}

ClientOptions Options(const std::string& target) {
  ClientOptions options;
  options.target = target;
  options.deadline_ms = 5000;
  return options;
}

grpc::Status Check(ClassifierClient& client) {
  HealthResponse response;
  return client.Health("", &response);
}

TEST(ChannelTargetTest, ListsBecomeUrisOthersStay) {
  EXPECT_EQ(ChannelTarget("127.0.0.1:1,127.0.0.1:2"),
            "ipv4:127.0.0.1:1,127.0.0.1:2");
  EXPECT_EQ(ChannelTarget("[::1]:1,[::1]:2"), "ipv6:[::1]:1,[::1]:2");
  EXPECT_EQ(ChannelTarget("localhost:50051"), "localhost:50051");
  EXPECT_EQ(ChannelTarget("dns:///gcnserve:50051"), "dns:///gcnserve:50051");
  EXPECT_EQ(ChannelTarget("ipv4:127.0.0.1:1,127.0.0.1:2"),
            "ipv4:127.0.0.1:1,127.0.0.1:2");
}

TEST(ParseCompressionTest, KnownNamesOnly) {
  EXPECT_EQ(*ParseCompression("none"), GRPC_COMPRESS_NONE);
  EXPECT_EQ(*ParseCompression("gzip"), GRPC_COMPRESS_GZIP);
  EXPECT_EQ(*ParseCompression("deflate"), GRPC_COMPRESS_DEFLATE);
  EXPECT_EQ(ParseCompression("zstd").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StatusCodeNameTest, Names) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED),
            "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED),
            "UNAUTHENTICATED");
}

TEST(CreateTest, RefusesBadOptions) {
  ClientOptions options = Options("127.0.0.1:1");
  options.tls.ca_file = "/nonexistent/ca.pem";
  auto missing = ClassifierClient::Create(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("--tls-ca"));
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/ca.pem"));

  options = Options("127.0.0.1:1");
  options.tls.cert_file = kTestData + "/server.pem";
  auto half = ClassifierClient::Create(options);
  EXPECT_THAT(half.status().message(), HasSubstr("--tls-key"));

  options = Options("");
  EXPECT_FALSE(ClassifierClient::Create(options).ok());
  options = Options("127.0.0.1:1");
  options.deadline_ms = 0;
  EXPECT_FALSE(ClassifierClient::Create(options).ok());
}

TEST(TlsTest, TrustedCertificateConnects) {
  TestServer server(ServerTls());
  ClientOptions options = Options(server.address());
  options.tls.ca_file = kTestData + "/server.pem";
  options.tls.server_name = "localhost";
  auto client = ClassifierClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  grpc::Status status = Check(**client);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server.health.calls, 1);
}

TEST(TlsTest, UntrustedCertificateOrPlaintextFails) {
  TestServer server(ServerTls());
  ClientOptions options = Options(server.address());
  options.deadline_ms = 2000;
  options.tls.ca_file = kTestData + "/other.pem";  // not the server's
  auto untrusted = ClassifierClient::Create(options);
  ASSERT_TRUE(untrusted.ok());
  EXPECT_EQ(Check(**untrusted).error_code(), grpc::StatusCode::UNAVAILABLE);

  auto plaintext = ClassifierClient::Create(Options(server.address()));
  ASSERT_TRUE(plaintext.ok());
  EXPECT_FALSE(Check(**plaintext).ok());
  EXPECT_EQ(server.health.calls, 0);
}

TEST(RoundRobinTest, ATargetListSpreadsCallsOverEveryServer) {
  TestServer first, second;
  ClassifierClient client(Options(first.address() + "," + second.address()));
  // round_robin sends to every connected address in turn; give the second
  // connection time to come up rather than assume it is up at once.
  for (int i = 0;
       i < 500 && (first.health.calls == 0 || second.health.calls == 0); ++i) {
    ASSERT_TRUE(Check(client).ok());
  }
  EXPECT_GT(first.health.calls, 0);
  EXPECT_GT(second.health.calls, 0);
  // Once both are up, calls alternate.
  int before_first = first.health.calls, before_second = second.health.calls;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Check(client).ok());
  EXPECT_EQ(first.health.calls - before_first, 5);
  EXPECT_EQ(second.health.calls - before_second, 5);
}

// Forwards TCP connections from its own loopback port to `backend_port`
// and counts the bytes that go from the client to the server.
class ByteCountingProxy {
 public:
  explicit ByteCountingProxy(int backend_port) : backend_port_(backend_port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listener_, 8);
    socklen_t size = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~ByteCountingProxy() {
    shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    for (int fd : sockets_) shutdown(fd, SHUT_RDWR);
    for (auto& thread : pumps_) thread.join();
    close(listener_);
    for (int fd : sockets_) close(fd);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int64_t upstream_bytes() const { return upstream_bytes_; }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }
  void Accept() {
    while (true) {
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr = Loopback(backend_port_);
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) !=
          0) {
        close(client);
        close(server);
        continue;
      }
      sockets_.push_back(client);
      sockets_.push_back(server);
      pumps_.emplace_back([=] { Pump(client, server, &upstream_bytes_); });
      pumps_.emplace_back([=] { Pump(server, client, nullptr); });
    }
  }
  static void Pump(int from, int to, std::atomic<int64_t>* count) {
    char buffer[16384];
    for (ssize_t n; (n = read(from, buffer, sizeof buffer)) > 0;) {
      if (count != nullptr) *count += n;
      if (send(to, buffer, n, MSG_NOSIGNAL) != n) break;
    }
    shutdown(to, SHUT_WR);
  }

  const int backend_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int64_t> upstream_bytes_{0};
  std::thread acceptor_;
  // Touched by the accept thread only, until it is joined.
  std::vector<int> sockets_;
  std::vector<std::thread> pumps_;
};

// Bytes sent for one health check of a 200 kB, very compressible service
// name through a counting proxy.
int64_t BytesSent(grpc_compression_algorithm compression) {
  TestServer server;
  ByteCountingProxy proxy(server.port);
  ClientOptions options = Options(proxy.address());
  options.compression = compression;
  ClassifierClient client(options);
  HealthResponse response;
  grpc::Status status = client.Health(std::string(200000, 'a'), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server.health.calls, 1);
  return proxy.upstream_bytes();
}

TEST(CompressionTest, RequestsAreSentCompressed) {
  EXPECT_GT(BytesSent(GRPC_COMPRESS_NONE), 200000);
  EXPECT_LT(BytesSent(GRPC_COMPRESS_GZIP), 20000);
  EXPECT_LT(BytesSent(GRPC_COMPRESS_DEFLATE), 20000);
}

}  // namespace
}  // namespace gcnserve
