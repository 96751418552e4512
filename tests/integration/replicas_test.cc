// Several replicas of the real server on loopback, behind one name, and the
// real client library balancing over them, as clients of a headless
// Kubernetes Service do: aged connections bring load to a replica added
// later, and a full queue on one replica is retried on another.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "client/classifier_client.h"
#include "server/app/server.h"
#include "tests/support/fake_dns.h"
#include "tests/support/metric_value.h"
#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

// Requests `server` has answered, whatever the status.
double Answered(Server& server) {
  return MetricValue(server.metrics(), "gcnserve_requests_total", {});
}

// Calls `step` until `condition` holds; false after `limit` (the test then
// fails rather than hangs).
bool KeepGoingUntil(const std::function<void()>& step,
                    const std::function<bool()>& condition,
                    std::chrono::seconds limit) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    step();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::unique_ptr<Server> StartReplica(const std::string& address,
                                     const std::function<void(ServerOptions&)>&
                                         configure = nullptr) {
  ServerOptions options = LoopbackServerOptions();
  options.grpc_address = address;
  if (configure) configure(options);
  auto server = Server::Create(options);
  if (!server.ok()) {
    ADD_FAILURE() << address << ": " << server.status();
    return nullptr;
  }
  return *std::move(server);
}

// Replicas listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3, on one port, and
// the fake DNS answers the name with those that are "ready". The client
// resolves the name once and keeps its connections; only when a connection
// reaches --max-connection-age-s (GOAWAY) does it resolve again and find
// the third replica.
TEST(ReplicasTest, AgedConnectionsBringLoadToAReplicaAddedLater) {
  auto aged = [](ServerOptions& options) {
    options.max_connection_age_s = 1;
    options.max_connection_age_grace_s = 1;
  };
  std::unique_ptr<Server> first = StartReplica("127.0.0.1:0", aged);
  ASSERT_TRUE(first);
  const std::string port = std::to_string(first->grpc_port());
  std::unique_ptr<Server> second = StartReplica("127.0.0.2:" + port, aged);
  ASSERT_TRUE(second);
  FakeDns dns;
  dns.SetAddresses({"127.0.0.1", "127.0.0.2"});

  ClientOptions client_options;
  client_options.target = "dns://127.0.0.1:" + std::to_string(dns.port()) +
                          "/replicas.gcnserve.test:" + port;
  client_options.deadline_ms = 20000;
  ClassifierClient client(client_options);
  v1::ClassifyRequest request;
  request.set_image(RunningServer::Read(RunningServer::Samples()[0]));
  v1::ClassifyResponse response;
  int failed = 0;
  auto classify = [&] {
    if (!client.Classify(request, &response).ok()) ++failed;
  };
  ASSERT_TRUE(KeepGoingUntil(
      classify, [&] { return Answered(*first) > 0 && Answered(*second) > 0; },
      std::chrono::seconds(60)))
      << "round robin never reached both replicas";

  std::unique_ptr<Server> third = StartReplica("127.0.0.3:" + port, aged);
  ASSERT_TRUE(third);
  dns.SetAddresses({"127.0.0.1", "127.0.0.2", "127.0.0.3"});
  // gRPC resolves again at most every 30 s (its default), so this waits for
  // the event, not for a figure.
  EXPECT_TRUE(KeepGoingUntil(classify, [&] { return Answered(*third) > 0; },
                             std::chrono::seconds(100)))
      << "the replica added later got no load";
  // GOAWAY moves calls to a new connection; none of them fails.
  EXPECT_EQ(failed, 0);
}

// One replica's queue is full; the client's service config retries the
// UNAVAILABLE it gets on the next replica, so every call succeeds.
TEST(ReplicasTest, FullQueueIsRetriedOnAnotherReplica) {
  std::unique_ptr<Server> full = StartReplica("127.0.0.1:0", [](ServerOptions& o) {
    o.max_queue_size = 1;
    o.max_queue_delay_us = 10'000'000;  // the queued request waits to fill a batch
  });
  ASSERT_TRUE(full);
  std::unique_ptr<Server> free = StartReplica("127.0.0.1:0");
  ASSERT_TRUE(free);
  v1::ClassifyRequest request;
  request.set_image(RunningServer::Read(RunningServer::Samples()[0]));

  ClientOptions direct;
  direct.target = "127.0.0.1:" + std::to_string(full->grpc_port());
  direct.deadline_ms = 30000;
  ClassifierClient filler(direct);
  v1::ClassifyResponse filler_response;
  std::atomic<bool> filler_done{false};
  filler.ClassifyAsync(request, &filler_response,
                       [&](grpc::Status) { filler_done = true; });
  Metrics::Model* queue = full->metrics().ForModel("model3");
  ASSERT_TRUE(KeepGoingUntil([] {}, [&] { return queue->queue_depth->Value() == 1; },
                             std::chrono::seconds(30)));

  ClientOptions both;
  both.target = direct.target + ",127.0.0.1:" + std::to_string(free->grpc_port());
  both.deadline_ms = 20000;
  ClassifierClient client(both);
  auto refused = [&] {
    return MetricValue(full->metrics(), "gcnserve_requests_total",
                       {{"code", "UNAVAILABLE"}});
  };
  int calls = 0, failed = 0;
  ASSERT_TRUE(KeepGoingUntil(
      [&] {
        v1::ClassifyResponse response;
        ++calls;
        grpc::Status status = client.Classify(request, &response);
        if (!status.ok()) {
          ++failed;
          ADD_FAILURE() << status.error_code() << ": " << status.error_message();
        }
      },
      [&] { return refused() >= 1; }, std::chrono::seconds(60)));
  EXPECT_EQ(failed, 0) << "of " << calls << " calls";
  full->Shutdown();  // drains: the queued request is answered
  EXPECT_TRUE(KeepGoingUntil([] {}, [&] { return filler_done.load(); },
                             std::chrono::seconds(30)));
}

}  // namespace
}  // namespace gcnserve
