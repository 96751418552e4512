// gcnserve serving gRPC over TLS and mutual TLS (--tls-cert, --tls-key,
// --tls-client-ca), with the client's TLS options on the other end and the
// test certificates in testdata/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

const std::string kTestData = GCNSERVE_CLIENT_TESTDATA;

void ServeTls(ServerOptions& server) {
  server.tls_cert = kTestData + "/server.pem";
  server.tls_key = kTestData + "/server.key";
}

void TrustServer(ClientOptions& client) {
  client.tls.ca_file = kTestData + "/server.pem";
  client.tls.server_name = "localhost";
}

v1::ClassifyRequest SampleRequest() {
  v1::ClassifyRequest request;
  request.set_image(RunningServer::Read(RunningServer::Samples().front()));
  return request;
}

grpc::Status Health(const ClientOptions& options) {
  auto client = ClassifierClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  grpc::health::v1::HealthCheckResponse response;
  return (*client)->Health("", &response);
}

TEST(ServerTlsTest, TrustingClientClassifiesAndPlaintextIsRefused) {
  auto running = RunningServer::Start([](ServerOptions& server, ClientOptions& client) {
    ServeTls(server);
    TrustServer(client);
  });
  ASSERT_NE(running, nullptr);
  v1::ClassifyResponse response;
  grpc::Status status = running->client().Classify(SampleRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.classes_size(), 5);  // the default top_k
  EXPECT_FALSE(response.points().empty());

  ClientOptions plaintext;
  plaintext.target = running->target();
  plaintext.deadline_ms = 2000;
  EXPECT_EQ(Health(plaintext).error_code(), grpc::StatusCode::UNAVAILABLE);
  ClientOptions untrusting = plaintext;
  untrusting.tls.ca_file = kTestData + "/other.pem";
  untrusting.tls.server_name = "localhost";
  EXPECT_EQ(Health(untrusting).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerTlsTest, MutualTlsServesOnlyClientsWithACertificate) {
  auto running = RunningServer::Start([](ServerOptions& server, ClientOptions& client) {
    ServeTls(server);
    server.tls_client_ca = kTestData + "/server.pem";
    TrustServer(client);
    client.tls.cert_file = kTestData + "/server.pem";  // signed by itself
    client.tls.key_file = kTestData + "/server.key";
  });
  ASSERT_NE(running, nullptr);
  v1::ClassifyResponse response;
  grpc::Status status = running->client().Classify(SampleRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  ClientOptions anonymous;
  anonymous.target = running->target();
  anonymous.deadline_ms = 2000;
  TrustServer(anonymous);
  EXPECT_EQ(Health(anonymous).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerTlsTest, UnreadableOrNonPemFilesStopTheStartNamingTheFlag) {
  ServerOptions options = LoopbackServerOptions();
  ServeTls(options);
  options.tls_key = "/nonexistent/server.key";
  auto missing = Server::Create(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("--tls-key=/nonexistent/server.key"));

  ServeTls(options);
  options.tls_client_ca = kTestData + "/README.md";  // a file, but no PEM
  auto not_pem = Server::Create(options);
  EXPECT_EQ(not_pem.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_pem.status().message(), HasSubstr("--tls-client-ca"));
}

}  // namespace
}  // namespace gcnserve
