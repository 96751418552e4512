// What a hostile or careless client sends, against the real server on
// loopback: echoed text stays short, bytes protobuf refuses do not flood
// the log.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "server/bounded_text.h"
#include "server/response_builder.h"
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
  EXPECT_EQ(lines, 1u) << log;
  // The same request with a valid id is answered.
  request.set_request_id("id-ok");
  EXPECT_TRUE(ClassifyRaw(running->target(), request.SerializeAsString()).ok());
}

}  // namespace
}  // namespace gcnserve
