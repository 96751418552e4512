// The HTTP port of the real server (libmicrohttpd, the tiny test Model3 on
// loopback), driven with libcurl and compared with the gRPC answer to the
// same request: gcnserve's JSON API, its error mapping, KServe v2, the
// viewer's files, HTTPS, and the protocol label of the metrics.
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <unistd.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "absl/strings/escaping.h"
#include "server/models/file_digest.h"
#include "server/transport/http_api.h"
#include "tests/support/http_fetch.h"
#include "tests/support/raw_http.h"
#include "tests/support/raw_socket.h"
#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

template <typename Message>
Message FromJson(const std::string& text) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(text, &message);
  EXPECT_TRUE(status.ok()) << status.message() << " in " << text;
  return message;
}

// Equal but for timing (which differs per call); floats within 1e-5.
void ExpectSameAnswer(v1::ClassifyResponse http, v1::ClassifyResponse grpc) {
  http.clear_timing();
  grpc.clear_timing();
  google::protobuf::util::DefaultFieldComparator floats;
  floats.set_float_comparison(
      google::protobuf::util::DefaultFieldComparator::APPROXIMATE);
  floats.SetDefaultFractionAndMargin(1e-5, 1e-6);
  google::protobuf::util::MessageDifferencer differ;
  differ.set_field_comparator(&floats);
  std::string diff;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(http, grpc)) << diff;
}

std::string Png(int value) {
  cv::Mat image(28, 28, CV_8UC1, cv::Scalar(value));
  std::vector<uchar> png;
  cv::imencode(".png", image, png);
  return std::string(png.begin(), png.end());
}

class HttpApiTest : public ::testing::Test {
 protected:
  void Start(const std::function<void(ServerOptions&)>& configure = nullptr) {
    running_ = RunningServer::Start([&](ServerOptions& server, ClientOptions&) {
      server.http_address = "127.0.0.1:0";
      if (configure) configure(server);
    });
    ASSERT_NE(running_, nullptr);
    ASSERT_GT(running_->server().http_port(), 0);
    base_ = "http://127.0.0.1:" + std::to_string(running_->server().http_port());
  }

  HttpAnswer Get(const std::string& path) { return Fetch("GET", base_ + path); }
  HttpAnswer Post(const std::string& path, const std::string& body,
                  const std::vector<std::string>& headers = {}) {
    return Fetch("POST", base_ + path, body, headers);
  }
  v1::ClassifyResponse Grpc(const v1::ClassifyRequest& request) {
    v1::ClassifyResponse response;
    grpc::Status status = running_->client().Classify(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  // Expects `answer` to be gcnserve's error shape with `status` and `code`.
  static void ExpectError(const HttpAnswer& answer, long status,
                          absl::StatusCode code, const std::string& words) {
    EXPECT_EQ(answer.status, status) << answer.body;
    json body = json::parse(answer.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << answer.body;
    EXPECT_EQ(body.value("code", -1), static_cast<int>(code)) << answer.body;
    EXPECT_THAT(body.value("message", ""), HasSubstr(words));
  }

  // gcnserve_requests_total{protocol, code}, summed over models.
  double Count(const std::string& protocol, const std::string& code) {
    return Total([&](std::map<std::string, std::string>& labels) {
      return labels["protocol"] == protocol && labels["code"] == code;
    });
  }

  // gcnserve_requests_total summed over the labels that `match` accepts.
  double Total(const std::function<bool(std::map<std::string, std::string>&)>& match) {
    double total = 0;
    for (const auto& family : running_->server().metrics().registry()->Collect()) {
      if (family.name != "gcnserve_requests_total") continue;
      for (const auto& metric : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& pair : metric.label) labels[pair.name] = pair.value;
        if (match(labels)) total += metric.counter.value;
      }
    }
    return total;
  }

  std::unique_ptr<RunningServer> running_;
  std::string base_;
};

// Every answer of the HTTP port is counted once, refusals before routing
// too, under its model when the model is known, else under "".
TEST_F(HttpApiTest, EveryAnswerIsCountedOnce) {
  Start([](ServerOptions& server) { server.max_message_bytes = 1 << 20; });
  auto http = [](std::map<std::string, std::string>& l) {
    return l["protocol"] == "http";
  };
  auto of = [](const std::string& model, const std::string& code) {
    return [=](std::map<std::string, std::string>& l) {
      return l["protocol"] == "http" && l["model"] == model && l["code"] == code;
    };
  };
  const double before = Total(http);
  std::vector<std::pair<HttpAnswer, long>> answers = {
      {Post("/v1/classify", "not an image"), 400},
      {Post("/v1/classify?top_k=x", Png(100)), 400},
      {Post("/v1/classify?model=nope", Png(100)), 404},
      {Post("/v1/classify?model=model3&version=99", Png(100)), 404},
      {Fetch("PUT", base_ + "/v1/classify", Png(100)), 405},
      {Post("/v1/classify", std::string(2 << 20, 'x')), 413},
      {Get("/v1/classify?model=" + std::string(9000, 'm')), 414},
      {Fetch("GET", base_ + "/healthz", "",
             {"X-Big: " + std::string(20000, 'b')}), 431},
      {Get("/no/such/path"), 404},
      {Post("/v2/models/model3/infer", "{"), 400},
      {Post("/v2/models/nope/infer", "{}"), 404},
      {Get("/v1/models"), 200},
      {Post("/v1/classify", Png(100)), 200},
  };
  for (size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i].first.status, answers[i].second) << i << ": "
                                                           << answers[i].first.body;
  }
  EXPECT_EQ(Total(http) - before, static_cast<double>(answers.size()));
  EXPECT_EQ(Total(of("model3", "NOT_FOUND")), 1);  // the unknown version
  EXPECT_EQ(Total(of("", "NOT_FOUND")), 3);  // unknown models and the path
  EXPECT_EQ(Total(of("", "UNIMPLEMENTED")), 1);
  EXPECT_EQ(Total(of("", "RESOURCE_EXHAUSTED")), 1);
  EXPECT_EQ(Total(of("model3", "OK")), 1);
}

TEST(HttpStatusForTest, IsGrpcGatewaysMapping) {
  using absl::StatusCode;
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kOk), 200);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpApi::HttpStatusFor(StatusCode::kUnimplemented), 501);
}

TEST_F(HttpApiTest, ClassifyWithImageBytesEqualsTheGrpcAnswer) {
  Start();
  for (const auto& path : RunningServer::Samples()) {
    std::string image = RunningServer::Read(path);
    HttpAnswer answer = Post(
        "/v1/classify?top_k=3&graph=full&max_edges_per_node=2&request_id=r1",
        image, {"Content-Type: image/png"});
    ASSERT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(answer.content_type, "application/json");
    // The proto3 JSON mapping's names, printed by protobuf.
    EXPECT_THAT(answer.body, HasSubstr("\"imageWidth\":28"));
    EXPECT_THAT(answer.body, HasSubstr("\"modelDigest\":"));
    v1::ClassifyRequest request;
    request.set_image(image);
    request.set_top_k(3);
    request.set_graph(v1::GRAPH_DETAIL_FULL);
    request.set_max_edges_per_node(2);
    request.set_request_id("r1");
    v1::ClassifyResponse grpc = Grpc(request);
    ASSERT_EQ(grpc.adjacency().size(), 8);
    ExpectSameAnswer(FromJson<v1::ClassifyResponse>(answer.body), grpc);
  }
}

TEST_F(HttpApiTest, ClassifyWithAJsonRequestEqualsTheGrpcAnswer) {
  Start();
  v1::ClassifyRequest request;
  request.set_image(RunningServer::Read(RunningServer::Samples().back()));
  request.set_graph(v1::GRAPH_DETAIL_NONE);
  request.set_top_k(10);
  request.set_request_id("json-1");
  std::string body;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(request, &body).ok());
  EXPECT_THAT(body, HasSubstr("GRAPH_DETAIL_NONE"));
  HttpAnswer answer = Post("/v1/classify", body, {"Content-Type: application/json"});
  ASSERT_EQ(answer.status, 200) << answer.body;
  v1::ClassifyResponse http = FromJson<v1::ClassifyResponse>(answer.body);
  EXPECT_EQ(http.classes_size(), 10);
  EXPECT_TRUE(http.points().empty());
  ExpectSameAnswer(http, Grpc(request));
}

TEST_F(HttpApiTest, ModelsEqualsListModelsAndCarriesTheFilesDigest) {
  Start();
  HttpAnswer answer = Get("/v1/models");
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_THAT(answer.body, HasSubstr("\"state\":\"MODEL_STATE_READY\""));
  v1::ListModelsResponse grpc;
  ASSERT_TRUE(running_->client().ListModels(&grpc).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      FromJson<v1::ListModelsResponse>(answer.body), grpc));
  absl::StatusOr<std::string> digest = ShortFileDigest(
      std::string(GCNSERVE_TEST_REPOSITORY) + "/model3/1/model.pt");
  ASSERT_TRUE(digest.ok()) << digest.status();
  ASSERT_EQ(grpc.models_size(), 1);
  EXPECT_EQ(grpc.models(0).digest(), *digest);
  v1::ClassifyRequest request;
  request.set_image(RunningServer::Read(RunningServer::Samples().front()));
  EXPECT_EQ(Grpc(request).model_digest(), *digest);
}

TEST_F(HttpApiTest, HealthAndReadinessFollowTheServersState) {
  Start();
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/v2/health/live").status, 200);
  EXPECT_EQ(Get("/v2/health/ready").status, 200);
  EXPECT_EQ(Get("/v2/models/model3/ready").status, 200);
  running_->server().BeginDrain();
  EXPECT_EQ(Get("/healthz").status, 200);  // the process is up
  EXPECT_EQ(Get("/readyz").status, 503);
  EXPECT_EQ(Get("/v2/health/ready").status, 503);
  EXPECT_EQ(Get("/v2/models/model3/ready").status, 503);
  ExpectError(Post("/v1/classify", Png(100)), 503,
              absl::StatusCode::kUnavailable, "shutting down");
}

TEST_F(HttpApiTest, ErrorsCarryTheGrpcCodeAndGatewayStatus) {
  Start([](ServerOptions& server) { server.max_message_bytes = 64 << 10; });
  ExpectError(Post("/v1/classify", "not an image"), 400,
              absl::StatusCode::kInvalidArgument, "");
  ExpectError(Post("/v1/classify?top_k=many", Png(100)), 400,
              absl::StatusCode::kInvalidArgument, "top_k");
  ExpectError(Post("/v1/classify?graph=some", Png(100)), 400,
              absl::StatusCode::kInvalidArgument, "graph");
  ExpectError(Post("/v1/classify?colour=red", Png(100)), 400,
              absl::StatusCode::kInvalidArgument, "colour");
  ExpectError(Post("/v1/classify", "{\"image\": 3}", {"Content-Type: application/json"}),
              400, absl::StatusCode::kInvalidArgument, "proto3 JSON");
  ExpectError(Post("/v1/classify?model=nope", Png(100)), 404,
              absl::StatusCode::kNotFound, "nope");
  ExpectError(Post("/v1/classify?version=7", Png(100)), 404,
              absl::StatusCode::kNotFound, "version 7");
  ExpectError(Post("/v1/classify", Png(100), {"Grpc-Timeout: 1n"}), 504,
              absl::StatusCode::kDeadlineExceeded, "deadline");
  ExpectError(Post("/v1/classify", Png(100), {"Grpc-Timeout: soon"}), 400,
              absl::StatusCode::kInvalidArgument, "Grpc-Timeout");
  // Over --max-message-bytes, with a length and chunked.
  std::string big(100 << 10, 'x');
  ExpectError(Post("/v1/classify", big), 413,
              absl::StatusCode::kResourceExhausted, "65536 bytes");
  ExpectError(Post("/v1/classify", big, {"Transfer-Encoding: chunked"}), 413,
              absl::StatusCode::kResourceExhausted, "65536 bytes");
  ExpectError(Get("/nowhere"), 404, absl::StatusCode::kNotFound, "/nowhere");
  ExpectError(Get("/v1/classify"), 405, absl::StatusCode::kUnimplemented, "POST");
  ExpectError(Post("/v1/models", ""), 405, absl::StatusCode::kUnimplemented, "GET");
  // The server lives on.
  EXPECT_EQ(Post("/v1/classify", Png(100)).status, 200);
}

// UNAVAILABLE, as over gRPC (a transient overload, retried elsewhere): 503.
TEST_F(HttpApiTest, FullQueueIsServiceUnavailable) {
  Start([](ServerOptions& server) {
    server.max_queue_size = 2;
    server.max_queue_delay_us = 10'000'000;  // batches wait to fill
  });
  v1::ClassifyRequest request;
  request.set_image(Png(100));
  v1::ClassifyResponse responses[2];
  std::mutex mu;
  std::vector<grpc::Status> done;
  for (auto& response : responses) {
    running_->client().ClassifyAsync(request, &response, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      done.push_back(s);
    });
  }
  Metrics::Model* metrics = running_->server().metrics().ForModel("model3");
  for (int i = 0; i < 6000 && metrics->queue_depth->Value() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(metrics->queue_depth->Value(), 2);
  ExpectError(Post("/v1/classify", Png(100)), 503,
              absl::StatusCode::kUnavailable, "queue is full");
  // It says when to retry, and the connection stays open.
  RawHttpConnection connection(running_->server().http_port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(connection.Send(RawHttpRequest("POST", "/v1/classify", Png(100),
                                               "Content-Type: image/png\r\n")));
    std::optional<RawHttpResponse> answer = connection.Read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 503);
    EXPECT_EQ(answer->header("retry-after"), "1");
  }
  running_->server().Shutdown();  // drains: the queued two are answered
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(done.size(), 2u);
  for (const grpc::Status& s : done) EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(HttpApiModelErrorTest, ModelErrorIsInternalServerError) {
  auto running = RunningServer::Start([](ServerOptions& server, ClientOptions&) {
    server.http_address = "127.0.0.1:0";
    server.model_repository = GCNSERVE_TEST_FAULTY_REPOSITORY;
    server.default_model = "faulty";
  });
  ASSERT_NE(running, nullptr);
  std::string base =
      "http://127.0.0.1:" + std::to_string(running->server().http_port());
  HttpAnswer answer = Fetch("POST", base + "/v1/classify", Png(255));
  EXPECT_EQ(answer.status, 500) << answer.body;
  EXPECT_THAT(answer.body, HasSubstr("\"code\":13"));
  EXPECT_THAT(answer.body, HasSubstr("refuses bright images"));
}

TEST_F(HttpApiTest, MetricsCountEachProtocolApart) {
  Start();
  ASSERT_EQ(Post("/v1/classify", Png(100)).status, 200);
  ASSERT_EQ(Post("/v1/classify", Png(100)).status, 200);
  ASSERT_EQ(Post("/v1/classify?model=nope", Png(100)).status, 404);
  v1::ClassifyRequest request;
  request.set_image(Png(100));
  Grpc(request);
  EXPECT_EQ(Count("http", "OK"), 2);
  EXPECT_EQ(Count("http", "NOT_FOUND"), 1);
  EXPECT_EQ(Count("grpc", "OK"), 1);
}

TEST_F(HttpApiTest, AClientThatLeavesIsCancelledAndNeverRun) {
  Start([](ServerOptions& server) {
    server.max_queue_delay_us = 10'000'000;  // the batch waits to fill
  });
  Metrics::Model* metrics = running_->server().metrics().ForModel("model3");
  const uint64_t batches_before =
      metrics->batch_size->Collect().histogram.sample_count;
  const std::string png = Png(100);
  int client = SendRaw(running_->server().http_port(),
                       "POST /v1/classify HTTP/1.1\r\nHost: test\r\n"
                       "Content-Type: image/png\r\nContent-Length: " +
                           std::to_string(png.size()) + "\r\n\r\n" + png);
  ASSERT_GE(client, 0);
  for (int i = 0; i < 6000 && metrics->queue_depth->Value() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(metrics->queue_depth->Value(), 1);  // held in the batcher
  close(client);
  // Unfixed, the request would wait out the 10 s and run: OK, never CANCELLED.
  for (int i = 0; i < 6000 && Count("http", "CANCELLED") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Count("http", "CANCELLED"), 1);
  EXPECT_EQ(Count("http", "OK"), 0);
  EXPECT_EQ(metrics->queue_depth->Value(), 0);
  EXPECT_EQ(metrics->batch_size->Collect().histogram.sample_count,
            batches_before);  // never run
}

TEST_F(HttpApiTest, KServeV2MetadataAndReadiness) {
  Start();
  HttpAnswer server = Get("/v2");
  ASSERT_EQ(server.status, 200);
  EXPECT_EQ(json::parse(server.body)["name"], "gcnserve");
  for (const char* path : {"/v2/models/model3", "/v2/models/model3/versions/1"}) {
    HttpAnswer answer = Get(path);
    ASSERT_EQ(answer.status, 200) << path << ": " << answer.body;
    json meta = json::parse(answer.body);
    EXPECT_EQ(meta["name"], "model3");
    EXPECT_EQ(meta["versions"], json::array({"1"}));
    EXPECT_EQ(meta["inputs"][0]["datatype"], "BYTES");
    ASSERT_EQ(meta["outputs"].size(), 4u);
    EXPECT_EQ(meta["outputs"][0]["name"], "probabilities");
    EXPECT_EQ(meta["outputs"][0]["shape"], json::array({-1, 10}));  // [N, ...]
    EXPECT_EQ(meta["outputs"][1]["shape"], json::array({-1, 8, 2}));
    EXPECT_EQ(meta["outputs"][2]["shape"], json::array({-1, 8}));
    EXPECT_EQ(meta["outputs"][3]["shape"], json::array({-1, 8, 8}));
  }
  EXPECT_EQ(Get("/v2/models/model3/versions/1/ready").status, 200);
  HttpAnswer unknown = Get("/v2/models/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(json::parse(unknown.body).value("error", ""), HasSubstr("nope"));
  EXPECT_EQ(Get("/v2/models/model3/versions/9/ready").status, 404);
  EXPECT_EQ(Get("/v2/models/model3/versions/x").status, 400);
}

TEST_F(HttpApiTest, KServeV2InferEqualsTheGrpcAnswer) {
  Start();
  std::string image = RunningServer::Read(RunningServer::Samples().front());
  json body = {{"id", "kserve-1"},
               {"inputs", json::array({{{"name", "image"},
                                        {"shape", {1}},
                                        {"datatype", "BYTES"},
                                        {"data", {absl::Base64Escape(image)}}}})}};
  HttpAnswer answer = Post("/v2/models/model3/versions/1/infer", body.dump(),
                           {"Content-Type: application/json"});
  ASSERT_EQ(answer.status, 200) << answer.body;
  json out = json::parse(answer.body);
  EXPECT_EQ(out["model_name"], "model3");
  EXPECT_EQ(out["model_version"], "1");
  EXPECT_EQ(out["id"], "kserve-1");
  std::map<std::string, json> outputs;
  for (const json& o : out["outputs"]) outputs[o["name"]] = o;
  ASSERT_EQ(outputs.size(), 4u);

  v1::ClassifyRequest request;
  request.set_image(image);
  request.set_top_k(10);
  request.set_graph(v1::GRAPH_DETAIL_FULL);
  v1::ClassifyResponse grpc = Grpc(request);
  EXPECT_EQ(out["parameters"]["model_digest"], grpc.model_digest());
  const json& probabilities = outputs["probabilities"];
  EXPECT_EQ(probabilities["datatype"], "FP32");
  EXPECT_EQ(probabilities["shape"], json::array({1, 10}));
  for (const v1::ClassScore& score : grpc.classes()) {
    EXPECT_NEAR(probabilities["data"][score.index()].get<double>(),
                score.probability(), 1e-5);
  }
  const int k = grpc.points_size();
  ASSERT_EQ(k, 8);
  EXPECT_EQ(outputs["points"]["shape"], json::array({1, k, 2}));
  EXPECT_EQ(outputs["point_scores"]["shape"], json::array({1, k}));
  EXPECT_EQ(outputs["adjacency"]["shape"], json::array({1, k, k}));
  for (int i = 0; i < k; ++i) {
    EXPECT_NEAR(outputs["points"]["data"][2 * i].get<double>(), grpc.points(i).x(), 1e-4);
    EXPECT_NEAR(outputs["points"]["data"][2 * i + 1].get<double>(), grpc.points(i).y(), 1e-4);
    EXPECT_NEAR(outputs["point_scores"]["data"][i].get<double>(), grpc.points(i).score(), 1e-5);
  }
  ASSERT_EQ(outputs["adjacency"]["data"].size(), static_cast<size_t>(k * k));
  for (int i = 0; i < k * k; ++i) {
    EXPECT_NEAR(outputs["adjacency"]["data"][i].get<double>(),
                grpc.adjacency().weights(i), 1e-5);
  }

  // Asking for some outputs returns those only.
  body["outputs"] = json::array({{{"name", "point_scores"}}});
  answer = Post("/v2/models/model3/infer", body.dump());
  ASSERT_EQ(answer.status, 200) << answer.body;
  out = json::parse(answer.body);
  ASSERT_EQ(out["outputs"].size(), 1u);
  EXPECT_EQ(out["outputs"][0]["name"], "point_scores");
}

// N images in one request, shape [N], answered as [N, ...] tensors whose
// row i is image i's answer alone.
TEST_F(HttpApiTest, KServeV2InferTakesABatch) {
  Start();
  const std::vector<int> values = {30, 100, 180, 250};
  json data = json::array();
  for (int v : values) data.push_back(absl::Base64Escape(Png(v)));
  json body = {{"inputs", json::array({{{"name", "image"},
                                        {"shape", {4}},
                                        {"datatype", "BYTES"},
                                        {"data", data}}})}};
  HttpAnswer answer = Post("/v2/models/model3/infer", body.dump());
  ASSERT_EQ(answer.status, 200) << answer.body;
  json out = json::parse(answer.body);
  std::map<std::string, json> outputs;
  for (const json& o : out["outputs"]) outputs[o["name"]] = o;
  EXPECT_EQ(outputs["probabilities"]["shape"], json::array({4, 10}));
  EXPECT_EQ(outputs["points"]["shape"], json::array({4, 8, 2}));
  EXPECT_EQ(outputs["adjacency"]["shape"], json::array({4, 8, 8}));
  for (size_t i = 0; i < values.size(); ++i) {
    v1::ClassifyRequest request;
    request.set_image(Png(values[i]));
    request.set_top_k(10);
    v1::ClassifyResponse grpc = Grpc(request);
    for (const v1::ClassScore& score : grpc.classes()) {
      EXPECT_NEAR(outputs["probabilities"]["data"][i * 10 + score.index()].get<double>(),
                  score.probability(), 1e-5) << i;
    }
  }
  // One bad image fails the request, naming it.
  body["inputs"][0]["data"][2] = absl::Base64Escape("not an image");
  answer = Post("/v2/models/model3/infer", body.dump());
  EXPECT_EQ(answer.status, 400);
  EXPECT_THAT(answer.body, HasSubstr("image 2"));
}

TEST_F(HttpApiTest, KServeV2InferErrors) {
  Start();
  auto infer = [&](const json& input) {
    json body = {{"inputs", json::array({input})}};
    return Post("/v2/models/model3/infer", body.dump());
  };
  auto error_of = [](const HttpAnswer& a) {
    return json::parse(a.body, nullptr, false).value("error", "");
  };
  HttpAnswer fp32 = infer({{"name", "image"}, {"shape", {1}}, {"datatype", "FP32"},
                           {"data", {1.0}}});
  EXPECT_EQ(fp32.status, 400);
  EXPECT_THAT(error_of(fp32), HasSubstr("BYTES"));
  HttpAnswer not_base64 = infer({{"name", "image"}, {"shape", {1}},
                                 {"datatype", "BYTES"}, {"data", {"%%%"}}});
  EXPECT_EQ(not_base64.status, 400);
  EXPECT_THAT(error_of(not_base64), HasSubstr("base64"));
  HttpAnswer two = infer({{"name", "image"}, {"shape", {2}}, {"datatype", "BYTES"},
                          {"data", {"AAAA", "AAAA"}}});
  EXPECT_EQ(two.status, 400);
  HttpAnswer garbage = infer({{"name", "image"}, {"shape", {1}}, {"datatype", "BYTES"},
                              {"data", {absl::Base64Escape("not an image")}}});
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(Post("/v2/models/model3/infer", "{").status, 400);
  EXPECT_EQ(Post("/v2/models/nope/infer", "{}").status, 404);
  EXPECT_EQ(Get("/v2/models/model3/infer").status, 405);
}

// Hostile bodies, headers, numbers and paths: each a 4xx with its reason,
// none the end of the process (the server answers a good request after).
TEST_F(HttpApiTest, HostileInputIsRefusedAndTheServerLives) {
  Start();
  const std::string image = absl::Base64Escape(Png(100));
  auto v2 = [&](const json& input) {
    return Post("/v2/models/model3/infer",
                json{{"inputs", json::array({input})}}.dump());
  };
  auto error_of = [](const HttpAnswer& a) {
    return json::parse(a.body, nullptr, false).value("error", "");
  };
  // Nesting far past the stack: refused from the text, nothing built.
  for (int depth : {65, 50'000, 150'000}) {
    std::string nested = std::string(depth, '[') + "\"" + image + "\"" +
                         std::string(depth, ']');
    HttpAnswer deep = Post("/v2/models/model3/infer",
                           R"({"inputs":[{"name":"image","datatype":"BYTES",)"
                           R"("shape":[1],"data":)" + nested + "}]}");
    EXPECT_EQ(deep.status, 400) << depth;
    EXPECT_THAT(error_of(deep), HasSubstr("nests deeper than 64")) << depth;
    HttpAnswer v1 = Post("/v1/classify", R"({"image":)" + nested + "}",
                         {"Content-Type: application/json"});
    ExpectError(v1, 400, absl::StatusCode::kInvalidArgument, "nests deeper");
    HttpAnswer params = Post(
        "/v2/models/model3/infer",
        R"({"parameters":)" + std::string(depth, '[') + std::string(depth, ']') +
            "}");
    EXPECT_EQ(params.status, 400) << depth;
  }
  // Within the depth limit, nesting follows the shape like any other data.
  std::string nested3 = "[[[\"" + image + "\"]]]";
  HttpAnswer shaped = Post("/v2/models/model3/infer",
                           R"({"inputs":[{"name":"image","datatype":"BYTES",)"
                           R"("shape":[1,1,1],"data":)" + nested3 + "}]}");
  EXPECT_EQ(shaped.status, 200) << shaped.body;
  // Too many values, however shallow.
  std::string wide = "[" + std::string(200'000 * 2 - 1, ',') + "]";
  for (size_t i = 1; i < wide.size(); i += 2) wide[i] = '0';
  HttpAnswer many = Post("/v2/models/model3/infer",
                         R"({"outputs":)" + wide + "}");
  EXPECT_EQ(many.status, 400);
  EXPECT_THAT(error_of(many), HasSubstr("values"));
  // Shapes are checked against the data.
  for (const json& shape :
       {json::array({100'000'000'000, 100'000'000'000}), json::array({-1}),
        json::array({2}), json::array({0}), json::array({1.5}),
        json::array({"1"}), json("1"), json::array({UINT64_MAX}),
        json::array({INT64_MAX, INT64_MAX, 0, 2})}) {
    HttpAnswer bad = v2({{"name", "image"}, {"datatype", "BYTES"},
                         {"shape", shape}, {"data", {image}}});
    EXPECT_EQ(bad.status, 400) << shape.dump() << ": " << bad.body;
  }
  EXPECT_THAT(error_of(v2({{"name", "image"}, {"datatype", "BYTES"},
                           {"data", {image}}})),
              HasSubstr("no shape"));
  EXPECT_THAT(error_of(v2({{"name", "image"}, {"datatype", "BYTES"},
                           {"shape", {2}}, {"data", {image}}})),
              HasSubstr("holds 1 elements where its shape says 2"));
  // Fields of the wrong type are refused, not thrown.
  EXPECT_EQ(v2({{"name", 7}, {"datatype", "BYTES"}, {"shape", {1}},
                {"data", {image}}}).status, 200);
  EXPECT_EQ(v2({{"name", "image"}, {"datatype", json::array()},
                {"shape", {1}}, {"data", {image}}}).status, 400);
  EXPECT_EQ(v2({{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}},
                {"data", {{{"a", 1}}}}}).status, 400);
  EXPECT_EQ(Post("/v2/models/model3/infer",
                 json{{"inputs", json::array({{{"name", "image"},
                                               {"datatype", "BYTES"},
                                               {"shape", {1}},
                                               {"data", {image}}}})},
                      {"outputs", json::array({{{"name", 3}}})}}
                     .dump())
                .status,
            400);
  EXPECT_EQ(Post("/v2/models/model3/infer",
                 json{{"inputs", json::array({{{"name", "image"},
                                               {"datatype", "BYTES"},
                                               {"shape", {1}},
                                               {"data", {image}}}})},
                      {"outputs", "probabilities"}}
                     .dump())
                .status,
            400);
  // Paths are the protocol's, not their prefixes.
  EXPECT_EQ(Get("/v2anything").status, 404);
  EXPECT_EQ(Get("/v2models/model3").status, 404);
  EXPECT_EQ(Get("/v2//models/model3").status, 404);
  EXPECT_EQ(Get("/v2/models/model3/").status, 404);
  EXPECT_EQ(Get("/v2/models/model3/versions/99999999999999999999").status, 400);
  // The largest timeout the protocol can write is no deadline, not an
  // overflow into the past.
  for (const char* timeout : {"99999999H", "99999999M", "99999999S", "99999999n"}) {
    HttpAnswer patient = Post("/v1/classify", Png(100),
                              {std::string("Grpc-Timeout: ") + timeout});
    EXPECT_EQ(patient.status, 200) << timeout << ": " << patient.body;
  }
  for (const char* timeout : {"+5S", "-5S", "5 S", "123456789S", "5", "S"}) {
    ExpectError(Post("/v1/classify", Png(100),
                     {std::string("Grpc-Timeout: ") + timeout}),
                400, absl::StatusCode::kInvalidArgument, "Grpc-Timeout");
  }
  // Query numbers that do not fit are refused.
  ExpectError(Post("/v1/classify?top_k=99999999999999999999", Png(100)), 400,
              absl::StatusCode::kInvalidArgument, "top_k");
  ExpectError(Post("/v1/classify?version=-1", Png(100)), 400,
              absl::StatusCode::kInvalidArgument, "version");
  EXPECT_EQ(Post("/v1/classify", Png(100)).status, 200);
}

TEST_F(HttpApiTest, ServesTheViewerBuiltIntoTheBinary) {
  Start();
  HttpAnswer page = Get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.content_type, HasSubstr("text/html"));
  EXPECT_THAT(page.body, HasSubstr("<script src=\"viewer.js\">"));
  HttpAnswer script = Get("/viewer.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_THAT(script.content_type, HasSubstr("javascript"));
  EXPECT_THAT(script.body, HasSubstr("/v1/classify"));
  EXPECT_THAT(Get("/viewer.css").content_type, HasSubstr("text/css"));
  // Nothing is fetched from elsewhere.
  for (const HttpAnswer& file : {page, script, Get("/viewer.css")}) {
    EXPECT_THAT(file.body, ::testing::Not(HasSubstr("https://")));
  }
}

TEST(HttpApiTlsTest, ServesHttpsWithTheGrpcCertificate) {
  const std::string testdata = GCNSERVE_CLIENT_TESTDATA;
  auto running = RunningServer::Start([&](ServerOptions& server, ClientOptions& client) {
    server.http_address = "127.0.0.1:0";
    server.tls_cert = testdata + "/server.pem";
    server.tls_key = testdata + "/server.key";
    client.tls.ca_file = testdata + "/server.pem";
    client.tls.server_name = "localhost";
  });
  ASSERT_NE(running, nullptr);
  const std::string port = std::to_string(running->server().http_port());
  HttpAnswer https = Fetch("POST", "https://localhost:" + port + "/v1/classify",
                           Png(100), {}, testdata + "/server.pem");
  EXPECT_EQ(https.status, 200) << https.body;
  EXPECT_THAT(https.body, HasSubstr("\"classes\""));
  // Plain HTTP gets no answer; an untrusted certificate is refused.
  EXPECT_NE(Fetch("GET", "http://127.0.0.1:" + port + "/healthz").status, 200);
  EXPECT_EQ(Fetch("GET", "https://localhost:" + port + "/healthz", "", {},
                  testdata + "/other.pem")
                .status,
            0);
}

// Whether a TLS handshake with 127.0.0.1:`port` succeeds when the client
// offers no version above `max_version` (OpenSSL's, security level 0 so
// that the client itself allows the old versions).
bool Handshakes(int port, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  const int fd = SendRaw(port, "");
  if (fd < 0) {
    SSL_CTX_free(ctx);
    return false;
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  const unsigned char alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(ssl, alpn, sizeof alpn);
  bool ok = SSL_connect(ssl) == 1;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return ok;
}

TEST(HttpApiTlsTest, BothPortsRefuseTlsOlderThan12) {
  const std::string testdata = GCNSERVE_CLIENT_TESTDATA;
  auto running = RunningServer::Start([&](ServerOptions& server, ClientOptions& client) {
    server.http_address = "127.0.0.1:0";
    server.tls_cert = testdata + "/server.pem";
    server.tls_key = testdata + "/server.key";
    client.tls.ca_file = testdata + "/server.pem";
    client.tls.server_name = "localhost";
  });
  ASSERT_NE(running, nullptr);
  for (int port : {running->server().http_port(), running->server().grpc_port()}) {
    EXPECT_TRUE(Handshakes(port, TLS1_3_VERSION)) << port;
    EXPECT_TRUE(Handshakes(port, TLS1_2_VERSION)) << port;
    EXPECT_FALSE(Handshakes(port, TLS1_1_VERSION)) << port;
    EXPECT_FALSE(Handshakes(port, TLS1_VERSION)) << port;
  }
}

// What a load of keep-alive connections got.
struct LoadResult {
  std::map<int, int> statuses;  // HTTP status: answers
  int without_retry_after = 0;  // 503s that did not say when to retry
  int ended = 0;                // connections closed or reset before their end
  int unanswered = 0;           // requests without an answer in the time
};

// Opens `connections` keep-alive connections to 127.0.0.1:`port` from one
// address at once, and sends `request` `rounds` times on each, the next when
// the last is answered, as a proxy's pool does; one thread polls them all.
LoadResult Load(int port, int connections, int rounds, const std::string& request) {
  struct Connection {
    int fd = -1;
    size_t sent = 0;  // bytes of the current request
    int answered = 0;
    bool done = false;
    std::string in;
  };
  std::vector<Connection> pool(connections);
  LoadResult result;
  for (Connection& c : pool) {
    c.fd = ConnectLoopback(port);
    if (c.fd < 0) {
      ++result.ended;
      c.done = true;
    }
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  int open = connections - result.ended;
  std::vector<pollfd> fds;
  std::vector<Connection*> of;
  while (open > 0 && std::chrono::steady_clock::now() < give_up) {
    fds.clear();
    of.clear();
    for (Connection& c : pool) {
      if (c.done) continue;
      fds.push_back({c.fd,
                     static_cast<short>(c.sent < request.size() ? POLLOUT : POLLIN), 0});
      of.push_back(&c);
    }
    if (poll(fds.data(), fds.size(), 1000) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      Connection& c = *of[i];
      if (fds[i].revents == 0) continue;
      auto end = [&](bool ended) {
        if (ended) ++result.ended;
        close(c.fd);
        c.done = true;
        --open;
      };
      if (c.sent < request.size()) {
        ssize_t n = send(c.fd, request.data() + c.sent, request.size() - c.sent,
                         MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN) end(true);
        continue;
      }
      char chunk[16384];
      ssize_t n = recv(c.fd, chunk, sizeof chunk, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        end(true);
        continue;
      }
      if (n > 0) c.in.append(chunk, static_cast<size_t>(n));
      while (auto response = TakeHttpResponse(c.in)) {
        ++result.statuses[response->status];
        if (response->status == 503 && response->header("retry-after").empty()) {
          ++result.without_retry_after;
        }
        if (++c.answered == rounds) {
          end(false);
          break;
        }
        c.sent = 0;
      }
    }
  }
  for (Connection& c : pool) {
    if (c.done) continue;
    result.unanswered += rounds - c.answered;
    close(c.fd);
  }
  return result;
}

// A proxy's load (issue 24): every client's requests come from the proxy's
// one address, over as many keep-alive connections as requests in flight.
// 1,000 at once: every request gets an HTTP status, 200 or (the queue full)
// 503 with Retry-After, and no connection is closed or reset; 512 at once
// all get 200 (the queue holds them).
TEST_F(HttpApiTest, AThousandKeepAliveConnectionsFromOneAddressAreAllAnswered) {
  if (!AllowOpenFiles(4096)) GTEST_SKIP() << "cannot open 2,000 sockets here";
  Start();
  const std::string request = RawHttpRequest(
      "POST", "/v1/classify", Png(100), "Content-Type: image/png\r\n");
  const int port = running_->server().http_port();

  LoadResult thousand = Load(port, 1000, 3, request);
  EXPECT_EQ(thousand.ended, 0);
  EXPECT_EQ(thousand.unanswered, 0);
  EXPECT_EQ(thousand.without_retry_after, 0);
  int answered = 0;
  for (const auto& [status, count] : thousand.statuses) {
    EXPECT_TRUE(status == 200 || status == 503) << count << " answered " << status;
    answered += count;
  }
  EXPECT_EQ(answered, 3000);
  EXPECT_GT(thousand.statuses[200], 0);

  LoadResult half = Load(port, 512, 2, request);
  EXPECT_EQ(half.ended, 0);
  EXPECT_EQ(half.unanswered, 0);
  EXPECT_EQ(half.statuses, (std::map<int, int>{{200, 1024}}));
  RecordProperty("thousand_503", thousand.statuses[503]);
}

}  // namespace
}  // namespace gcnserve
