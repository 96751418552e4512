// What a hostile or careless client sends, against the real server on
// loopback: echoed text stays short, bytes protobuf refuses do not flood
// the log, slow connections do not starve /metrics.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/base/bounded_text.h"
#include "server/pipeline/response_builder.h"
#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

std::string SampleImage() { return RunningServer::Read(RunningServer::Samples()[0]); }

// A Classify sent as raw bytes, past the client's own serializer, the way a
// client in another language or a fuzzer would send it.
grpc::Status ClassifyRaw(const std::string& target, const std::string& bytes) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, "/gcnserve.v1.Classifier/Classify",
                 grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_all();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return status;
}

// Field 6 (request_id) with wire type 2, length-delimited.
std::string RequestIdField(const std::string& value) {
  return std::string("\x32", 1) + static_cast<char>(value.size()) + value;
}

TEST(HostileClientTest, HugeModelNameIsEchoedAsAShortPrefix) {
  auto running = RunningServer::Start();
  ASSERT_TRUE(running);
  v1::ClassifyRequest request;
  request.set_image(SampleImage());
  // 100,000 bytes: echoed whole, the trailer would pass the client's header
  // limit, and this call and the next ones on the channel would hang.
  request.set_model(std::string(100'000, 'm'));
  v1::ClassifyResponse response;
  grpc::Status status = running->client().Classify(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(status.error_message().size(), 200u);
  EXPECT_THAT(status.error_message(), HasSubstr("... (100000 bytes)"));
  EXPECT_THAT(status.error_message(), HasSubstr("served: model3"));
  request.clear_model();
  EXPECT_TRUE(running->client().Classify(request, &response).ok());
}

TEST(HostileClientTest, StreamItemErrorsAreBoundedToo) {
  auto running = RunningServer::Start();
  ASSERT_TRUE(running);
  grpc::ClientContext context;
  running->client().SetDeadline(context);
  auto stream = running->client().stub().ClassifyStream(&context);
  v1::ClassifyRequest request;
  request.set_image(SampleImage());
  std::string model;
  while (model.size() < 50'000) model += "\xc3\xa9";  // é, valid UTF-8
  request.set_model(model);
  request.set_request_id("first");
  ASSERT_TRUE(stream->Write(request));
  request.set_model("");
  request.set_request_id(std::string(kMaxRequestIdBytes + 1, 'r'));
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  v1::ClassifyResponse response;
  int answers = 0;
  while (stream->Read(&response)) {
    ++answers;
    ASSERT_TRUE(response.has_error());
    EXPECT_LE(response.error().message().size(), kMaxStatusMessageBytes);
    if (response.request_id() == "first") {
      EXPECT_EQ(response.error().code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_THAT(response.error().message(), HasSubstr("\\xc3\\xa9"));
    } else {
      // Too long to be echoed: the item is refused and its id left out.
      EXPECT_EQ(response.error().code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_EQ(response.request_id(), "");
      EXPECT_THAT(response.error().message(), HasSubstr("request_id is"));
    }
  }
  EXPECT_EQ(answers, 2);
  EXPECT_TRUE(stream->Finish().ok());
}

// gRPC's parser refuses invalid UTF-8 in a proto3 string field before the
// service runs, and gRPC 1.51's callback API answers any request it cannot
// parse with UNIMPLEMENTED and no message; the service cannot make that
// INVALID_ARGUMENT. What the server can do: keep protobuf's complaint about
// it (one ERROR line per request) out of the log but for one line a minute.
TEST(HostileClientTest, InvalidUtf8IsRefusedAndLoggedOnce) {
  auto running = RunningServer::Start();
  ASSERT_TRUE(running);
  v1::ClassifyRequest request;
  request.set_image(SampleImage());
  const std::string bytes =
      request.SerializeAsString() + RequestIdField("id-\xff\xfe-bad");
  testing::internal::CaptureStderr();
  for (int i = 0; i < 20; ++i) {
    grpc::Status status = ClassifyRaw(running->target(), bytes);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  std::string log = testing::internal::GetCapturedStderr();
  size_t lines = 0;
  for (size_t at = 0; (at = log.find("invalid UTF-8", at)) != std::string::npos;
       ++at) {
    ++lines;
  }
  // At most one: an earlier test in this process may have used the minute.
  EXPECT_LE(lines, 1u) << log;
  // The same request with a valid id is answered.
  request.set_request_id("id-ok");
  EXPECT_TRUE(ClassifyRaw(running->target(), request.SerializeAsString()).ok());
}

// A TCP connection to 127.0.0.1:`port` from the loopback address `source`
// ("127.0.0.2": another client than the scraper on 127.0.0.1), started
// without waiting; -1 when no socket is left.
int ConnectFrom(const char* source, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
       errno != EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

// GET /metrics from 127.0.0.1 as a scraper with a `limit` does it: the
// whole answer, or "" when the limit passes first.
std::string Scrape(int port, std::chrono::milliseconds limit) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(
               give_up - std::chrono::steady_clock::now())
               .count()));
  };
  int fd = ConnectFrom("127.0.0.1", port);
  if (fd < 0) return "";
  pollfd p{fd, POLLOUT, 0};
  std::string request =
      "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (poll(&p, 1, left_ms()) != 1 ||
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    p = {fd, POLLIN, 0};
    if (poll(&p, 1, left_ms()) != 1) {
      response.clear();  // not whole within the limit
      break;
    }
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, n);
  }
  close(fd);
  return response;
}

// Lets this process hold `files` descriptors, or returns false.
bool AllowOpenFiles(rlim_t files) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= files) return true;
  if (limit.rlim_max < files) return false;
  limit.rlim_cur = files;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

class SlowClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    running_ = RunningServer::Start([](ServerOptions& options, ClientOptions&) {
      options.metrics_address = "127.0.0.1:0";
    });
    ASSERT_TRUE(running_);
    port_ = running_->server().metrics_port();
  }
  void TearDown() override {
    stop_ = true;
    if (trickle_.joinable()) trickle_.join();
    for (int fd : slow_) close(fd);
  }

  // Opens `n` connections from `source`, each sending the start of a
  // request line, then one more byte every 200 ms for as long as the server
  // keeps it open.
  void HoldSlowConnections(const char* source, int n) {
    for (int i = 0; i < n; ++i) {
      int fd = ConnectFrom(source, port_);
      ASSERT_GE(fd, 0) << "connection " << i << ": " << strerror(errno);
      slow_.push_back(fd);
    }
    trickle_ = std::thread([this] {
      std::vector<bool> started(slow_.size(), false);
      while (!stop_) {
        for (size_t i = 0; i < slow_.size(); ++i) {
          const char* bytes = started[i] ? "e" : "GET /metrics?tim";
          if (send(slow_[i], bytes, strlen(bytes), MSG_NOSIGNAL) > 0) {
            started[i] = true;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }

  std::unique_ptr<RunningServer> running_;
  int port_ = 0;
  std::vector<int> slow_;
  std::atomic<bool> stop_{false};
  std::thread trickle_;
};

// The attack: one client holds 1,100 connections, each sending a
// byte now and then and never a whole request. The scraper is answered all
// the same (the issue asks for 1 s, and it took 0.61-0.67 ms on the idle
// machine: the scrape_us property of --gtest_output=xml; 5 s here keeps a
// loaded machine from failing the test, where the unguarded server never
// answers).
TEST_F(SlowClientTest, ScrapeIsAnsweredWhileOneClientHoldsManySlowConnections) {
  if (!AllowOpenFiles(4096)) GTEST_SKIP() << "cannot open 1,100 sockets here";
  HoldSlowConnections("127.0.0.2", 1100);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let them land
  auto start = std::chrono::steady_clock::now();
  std::string scraped = Scrape(port_, std::chrono::seconds(5));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(scraped, HasSubstr("200 OK"));
  EXPECT_THAT(scraped, HasSubstr("gcnserve_build_info"));
  RecordProperty("scrape_us", static_cast<int>(
      std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
}

// A connection trickling a byte every 200 ms is closed all the same, at
// most its lifetime (10 s) after it opened; libmicrohttpd's own timeout
// would restart at every byte.
TEST_F(SlowClientTest, TrickleCannotKeepAConnectionOpen) {
  HoldSlowConnections("127.0.0.3", 1);
  int fd = slow_[0];
  bool closed = false;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 500) == 1) {
      char buffer[256];
      ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      closed = n == 0 || (n < 0 && errno != EAGAIN) ||
               (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
    }
  }
  EXPECT_TRUE(closed) << "the server kept a trickling connection for 60 s";
  // And the endpoint still answers.
  EXPECT_THAT(Scrape(port_, std::chrono::seconds(5)), HasSubstr("200 OK"));
}

}  // namespace
}  // namespace gcnserve
