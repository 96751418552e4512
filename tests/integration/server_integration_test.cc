// Starts the real server (LibTorch, gRPC, OpenCV, metrics) on loopback with a
// tiny Model3 exported by model/ during the test run, and drives it with the
// real client library.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <set>

#include "client/classifier_client.h"
#include "server/app/server.h"
#include "server/base/cpu_count.h"
#include "tests/support/metric_value.h"
#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

const char* const kRepository = GCNSERVE_TEST_REPOSITORY;

// Waits for `condition`, which the test expects to come true soon; fails the
// test after 30 s rather than hanging.
bool WaitFor(const std::function<bool()>& condition) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Counts answers to async calls.
class Answers {
 public:
  void Add(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    statuses_.push_back(status);
    cv_.notify_all();
  }
  std::vector<grpc::Status> WaitAll(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60),
                 [&] { return statuses_.size() >= n; });
    return statuses_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<grpc::Status> statuses_;
};

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  std::string request = "GET " + path +
                        " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) {
    response.append(buffer, n);
  }
  close(fd);
  return response;
}

class ServerTest : public ::testing::Test {
 protected:
  static ServerOptions Options() {
    ServerOptions options = LoopbackServerOptions();
    options.metrics_address = "127.0.0.1:0";
    options.drain_timeout_s = 10;
    return options;
  }

  void Start(const ServerOptions& options, int deadline_ms = 20000) {
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ClientOptions client;
    client.target = "127.0.0.1:" + std::to_string(server_->grpc_port());
    client.deadline_ms = deadline_ms;
    client_ = std::make_unique<ClassifierClient>(client);
  }

  v1::ClassifyRequest Request(const std::string& image) {
    v1::ClassifyRequest request;
    request.set_image(image);
    return request;
  }

  grpc::Status Classify(const v1::ClassifyRequest& request,
                        v1::ClassifyResponse* response = nullptr) {
    v1::ClassifyResponse ignored;
    return client_->Classify(request, response ? response : &ignored);
  }

  HealthResponse::ServingStatus Health(const std::string& service) {
    HealthResponse response;
    grpc::Status status = client_->Health(service, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  }

  std::string SampleImage() {
    return RunningServer::Read(RunningServer::Samples().front());
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<ClassifierClient> client_;
};

TEST_F(ServerTest, ClassifiesARealImage) {
  Start(Options());
  v1::ClassifyRequest request = Request(SampleImage());
  request.set_top_k(10);
  request.set_graph(v1::GRAPH_DETAIL_FULL);
  request.set_request_id("sample-1");
  v1::ClassifyResponse response;
  grpc::Status status = Classify(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  EXPECT_EQ(response.model(), "model3");
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(response.request_id(), "sample-1");
  ASSERT_EQ(response.classes_size(), 10);
  double sum = 0;
  std::set<std::string> labels;
  for (int i = 0; i < 10; ++i) {
    sum += response.classes(i).probability();
    labels.insert(response.classes(i).label());
    if (i > 0) {
      EXPECT_GE(response.classes(i - 1).probability(),
                response.classes(i).probability());
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_EQ(labels.count("Ankle boot"), 1u);
  EXPECT_EQ(response.image_width(), 28);
  EXPECT_EQ(response.image_height(), 28);
  ASSERT_EQ(response.points_size(), 8);
  for (const auto& point : response.points()) {
    EXPECT_GE(point.x(), 0);
    EXPECT_LE(point.x(), 28);
    EXPECT_GE(point.y(), 0);
    EXPECT_LE(point.y(), 28);
  }
  const auto& adjacency = response.adjacency();
  ASSERT_EQ(adjacency.size(), 8);
  ASSERT_EQ(adjacency.weights_size(), 64);
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      EXPECT_NEAR(adjacency.weights(i * 8 + j), adjacency.weights(j * 8 + i),
                  1e-6);
    }
    EXPECT_GT(adjacency.weights(i * 8 + i), 0);
  }
  EXPECT_GE(response.timing().batch_size(), 1);
  EXPECT_GT(response.timing().total_us(), 0);
  EXPECT_GE(response.timing().total_us(), response.timing().inference_us());
}

TEST_F(ServerTest, GraphNoneReturnsClassesOnly) {
  Start(Options());
  v1::ClassifyRequest request = Request(SampleImage());
  request.set_graph(v1::GRAPH_DETAIL_NONE);
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify(request, &response).ok());
  EXPECT_EQ(response.classes_size(), 5);
  EXPECT_EQ(response.points_size(), 0);
  EXPECT_FALSE(response.has_adjacency());
}

// With --max-batch-size 0 (the default) each model's batch size comes from
// its own warm-up timings: a power of two up to 64, and ListModels says so.
TEST_F(ServerTest, TheDefaultBatchSizeIsChosenFromTheModelsWarmUp) {
  ServerOptions options = Options();
  options.max_batch_size = 0;
  Start(options);
  v1::ListModelsResponse models;
  ASSERT_TRUE(client_->ListModels(&models).ok());
  ASSERT_GE(models.models_size(), 1);
  const v1::ModelVersion& model = models.models(0);
  const int batch = model.max_batch_size();
  EXPECT_GE(batch, 1);
  EXPECT_LE(batch, 64);
  EXPECT_EQ(batch & (batch - 1), 0) << batch;
  EXPECT_THAT(model.execution(),
              HasSubstr("max batch " + std::to_string(batch) + " chosen from warm-up"));
  EXPECT_TRUE(Classify(Request(SampleImage())).ok());
}

// With the threads left to the server (--intra-op-threads 0) and several
// instances, a lone batch runs on every core only where the warm-up timed it
// faster so; ListModels says which, from which timings.
TEST_F(ServerTest, ALoneBatchGetsEveryCoreOnlyWhereTheWarmUpTimedItFaster) {
  if (UsableCores() < 2) GTEST_SKIP() << "one usable core: no choice to make";
  ServerOptions options = Options();
  options.instances = 2;
  options.intra_op_threads = 0;
  Start(options);
  v1::ListModelsResponse models;
  ASSERT_TRUE(client_->ListModels(&models).ok());
  ASSERT_GE(models.models_size(), 1);
  const std::string& execution = models.models(0).execution();
  EXPECT_THAT(execution, HasSubstr("batch 1 in "));
  const bool follows = execution.find("threads follow the load: a lone batch on ") != std::string::npos;
  const bool fixed = execution.find("thread(s) each, a lone batch too") != std::string::npos;
  EXPECT_NE(follows, fixed) << execution;
  EXPECT_TRUE(Classify(Request(SampleImage())).ok());
}

TEST_F(ServerTest, HealthIsServingAfterStart) {
  Start(Options());
  EXPECT_EQ(Health(""), HealthResponse::SERVING);
  EXPECT_EQ(Health("gcnserve.v1.Classifier"), HealthResponse::SERVING);
}

TEST_F(ServerTest, CorruptImageIsInvalidAndTheNextRequestSucceeds) {
  Start(Options());
  std::string image = SampleImage();
  grpc::Status bad = Classify(Request(image.substr(0, image.size() / 2)));
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Classify(Request("")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Classify(Request("GIF89a...")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Classify(Request(image)).ok());
}

TEST_F(ServerTest, BadFieldsAreInvalid) {
  Start(Options());
  v1::ClassifyRequest request = Request(SampleImage());
  request.set_top_k(-3);
  grpc::Status status = Classify(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("top_k"));
}

TEST_F(ServerTest, TooManyPixelsIsInvalid) {
  ServerOptions options = Options();
  options.max_image_pixels = 100;
  Start(options);
  grpc::Status status = Classify(Request(SampleImage()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "image is 28x28, more than the 100 pixels allowed");
}

TEST_F(ServerTest, UnknownModelOrVersionIsNotFound) {
  Start(Options());
  v1::ClassifyRequest request = Request(SampleImage());
  request.set_model("no-such-model");
  grpc::Status status = Classify(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("model3"));
  request.set_model("model3");
  request.set_version(99);
  EXPECT_EQ(Classify(request).error_code(), grpc::StatusCode::NOT_FOUND);
  request.set_version(1);
  EXPECT_TRUE(Classify(request).ok());
}

// UNAVAILABLE, the code gRPC retry policies retry (client/python/
// gcnserve_client/service_config.json): a full queue is a transient
// overload, best retried on another replica.
TEST_F(ServerTest, FullQueueIsUnavailable) {
  ServerOptions options = Options();
  options.max_queue_size = 2;
  options.max_queue_delay_us = 10'000'000;  // batches wait to fill
  Start(options);
  std::string image = SampleImage();
  v1::ClassifyRequest request = Request(image);
  v1::ClassifyResponse responses[2];
  Answers answers;
  for (auto& response : responses) {
    client_->ClassifyAsync(request, &response,
                           [&answers](grpc::Status s) { answers.Add(s); });
  }
  Metrics::Model* metrics = server_->metrics().ForModel("model3");
  EXPECT_EQ(metrics->queue_capacity->Value(), 2);
  ASSERT_TRUE(WaitFor([&] { return metrics->queue_depth->Value() == 2; }));
  grpc::Status status = Classify(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("queue is full"));
  server_->Shutdown();  // drains: the two queued requests are answered
  for (const grpc::Status& s : answers.WaitAll(2)) EXPECT_TRUE(s.ok());
}

TEST_F(ServerTest, ExpiredRequestIsDroppedBeforeInference) {
  ServerOptions options = Options();
  options.max_queue_delay_us = 10'000'000;
  Start(options, /*deadline_ms=*/300);
  grpc::Status status = Classify(Request(SampleImage()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server drops it at its deadline, long before the batch would have
  // closed. It counts DEADLINE_EXCEEDED when its own copy of the deadline
  // passes or the client's timeout reaches it within kDeadlineCancelSlack
  // of that (BatcherTest.ACancelJustBeforeTheDeadlineCountsAsTheDeadline
  // holds the rule with a fake clock). Here the client's cancel and the
  // server's deadline race: when a loaded machine delays the call's
  // arrival by more than the slack, the server's copy of the deadline
  // starts that much later, and the cancel counts CANCELLED. Either way it
  // is dropped once, without inference.
  Metrics& metrics = server_->metrics();
  auto dropped = [&](const char* code) {
    return MetricValue(metrics, "gcnserve_requests_total",
                       {{"model", "model3"}, {"code", code}});
  };
  EXPECT_TRUE(WaitFor([&] {
    return dropped("DEADLINE_EXCEEDED") + dropped("CANCELLED") == 1;
  }));
  EXPECT_EQ(MetricValue(metrics, "gcnserve_batch_size", {{"model", "model3"}}),
            0);
}

// A unary call whose client cancels is dropped at once: its reactor wakes
// the batcher. With an hour's queue delay nothing else would wake it before
// WaitFor gives up.
TEST_F(ServerTest, CancelledUnaryCallsLeaveTheQueueAtOnce) {
  ServerOptions options = Options();
  options.max_queue_delay_us = int64_t{3600} * 1'000'000;  // past the flag's range
  Start(options);
  v1::ClassifyRequest request = Request(SampleImage());
  constexpr int kCalls = 3;
  grpc::ClientContext contexts[kCalls];
  v1::ClassifyResponse responses[kCalls];
  Answers answers;
  for (int i = 0; i < kCalls; ++i) {
    client_->stub().async()->Classify(
        &contexts[i], &request, &responses[i],
        [&answers](grpc::Status s) { answers.Add(s); });
  }
  Metrics& metrics = server_->metrics();
  Metrics::Model* model = metrics.ForModel("model3");
  ASSERT_TRUE(WaitFor([&] { return model->queue_depth->Value() == kCalls; }));
  for (auto& context : contexts) context.TryCancel();
  for (const grpc::Status& s : answers.WaitAll(kCalls)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(WaitFor([&] {
    return MetricValue(metrics, "gcnserve_requests_total",
                       {{"model", "model3"}, {"code", "CANCELLED"}}) == kCalls;
  }));
  EXPECT_EQ(model->queue_depth->Value(), 0);
  EXPECT_EQ(MetricValue(metrics, "gcnserve_batch_size", {{"model", "model3"}}),
            0);  // never run
}

TEST_F(ServerTest, TwoHundredConcurrentRequestsAreAllAnsweredInBatches) {
  ServerOptions options = Options();
  options.max_queue_delay_us = 1'000'000;  // batches close when full
  Start(options);
  std::vector<std::string> images;
  for (const fs::path& path : RunningServer::Samples()) {
    images.push_back(RunningServer::Read(path));
  }
  constexpr int kRequests = 200;
  std::vector<v1::ClassifyRequest> requests(kRequests);
  std::vector<v1::ClassifyResponse> responses(kRequests);
  Answers answers;
  for (int i = 0; i < kRequests; ++i) {
    requests[i] = Request(images[i % images.size()]);
    requests[i].set_request_id(std::to_string(i));
    client_->ClassifyAsync(requests[i], &responses[i],
                           [&answers](grpc::Status s) { answers.Add(s); });
  }
  std::vector<grpc::Status> statuses = answers.WaitAll(kRequests);
  ASSERT_EQ(statuses.size(), static_cast<size_t>(kRequests));
  int largest_batch = 0;
  for (const grpc::Status& s : statuses) EXPECT_TRUE(s.ok()) << s.error_message();
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(responses[i].request_id(), std::to_string(i));
    largest_batch = std::max(largest_batch, responses[i].timing().batch_size());
  }
  EXPECT_GT(largest_batch, 1);
  Metrics& metrics = server_->metrics();
  EXPECT_EQ(MetricValue(metrics, "gcnserve_requests_total",
                        {{"model", "model3"}, {"code", "OK"}}),
            kRequests);
  // Fewer batches than requests: the batcher grouped them.
  EXPECT_LT(MetricValue(metrics, "gcnserve_batch_size", {{"model", "model3"}}),
            kRequests);
}

TEST_F(ServerTest, DrainFlipsHealthFinishesQueuedWorkAndRefusesNewWork) {
  ServerOptions options = Options();
  options.max_queue_delay_us = 10'000'000;
  Start(options);
  v1::ClassifyRequest request = Request(SampleImage());
  v1::ClassifyResponse queued_response;
  Answers answers;
  client_->ClassifyAsync(request, &queued_response,
                         [&answers](grpc::Status s) { answers.Add(s); });
  Metrics::Model* metrics = server_->metrics().ForModel("model3");
  ASSERT_TRUE(WaitFor([&] { return metrics->queue_depth->Value() == 1; }));
  EXPECT_EQ(Health(""), HealthResponse::SERVING);

  server_->BeginDrain();
  EXPECT_EQ(Health(""), HealthResponse::NOT_SERVING);
  EXPECT_EQ(Health("gcnserve.v1.Classifier"), HealthResponse::NOT_SERVING);
  std::vector<grpc::Status> done = answers.WaitAll(1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ok()) << done[0].error_message();
  EXPECT_EQ(queued_response.classes_size(), 5);
  EXPECT_EQ(Classify(request).error_code(), grpc::StatusCode::UNAVAILABLE);
  server_->Shutdown();
}

TEST_F(ServerTest, ModelErrorFailsTheBatchAndTheServerLivesOn) {
  // A repository with the tiny model and a copy that raises for bright
  // images (tests/integration/make_faulty_model.py).
  ServerOptions options = Options();
  options.model_repository = GCNSERVE_TEST_FAULTY_REPOSITORY;
  options.default_model = "faulty";
  Start(options);
  cv::Mat white(28, 28, CV_8UC1, cv::Scalar(255));
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", white, png));
  grpc::Status status =
      Classify(Request(std::string(png.begin(), png.end())));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(status.error_message(), HasSubstr("refuses bright images"));
  cv::Mat gray(28, 28, CV_8UC1, cv::Scalar(100));
  ASSERT_TRUE(cv::imencode(".png", gray, png));
  grpc::Status next = Classify(Request(std::string(png.begin(), png.end())));
  EXPECT_TRUE(next.ok()) << next.error_message();
}

TEST_F(ServerTest, BrokenModelFilesAreSkippedAndCounted) {
  fs::path repository = fs::path(testing::TempDir()) /
                        ("mixed_repository_" + std::to_string(getpid()));
  fs::remove_all(repository);
  fs::create_directories(repository / "good" / "1");
  fs::create_directories(repository / "garbage" / "1");
  fs::copy_file(fs::path(kRepository) / "model3" / "1" / "model.pt",
                repository / "good" / "1" / "model.pt");
  std::ofstream(repository / "garbage" / "1" / "model.pt") << "not a model";
  ServerOptions options = Options();
  options.model_repository = repository.string();
  Start(options);
  v1::ListModelsResponse models;
  ASSERT_TRUE(client_->ListModels(&models).ok());
  ASSERT_EQ(models.models_size(), 2);
  const v1::ModelVersion& garbage = models.models(0);  // sorted by name
  EXPECT_EQ(garbage.name(), "garbage");
  EXPECT_EQ(garbage.state(), v1::MODEL_STATE_FAILED);
  EXPECT_THAT(garbage.state_reason(), HasSubstr("not a loadable TorchScript"));
  const v1::ModelVersion& good = models.models(1);
  EXPECT_EQ(good.name(), "good");
  EXPECT_EQ(good.state(), v1::MODEL_STATE_READY);
  EXPECT_EQ(good.labels_size(), 10);
  EXPECT_EQ(good.num_points(), 8);
  EXPECT_EQ(good.architecture(), "model3");
  EXPECT_EQ(good.max_batch_size(), 8);
  EXPECT_GE(good.instances(), 1);
  EXPECT_THAT(good.execution(), HasSubstr("max batch 8 as configured"));
  EXPECT_THAT(good.execution(), HasSubstr("over one copy of the weights"));
  EXPECT_EQ(models.default_model(), "good");
  v1::ClassifyRequest request = Request(SampleImage());
  request.set_model("garbage");
  EXPECT_EQ(Classify(request).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(MetricValue(server_->metrics(),
                        "gcnserve_model_load_failures_total",
                        {{"model", "garbage"}}),
            1);
  server_->Shutdown();  // idempotent: the fixture's teardown does it again
  fs::remove_all(repository);
}

TEST_F(ServerTest, EmptyRepositoryStopsTheStart) {
  fs::path repository = fs::path(testing::TempDir()) /
                        ("empty_repository_" + std::to_string(getpid()));
  fs::create_directories(repository);
  ServerOptions options = Options();
  options.model_repository = repository.string();
  auto server = Server::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  fs::remove_all(repository);
}

TEST_F(ServerTest, MetricsEndpointShowsTraffic) {
  Start(Options());
  ASSERT_TRUE(Classify(Request(SampleImage())).ok());
  std::string page = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(page, HasSubstr("200 OK"));
  EXPECT_THAT(page,
              HasSubstr("gcnserve_requests_total{code=\"OK\",model=\"model3\","
                        "protocol=\"grpc\"} 1"));
  for (const char* line :
       {"gcnserve_stage_duration_seconds_count{model=\"model3\",stage=\"queue\"} 1",
        "gcnserve_stage_duration_seconds_count{model=\"model3\",stage=\"preprocess\"} 1",
        "gcnserve_stage_duration_seconds_count{model=\"model3\",stage=\"inference\"} 1",
        "gcnserve_stage_duration_seconds_count{model=\"model3\",stage=\"postprocess\"} 1",
        "gcnserve_batch_size_count{model=\"model3\"} 1",
        "gcnserve_request_duration_seconds_count{model=\"model3\"} 1",
        "gcnserve_queue_depth{model=\"model3\"} 0",
        "gcnserve_queue_capacity{model=\"model3\"} 512",
        "gcnserve_model_ready{model=\"model3\",version=\"1\"} 1",
        "gcnserve_inflight_requests 0", "gcnserve_build_info{"}) {
    EXPECT_THAT(page, HasSubstr(line));
  }
  EXPECT_THAT(HttpGet(server_->metrics_port(), "/other"), HasSubstr("404"));
}

}  // namespace
}  // namespace gcnserve
