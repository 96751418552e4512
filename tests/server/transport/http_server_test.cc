// HttpServer, the HTTP port's transport, with handlers made in the test, on
// real sockets on loopback: what reaches the handler, the body limit, answers
// given later from other threads with no thread per connection, the client's
// leaving told to the handler, connections past the limits answered 503, the
// stop with answers pending.
#include "server/transport/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_fetch.h"
#include "tests/support/raw_http.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

HttpAnswer Post(int port, const std::string& path, const std::string& body,
                const std::vector<std::string>& headers = {}) {
  return Fetch("POST", "http://127.0.0.1:" + std::to_string(port) + path, body,
               headers);
}

HttpServer::Options LoopbackOptions() {
  HttpServer::Options options;
  options.address = "127.0.0.1:0";
  options.max_body_bytes = 1 << 20;
  return options;
}

std::unique_ptr<HttpServer> Start(
    HttpServer::Handler handler,
    HttpServer::Options options = LoopbackOptions()) {
  auto server = HttpServer::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Answers every request at once.
HttpServer::Handler Answer(HttpResponse response) {
  return [response](std::shared_ptr<HttpExchange> exchange) {
    exchange->Respond(response);
  };
}

// Keeps every exchange unanswered, for the test to answer.
class Held {
 public:
  HttpServer::Handler Handler() {
    return [this](std::shared_ptr<HttpExchange> exchange) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        exchanges_.push_back(std::move(exchange));
      }
      cv_.notify_all();
    };
  }
  // Waits until `n` exchanges are held; false if they do not come in 60 s.
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [&] { return exchanges_.size() >= n; });
  }
  std::vector<std::shared_ptr<HttpExchange>> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(exchanges_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<HttpExchange>> exchanges_;
};

TEST(HttpServerTest, HandsTheRequestWholeToTheHandler) {
  std::mutex mu;
  HttpRequest seen;
  auto server = Start([&](std::shared_ptr<HttpExchange> exchange) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen = exchange->request();
    }
    exchange->Respond({201, "text/plain", "made", {{"X-Extra", "yes"}}});
  });
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  std::string body(300'000, 'b');  // arrives in many pieces
  body[0] = 'a';
  RawHttpConnection connection(server->port());
  ASSERT_TRUE(connection.Send(
      RawHttpRequest("POST", "/v1/things?x=1&name=a%20b", body,
                     "Content-Type: image/png\r\nGrpc-Timeout: 5S\r\n")));
  std::optional<RawHttpResponse> answer = connection.Read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 201);
  EXPECT_EQ(answer->body, "made");
  EXPECT_EQ(answer->header("content-type"), "text/plain");
  EXPECT_EQ(answer->header("x-extra"), "yes");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/v1/things");
  EXPECT_EQ(seen.query,
            (std::map<std::string, std::string>{{"x", "1"}, {"name", "a b"}}));
  EXPECT_EQ(seen.content_type, "image/png");
  EXPECT_EQ(seen.grpc_timeout, "5S");
  EXPECT_EQ(seen.body, body);
}

TEST(HttpServerTest, BodyOverTheLimitIs413AndNeverReachesTheHandler) {
  std::atomic<int> calls{0};
  std::vector<int> refused;
  std::mutex mu;
  HttpServer::Options options = LoopbackOptions();
  options.max_body_bytes = 1024;
  options.on_refused = [&](int status) {
    std::lock_guard<std::mutex> lock(mu);
    refused.push_back(status);
  };
  auto server = Start(
      [&](std::shared_ptr<HttpExchange> exchange) {
        ++calls;
        exchange->Respond({200, "text/plain", "ok", {}});
      },
      options);
  ASSERT_NE(server, nullptr);
  for (const auto& headers : std::vector<std::vector<std::string>>{
           {}, {"Transfer-Encoding: chunked"}}) {
    HttpAnswer answer =
        Post(server->port(), "/", std::string(4096, 'x'), headers);
    EXPECT_EQ(answer.status, 413);
    EXPECT_THAT(answer.body, HasSubstr("\"code\":8"));
    EXPECT_THAT(answer.body, HasSubstr("1024 bytes"));
  }
  EXPECT_EQ(Post(server->port(), "/", std::string(1024, 'x')).status, 200);
  EXPECT_EQ(calls.load(), 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(refused, (std::vector<int>{413, 413}));
}

TEST(HttpServerTest, AnswersGivenLaterFromAnotherThreadReachTheirClients) {
  Held held;
  auto server = Start(held.Handler());
  ASSERT_NE(server, nullptr);
  RawHttpConnection connection(server->port());
  ASSERT_TRUE(connection.Send(RawHttpRequest("GET", "/first")));
  ASSERT_TRUE(held.WaitFor(1));
  std::thread([exchange = held.Take()[0]] {
    exchange->Respond({200, "text/plain", exchange->request().path, {}});
    exchange->Respond({500, "text/plain", "only the first answer counts", {}});
  }).join();
  std::optional<RawHttpResponse> first = connection.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "/first");
  // The connection is kept and serves the next request.
  ASSERT_TRUE(connection.Send(RawHttpRequest("GET", "/second")));
  ASSERT_TRUE(held.WaitFor(1));
  held.Take()[0]->Respond({202, "text/plain", "later", {}});
  std::optional<RawHttpResponse> second = connection.Read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 202);
}

TEST(HttpServerTest, ManyConnectionsWaitAtOnceOnOneThread) {
  // With one event-loop thread and every answer pending, all 200 requests
  // still reach the handler: no thread waits for an answer.
  HttpServer::Options options = LoopbackOptions();
  options.threads = 1;
  Held held;
  auto server = Start(held.Handler(), options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->threads(), 1);
  constexpr int kConnections = 200;
  std::vector<std::unique_ptr<RawHttpConnection>> connections;
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<RawHttpConnection>(server->port()));
    ASSERT_TRUE(connections.back()->Send(
        RawHttpRequest("GET", "/" + std::to_string(i))));
  }
  ASSERT_TRUE(held.WaitFor(kConnections));
  for (const auto& exchange : held.Take()) {
    exchange->Respond({200, "text/plain", exchange->request().path, {}});
  }
  for (int i = 0; i < kConnections; ++i) {
    std::optional<RawHttpResponse> answer = connections[i]->Read();
    ASSERT_TRUE(answer) << "connection " << i;
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, "/" + std::to_string(i));
  }
}

TEST(HttpServerTest, AHandlerIsToldWhenItsClientLeaves) {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<HttpExchange> held;
  int gone = 0;
  auto server = Start([&](std::shared_ptr<HttpExchange> exchange) {
    exchange->OnClientGone([&, exchange] {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++gone;
      }
      cv.notify_all();
      exchange->Respond({499, "text/plain", "", {}});  // as HttpApi's CANCELLED
    });
    std::lock_guard<std::mutex> lock(mu);
    held = exchange;
    cv.notify_all();
  });
  ASSERT_NE(server, nullptr);
  auto client = std::make_unique<RawHttpConnection>(server->port());
  ASSERT_TRUE(client->Send(RawHttpRequest("GET", "/held")));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60),
                            [&] { return held != nullptr; }));
  }
  client.reset();  // closes
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(
      cv.wait_for(lock, std::chrono::seconds(60), [&] { return gone > 0; }));
  EXPECT_EQ(gone, 1);
}

TEST(HttpServerTest, AClientThatHalfClosesAfterItsRequestCountsAsGone) {
  std::atomic<int> gone{0};
  std::mutex mu;
  std::condition_variable cv;
  auto server = Start([&](std::shared_ptr<HttpExchange> exchange) {
    exchange->OnClientGone([&, exchange] {
      ++gone;
      cv.notify_all();
      exchange->Respond({499, "text/plain", "", {}});
    });
  });
  ASSERT_NE(server, nullptr);
  RawHttpConnection client(server->port());
  ASSERT_TRUE(client.Send(RawHttpRequest("GET", "/")));
  shutdown(client.fd(), SHUT_WR);  // sends FIN, still reads
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return gone > 0; }));
}

TEST(HttpServerTest, APipelinedRequestIsNotALeavingClient) {
  // The second request waits in the socket while the first is pending: that
  // is data, not a close, so the first is not told its client left.
  std::atomic<int> gone{0};
  Held held;
  HttpServer::Handler keep = held.Handler();
  auto server = Start([&](std::shared_ptr<HttpExchange> exchange) {
    exchange->OnClientGone([&] { ++gone; });
    keep(std::move(exchange));
  });
  ASSERT_NE(server, nullptr);
  RawHttpConnection connection(server->port());
  ASSERT_TRUE(connection.Send(RawHttpRequest("GET", "/1") +
                              RawHttpRequest("GET", "/2")));
  for (const char* path : {"/1", "/2"}) {
    ASSERT_TRUE(held.WaitFor(1));
    std::shared_ptr<HttpExchange> exchange = held.Take()[0];
    EXPECT_EQ(exchange->request().path, path);
    exchange->Respond({200, "text/plain", path, {}});
    std::optional<RawHttpResponse> answer = connection.Read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->body, path);
  }
  EXPECT_EQ(gone.load(), 0);
}

TEST(HttpServerTest, AHandlerThatThrowsIsAnswered500) {
  std::vector<int> refused;
  std::mutex mu;
  HttpServer::Options options = LoopbackOptions();
  options.on_refused = [&](int status) {
    std::lock_guard<std::mutex> lock(mu);
    refused.push_back(status);
  };
  auto server = Start(
      [](std::shared_ptr<HttpExchange>) { throw std::runtime_error("boom"); },
      options);
  ASSERT_NE(server, nullptr);
  HttpAnswer answer = Post(server->port(), "/", "x");
  EXPECT_EQ(answer.status, 500);
  EXPECT_THAT(answer.body, HasSubstr("\"code\":13"));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(refused, std::vector<int>{500});
}

// The answer a connection past the limits gets.
void ExpectOverLimit(const std::optional<RawHttpResponse>& answer,
                     RawHttpConnection& connection, const std::string& limit) {
  ASSERT_TRUE(answer) << "dropped without an answer";
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(answer->header("retry-after"), "1");
  EXPECT_EQ(answer->header("connection"), "close");
  EXPECT_THAT(answer->body, HasSubstr("\"code\":14"));
  EXPECT_THAT(answer->body, HasSubstr(limit));
  // Then closed, not reset.
  EXPECT_FALSE(connection.Read());
  EXPECT_TRUE(connection.closed());
  EXPECT_FALSE(connection.reset());
}

TEST(HttpServerTest, AConnectionPastTheLimitIsAnswered503AndClosed) {
  HttpServer::Options options = LoopbackOptions();
  options.max_connections = 2;
  std::vector<int> refused;
  std::mutex mu;
  options.on_refused = [&](int status) {
    std::lock_guard<std::mutex> lock(mu);
    refused.push_back(status);
  };
  auto server = Start(Answer({200, "text/plain", "ok", {}}), options);
  ASSERT_NE(server, nullptr);
  // Two keep-alive connections, each answered, so both are open.
  std::vector<std::unique_ptr<RawHttpConnection>> served;
  for (int i = 0; i < 2; ++i) {
    served.push_back(std::make_unique<RawHttpConnection>(server->port()));
    ASSERT_TRUE(served.back()->Send(RawHttpRequest("GET", "/")));
    std::optional<RawHttpResponse> answer = served.back()->Read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200);
  }
  RawHttpConnection third(server->port());
  ASSERT_TRUE(
      third.Send(RawHttpRequest("POST", "/", std::string(10'000, 'b'))));
  ExpectOverLimit(third.Read(), third, "--http-max-connections");
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(refused, std::vector<int>{503});
  }
  // The served ones go on.
  ASSERT_TRUE(served[0]->Send(RawHttpRequest("GET", "/")));
  std::optional<RawHttpResponse> again = served[0]->Read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  // Once one closes, a new connection is served (the server sees the close
  // when it sees it: retried until then).
  served[1].reset();
  int status = 0;
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (status != 200 && std::chrono::steady_clock::now() < give_up) {
    RawHttpConnection next(server->port());
    ASSERT_TRUE(next.Send(RawHttpRequest("GET", "/")));
    std::optional<RawHttpResponse> answer = next.Read();
    ASSERT_TRUE(answer);
    status = answer->status;
  }
  EXPECT_EQ(status, 200);
}

TEST(HttpServerTest, AConnectionPastTheLimitPerAddressIsAnswered503) {
  HttpServer::Options options = LoopbackOptions();
  options.max_connections_per_address = 1;
  auto server = Start(Answer({200, "text/plain", "ok", {}}), options);
  ASSERT_NE(server, nullptr);
  RawHttpConnection first(server->port(), "127.0.0.1");
  ASSERT_TRUE(first.Send(RawHttpRequest("GET", "/")));
  ASSERT_TRUE(first.Read());
  RawHttpConnection second(server->port(), "127.0.0.1");
  ASSERT_TRUE(second.Send(RawHttpRequest("GET", "/")));
  ExpectOverLimit(second.Read(), second, "--http-max-connections-per-address");
  // Another address has its own count.
  RawHttpConnection other(server->port(), "127.0.0.2");
  ASSERT_TRUE(other.Send(RawHttpRequest("GET", "/")));
  std::optional<RawHttpResponse> answer = other.Read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
}

TEST(HttpServerTest, StoppingAnswersWhatIsPendingAndLaterAnswersAreDropped) {
  Held held;
  auto server = Start(held.Handler());
  ASSERT_NE(server, nullptr);
  RawHttpConnection connection(server->port());
  ASSERT_TRUE(connection.Send(RawHttpRequest("GET", "/pending")));
  ASSERT_TRUE(held.WaitFor(1));
  std::shared_ptr<HttpExchange> exchange = held.Take()[0];
  server
      .reset();  // would abort inside libmicrohttpd with a connection suspended
  exchange->Respond({200, "text/plain", "too late", {}});  // does nothing
  std::optional<RawHttpResponse> answer = connection.Read();
  if (answer) {  // or closed before it was sent
    EXPECT_EQ(answer->status, 503);
  }
  EXPECT_EQ(exchange->request().path, "/pending");
}

TEST(HttpServerTest, AnAnswerToMakeIsMadeOffTheCallersThread) {
  Held held;
  auto server = Start(held.Handler());
  ASSERT_NE(server, nullptr);
  RawHttpConnection connection(server->port());
  ASSERT_TRUE(connection.Send(RawHttpRequest("GET", "/made")));
  ASSERT_TRUE(held.WaitFor(1));
  std::shared_ptr<HttpExchange> exchange = held.Take()[0];
  std::atomic<bool> made_here{false};
  const std::thread::id caller = std::this_thread::get_id();
  exchange->RespondWith([&, exchange] {
    made_here = std::this_thread::get_id() == caller;
    return HttpResponse{200, "text/plain", exchange->request().path, {}};
  });
  exchange->Respond({500, "text/plain", "only the first answer counts", {}});
  std::optional<RawHttpResponse> answer = connection.Read();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "/made");
  EXPECT_FALSE(made_here.load());
}

TEST(HttpServerTest, LimitsAndAddressesThatCannotServeAreErrorsNamingTheFlag) {
  HttpServer::Options options = LoopbackOptions();
  options.max_connections = 0;
  auto bad = HttpServer::Start(options, Answer({}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("--http-max-connections"));
  options = LoopbackOptions();
  options.max_connections_per_address = -1;
  bad = HttpServer::Start(options, Answer({}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  options = LoopbackOptions();
  options.threads = -1;
  bad = HttpServer::Start(options, Answer({}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--http-threads"));

  options = LoopbackOptions();
  options.address = "no-such-host.invalid:80";
  bad = HttpServer::Start(options, Answer({}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--http-address"));
  auto first = Start(Answer({}));
  ASSERT_NE(first, nullptr);
  options.address = "127.0.0.1:" + std::to_string(first->port());
  auto taken = HttpServer::Start(options, Answer({}));
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpServerTest, ErrorBodyIsCodeAndMessage) {
  EXPECT_EQ(HttpServer::ErrorBody(3, "bad \"x\""),
            R"({"code":3,"message":"bad \"x\""})");
  HttpResponse unavailable = HttpServer::Unavailable("full");
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.body, R"({"code":14,"message":"full"})");
  EXPECT_EQ(
      unavailable.headers,
      (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}}));
}

}  // namespace
}  // namespace gcnserve
