// HttpServer, the HTTP port's transport, with a handler made in the test:
// what reaches the handler, the body limit, one thread per connection, the
// socket a handler watches its client with.
#include "server/transport/http_server.h"

#include <curl/curl.h>
#include <unistd.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/transport/connection_watch.h"
#include "tests/support/http_fetch.h"
#include "tests/support/raw_socket.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

HttpAnswer Post(int port, const std::string& path, const std::string& body,
                const std::vector<std::string>& headers = {}) {
  return Fetch("POST", "http://127.0.0.1:" + std::to_string(port) + path, body,
               headers);
}

std::unique_ptr<HttpServer> Start(HttpServer::Handler handler,
                                  int max_body_bytes = 1 << 20) {
  HttpServer::Options options;
  options.address = "127.0.0.1:0";
  options.max_body_bytes = max_body_bytes;
  auto server = HttpServer::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpServerTest, HandsTheRequestWholeToTheHandler) {
  std::mutex mu;
  HttpRequest seen;
  auto server = Start([&](const HttpRequest& request) {
    std::lock_guard<std::mutex> lock(mu);
    seen = request;
    return HttpResponse{201, "text/plain", "made"};
  });
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  std::string body(300'000, 'b');  // arrives in many pieces
  body[0] = 'a';
  HttpAnswer answer = Post(server->port(), "/v1/things?x=1&name=a%20b", body,
                       {"Content-Type: image/png", "Grpc-Timeout: 5S"});
  EXPECT_EQ(answer.status, 201);
  EXPECT_EQ(answer.body, "made");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/v1/things");
  EXPECT_EQ(seen.query, (std::map<std::string, std::string>{{"x", "1"}, {"name", "a b"}}));
  EXPECT_EQ(seen.content_type, "image/png");
  EXPECT_EQ(seen.grpc_timeout, "5S");
  EXPECT_EQ(seen.body, body);
}

TEST(HttpServerTest, BodyOverTheLimitIs413AndNeverReachesTheHandler) {
  int calls = 0;
  std::mutex mu;
  auto server = Start(
      [&](const HttpRequest&) {
        std::lock_guard<std::mutex> lock(mu);
        ++calls;
        return HttpResponse{200, "text/plain", "ok"};
      },
      /*max_body_bytes=*/1024);
  ASSERT_NE(server, nullptr);
  for (const auto& headers : std::vector<std::vector<std::string>>{
           {}, {"Transfer-Encoding: chunked"}}) {
    HttpAnswer answer = Post(server->port(), "/", std::string(4096, 'x'), headers);
    EXPECT_EQ(answer.status, 413);
    EXPECT_THAT(answer.body, HasSubstr("\"code\":8"));
    EXPECT_THAT(answer.body, HasSubstr("1024 bytes"));
  }
  EXPECT_EQ(Post(server->port(), "/", std::string(1024, 'x')).status, 200);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls, 1);
}

TEST(HttpServerTest, EachConnectionHasItsOwnThread) {
  // Both handlers wait until both have started: with one thread for all
  // connections the second would never start and both would give up.
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  auto server = Start([&](const HttpRequest&) {
    std::unique_lock<std::mutex> lock(mu);
    ++started;
    cv.notify_all();
    bool both = cv.wait_for(lock, std::chrono::seconds(30), [&] { return started >= 2; });
    return HttpResponse{both ? 200 : 500, "text/plain", ""};
  });
  ASSERT_NE(server, nullptr);
  HttpAnswer first;
  std::thread other([&] { first = Post(server->port(), "/", "1"); });
  HttpAnswer second = Post(server->port(), "/", "2");
  other.join();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.status, 200);
}

TEST(HttpServerTest, AHandlerThatWaitsSeesItsClientLeave) {
  // The handler waits (as HttpApi does) until its client closes the
  // connection; with no socket to watch it would wait until the test's end.
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool finished = false;
  int gone = 0;
  std::shared_ptr<ConnectionWatch> held;
  auto server = Start([&](const HttpRequest& request) {
    auto watch = std::make_shared<ConnectionWatch>(request.socket);
    {
      std::lock_guard<std::mutex> lock(mu);
      held = watch;
      started = true;
    }
    cv.notify_all();
    watch->Wait([&] {
      std::lock_guard<std::mutex> lock(mu);
      ++gone;
      watch->Notify();
    });
    {
      std::lock_guard<std::mutex> lock(mu);
      finished = true;
    }
    cv.notify_all();
    return HttpResponse{};
  });
  ASSERT_NE(server, nullptr);
  int client = SendRaw(server->port(), "GET /held HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_GE(client, 0);
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return started; }));
  }
  close(client);
  std::unique_lock<std::mutex> lock(mu);
  bool noticed = cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished; });
  if (!noticed) held->Notify();  // lets the server stop
  EXPECT_TRUE(noticed);
  EXPECT_EQ(gone, noticed ? 1 : 0);
}

TEST(HttpServerTest, AddressesThatCannotServeAreErrorsNamingTheFlag) {
  HttpServer::Options options;
  options.address = "no-such-host.invalid:80";
  auto bad = HttpServer::Start(options, nullptr);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--http-address"));
  auto first = Start([](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_NE(first, nullptr);
  options.address = "127.0.0.1:" + std::to_string(first->port());
  auto taken = HttpServer::Start(options, nullptr);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpServerTest, ErrorBodyIsCodeAndMessage) {
  EXPECT_EQ(HttpServer::ErrorBody(3, "bad \"x\""),
            R"({"code":3,"message":"bad \"x\""})");
}

}  // namespace
}  // namespace gcnserve
