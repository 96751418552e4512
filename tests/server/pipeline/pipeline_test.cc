// The Pipeline with a fake model runner, a fake model finder and a fake
// clock (no repository on disk, no transport): what is refused before
// decoding, what is never decoded, what a cancelled handle does, the drain.
#include "server/pipeline/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/decode/decode_budget.h"
#include "tests/server/fake_clock.h"
#include "tests/support/metric_value.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

// Answers every image with the same two probabilities; with a gate, each
// batch waits until the test opens it.
class FakeRunner : public ModelRunner {
 public:
  explicit FakeRunner(std::shared_future<void> gate = {}) : gate_(gate) {}
  absl::StatusOr<ModelOutput> Run(const float*, int batch) override {
    if (gate_.valid()) gate_.wait();
    ModelOutput out;
    out.batch = batch;
    out.classes = 2;
    for (int i = 0; i < batch; ++i) out.probabilities.insert(out.probabilities.end(), {0.25f, 0.75f});
    return out;
  }

 private:
  std::shared_future<void> gate_;
};

// Finds "model3" version 1 only.
class FakeFinder : public ModelFinder {
 public:
  std::shared_ptr<ServedModel> model;
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(
      const std::string& name, int64_t version) const override {
    if ((name.empty() || name == "model3") && (version == 0 || version == 1)) {
      return model;
    }
    return absl::NotFoundError("no such model");
  }
  std::string MetricLabel(const std::string& requested) const override {
    return requested.empty() || requested == "model3" ? "model3" : "";
  }
};

ModelMetadata FakeMetadata() {
  ModelMetadata meta;
  meta.name = "model3";
  meta.architecture = "resnet";  // no graph
  meta.input.height = 32;
  meta.input.width = 32;
  meta.input.channels = 1;
  meta.input.color = "gray";
  meta.input.mean = {0.5f};
  meta.input.std = {0.25f};
  meta.labels = {"a", "b"};
  return meta;
}

std::string GrayPng(int width, int height) {
  std::vector<uchar> bytes;
  cv::imencode(".png", cv::Mat(height, width, CV_8UC1, cv::Scalar(90)), bytes);
  return std::string(bytes.begin(), bytes.end());
}

class PipelineTest : public ::testing::Test {
 protected:
  void TearDown() override {
    pipeline_.reset();
    if (finder_.model) finder_.model->Stop(/*drain=*/false);
    finder_.model.reset();
    pool_.reset();
  }

  void Start(int64_t max_decode_bytes, int64_t in_flight_bytes,
             std::shared_future<void> gate = {}) {
    ServedModel::Options options;
    options.max_decode_bytes = max_decode_bytes;
    options.batching.max_batch_size = 4;
    std::vector<std::unique_ptr<ModelRunner>> runners;
    runners.push_back(std::make_unique<FakeRunner>(gate));
    auto model = ServedModel::Create("model3", 1, FakeMetadata(),
                                     std::move(runners), options,
                                     metrics_.ForModel("model3"), &clock_);
    ASSERT_TRUE(model.ok()) << model.status();
    finder_.model = *std::move(model);
    finder_.model->Start();
    pool_ = std::make_unique<ThreadPool>(1, 16);
    budget_ = std::make_unique<DecodeBudget>(in_flight_bytes);
    pipeline_ = std::make_unique<Pipeline>(&finder_, pool_.get(), &metrics_,
                                           &clock_, budget_.get());
  }

  absl::Status Classify(const std::string& image, CallContext context = {},
                        const std::string& model = "") {
    v1::ClassifyRequest request;
    request.set_image(image);
    request.set_model(model);
    v1::ClassifyResponse response;
    std::promise<absl::Status> answered;
    pipeline_->Submit(context, &request, &response,
                      [&](const absl::Status& s) { answered.set_value(s); });
    return answered.get_future().get();
  }

  uint64_t Decodes() {
    return metrics_.ForModel("model3")->preprocess->Collect().histogram.sample_count;
  }
  double Counted(const std::string& model, const std::string& code) {
    return MetricValue(metrics_, "gcnserve_requests_total",
                       {{"model", model}, {"code", code}, {"protocol", "grpc"}});
  }

  FakeClock clock_;
  Metrics metrics_{"test", "none", "cpu"};
  FakeFinder finder_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DecodeBudget> budget_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, AnExpiredRequestIsNeverDecoded) {
  Start(1 << 20, 1 << 20);
  ASSERT_TRUE(Classify(GrayPng(28, 28)).ok());
  EXPECT_EQ(Decodes(), 1u);

  CallContext expired;
  expired.deadline = clock_.Now() - std::chrono::seconds(1);
  absl::Status status = Classify(GrayPng(28, 28), expired);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(), "the deadline passed before the image was decoded");
  EXPECT_EQ(Decodes(), 1u);
  EXPECT_EQ(budget_->in_flight(), 0);
}

TEST_F(PipelineTest, ACancelledRequestIsNeverDecoded) {
  Start(1 << 20, 1 << 20);
  CallContext cancelled;
  cancelled.is_cancelled = [] { return true; };
  absl::Status status = Classify(GrayPng(28, 28), cancelled);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(status.message(), "the client cancelled before the image was decoded");
  EXPECT_EQ(Decodes(), 0u);
  EXPECT_EQ(budget_->in_flight(), 0);
}

TEST_F(PipelineTest, AnImageOverThePerImageBudgetIsInvalid) {
  Start(/*max_decode_bytes=*/40 * 40 - 1, 1 << 20);
  absl::Status status = Classify(GrayPng(40, 40));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("takes 1600 bytes"));
  EXPECT_EQ(Decodes(), 0u);
  EXPECT_TRUE(Classify(GrayPng(39, 40)).ok());
}

TEST_F(PipelineTest, PastTheInFlightBudgetRequestsAreRefusedAtOnce) {
  Start(1 << 20, /*in_flight_bytes=*/10'000);
  // Other requests hold all but 1,000 bytes.
  absl::StatusOr<DecodeBudget::Reservation> others = budget_->Reserve(9'000);
  ASSERT_TRUE(others.ok());
  absl::Status status = Classify(GrayPng(32, 32));  // 1,024 bytes
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("hold 9000 of the 10000 bytes"));
  EXPECT_EQ(Decodes(), 0u);
  EXPECT_TRUE(Classify(GrayPng(31, 32)).ok());  // 992 bytes fit
  others->Release();
  EXPECT_TRUE(Classify(GrayPng(32, 32)).ok());
  EXPECT_EQ(budget_->in_flight(), 0);
}

TEST_F(PipelineTest, AnswersWithTheVersionAndCountsUnderItsModel) {
  Start(1 << 20, 1 << 20);
  v1::ClassifyRequest request;
  request.set_image(GrayPng(28, 28));
  request.set_request_id("r-1");
  v1::ClassifyResponse response;
  std::promise<absl::Status> answered;
  pipeline_->Submit({}, &request, &response,
                    [&](const absl::Status& s) { answered.set_value(s); });
  ASSERT_TRUE(answered.get_future().get().ok());
  EXPECT_EQ(response.model(), "model3");
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(response.request_id(), "r-1");
  ASSERT_GE(response.classes_size(), 1);
  EXPECT_EQ(response.classes(0).label(), "b");
  EXPECT_FLOAT_EQ(response.classes(0).probability(), 0.75f);
  EXPECT_EQ(Counted("model3", "OK"), 1);
  // Recorded through the version's own metrics.
  EXPECT_EQ(Decodes(), 1u);
}

TEST_F(PipelineTest, AnUnknownModelIsNotFoundAndCountedWithoutItsName) {
  Start(1 << 20, 1 << 20);
  absl::Status status = Classify(GrayPng(28, 28), {}, "nonesuch");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Counted("", "NOT_FOUND"), 1);
  EXPECT_EQ(Decodes(), 0u);
}

TEST_F(PipelineTest, ARequestForAGivenVersionDoesNotLookItUp) {
  Start(1 << 20, 1 << 20);
  std::shared_ptr<ServedModel> model = finder_.model;
  finder_.model = nullptr;  // a look-up would now fail
  v1::ClassifyRequest request;
  request.set_image(GrayPng(28, 28));
  request.set_model("another name, not read");
  v1::ClassifyResponse response;
  std::promise<absl::Status> answered;
  pipeline_->Submit({}, model, &request, &response,
                    [&](const absl::Status& s) { answered.set_value(s); });
  EXPECT_TRUE(answered.get_future().get().ok());
  EXPECT_EQ(response.model(), "model3");
  finder_.model = model;
}

TEST_F(PipelineTest, ACancelledHandleIsDroppedFromTheBatchQueueUnrun) {
  std::promise<void> open;
  Start(1 << 20, 1 << 20, open.get_future().share());
  // The first request occupies the one batch thread (its runner waits at
  // the gate); the second waits in the queue, and is cancelled there.
  v1::ClassifyRequest first, second;
  first.set_image(GrayPng(28, 28));
  second.set_image(GrayPng(28, 28));
  v1::ClassifyResponse first_response, second_response;
  std::promise<absl::Status> first_done, second_done;
  pipeline_->Submit({}, &first, &first_response,
                    [&](const absl::Status& s) { first_done.set_value(s); });
  Metrics::Model* metrics = finder_.model->metrics();
  while (metrics->queue->Collect().histogram.sample_count < 1) {
    std::this_thread::yield();  // the first has left the queue for the runner
  }
  Pipeline::Handle handle = pipeline_->Submit(
      {}, &second, &second_response,
      [&](const absl::Status& s) { second_done.set_value(s); });
  while (Decodes() < 2) std::this_thread::yield();
  handle.Cancel();
  open.set_value();
  EXPECT_TRUE(first_done.get_future().get().ok());
  EXPECT_EQ(second_done.get_future().get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Counted("model3", "CANCELLED"), 1);
  // One batch ran, of the first alone.
  prometheus::ClientMetric batches = metrics->batch_size->Collect();
  EXPECT_EQ(batches.histogram.sample_count, 1u);
  EXPECT_EQ(batches.histogram.sample_sum, 1.0);
  handle.Cancel();  // answered: nothing happens
}

TEST_F(PipelineTest, DrainingRefusesNewRequestsAndHoldsRefusalsUntilReleased) {
  Start(1 << 20, 1 << 20);
  EXPECT_TRUE(pipeline_->WaitIdle(std::chrono::milliseconds(0)));
  pipeline_->StartDraining();
  EXPECT_TRUE(pipeline_->draining());
  EXPECT_EQ(Classify(GrayPng(28, 28)).code(), absl::StatusCode::kUnavailable);

  pipeline_->HoldNewCalls();
  v1::ClassifyRequest request;
  request.set_image(GrayPng(28, 28));
  v1::ClassifyResponse response;
  bool answered = false;
  pipeline_->Submit({}, &request, &response,
                    [&](const absl::Status& s) { answered = true; });
  EXPECT_FALSE(answered);
  EXPECT_EQ(pipeline_->held(), 1);
  EXPECT_FALSE(pipeline_->WaitIdle(std::chrono::milliseconds(0)));
  pipeline_->ReleaseHeld();
  EXPECT_TRUE(answered);
  EXPECT_EQ(pipeline_->held(), 0);
  EXPECT_TRUE(pipeline_->WaitIdle(std::chrono::milliseconds(0)));
}

// A session registered before the drain is drained; one opened after is
// refused.
TEST_F(PipelineTest, SessionsAreDrainedAndRefusedOnceDraining) {
  Start(1 << 20, 1 << 20);
  struct FakeSession : Pipeline::Session {
    bool end_now = true;
    int drained = 0, ended = 0;
    bool Drain() override {
      ++drained;
      return end_now;
    }
    void EndDrained() override { ++ended; }
  } open;
  ASSERT_TRUE(pipeline_->Open(&open));
  EXPECT_FALSE(pipeline_->WaitIdle(std::chrono::milliseconds(0)));
  pipeline_->StartDraining();
  EXPECT_EQ(open.drained, 1);
  EXPECT_EQ(open.ended, 1);
  pipeline_->Close(&open);
  EXPECT_TRUE(pipeline_->WaitIdle(std::chrono::milliseconds(0)));
  FakeSession late;
  EXPECT_FALSE(pipeline_->Open(&late));
}

}  // namespace
}  // namespace gcnserve
