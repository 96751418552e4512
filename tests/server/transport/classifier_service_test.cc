// ClassifierService's request path with a fake model: what is refused
// before decoding, and what is never decoded.
#include "server/transport/classifier_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "server/decode/decode_budget.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

// Answers every image with the same two probabilities.
class FakeRunner : public ModelRunner {
 public:
  absl::StatusOr<ModelOutput> Run(const float*, int batch) override {
    ModelOutput out;
    out.batch = batch;
    out.classes = 2;
    for (int i = 0; i < batch; ++i) out.probabilities.insert(out.probabilities.end(), {0.25f, 0.75f});
    return out;
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

class ClassifierServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repository_ = std::filesystem::temp_directory_path() /
                  ("classifier_service_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(repository_ / "model3" / "1");
    std::ofstream(repository_ / "model3" / "1" / "model.pt") << "fake";
  }
  void TearDown() override {
    service_.reset();
    pool_.reset();
    models_.reset();
    std::filesystem::remove_all(repository_);
  }

  void Start(int64_t max_decode_bytes, int64_t in_flight_bytes) {
    ModelManager::Options options;
    options.repository = repository_.string();
    options.max_decode_bytes = max_decode_bytes;
    models_ = std::make_unique<ModelManager>(
        options,
        [](const std::string&, const ModelConfig&) -> absl::StatusOr<LoadedModel> {
          LoadedModel loaded;
          loaded.metadata = FakeMetadata();
          loaded.runners.push_back(std::make_unique<FakeRunner>());
          return loaded;
        },
        &metrics_, Clock::Real(), [](const std::string&, bool) {});
    ASSERT_TRUE(models_->Reconcile().ok());
    pool_ = std::make_unique<ThreadPool>(1, 16);
    budget_ = std::make_unique<DecodeBudget>(in_flight_bytes);
    service_ = std::make_unique<ClassifierService>(
        models_.get(), pool_.get(), &metrics_, Clock::Real(), budget_.get());
  }

  absl::Status Classify(const std::string& image, CallContext context = {}) {
    v1::ClassifyRequest request;
    request.set_image(image);
    v1::ClassifyResponse response;
    std::promise<absl::Status> answered;
    service_->Submit(context, &request, &response, nullptr,
                     [&](const absl::Status& s) { answered.set_value(s); });
    return answered.get_future().get();
  }

  uint64_t Decodes() {
    return metrics_.ForModel("model3")->preprocess->Collect().histogram.sample_count;
  }

  std::filesystem::path repository_;
  Metrics metrics_{"test", "none", "cpu"};
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DecodeBudget> budget_;
  std::unique_ptr<ClassifierService> service_;
};

TEST_F(ClassifierServiceTest, AnExpiredRequestIsNeverDecoded) {
  Start(1 << 20, 1 << 20);
  ASSERT_TRUE(Classify(GrayPng(28, 28)).ok());
  EXPECT_EQ(Decodes(), 1u);

  CallContext expired;
  expired.deadline = Clock::Real()->Now() - std::chrono::seconds(1);
  absl::Status status = Classify(GrayPng(28, 28), expired);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(), "the deadline passed before the image was decoded");
  EXPECT_EQ(Decodes(), 1u);
  EXPECT_EQ(budget_->in_flight(), 0);
}

TEST_F(ClassifierServiceTest, ACancelledRequestIsNeverDecoded) {
  Start(1 << 20, 1 << 20);
  CallContext cancelled;
  cancelled.is_cancelled = [] { return true; };
  absl::Status status = Classify(GrayPng(28, 28), cancelled);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(status.message(), "the client cancelled before the image was decoded");
  EXPECT_EQ(Decodes(), 0u);
  EXPECT_EQ(budget_->in_flight(), 0);
}

TEST_F(ClassifierServiceTest, AnImageOverThePerImageBudgetIsInvalid) {
  Start(/*max_decode_bytes=*/40 * 40 - 1, 1 << 20);
  absl::Status status = Classify(GrayPng(40, 40));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("takes 1600 bytes"));
  EXPECT_EQ(Decodes(), 0u);
  EXPECT_TRUE(Classify(GrayPng(39, 40)).ok());
}

TEST_F(ClassifierServiceTest, PastTheInFlightBudgetRequestsAreRefusedAtOnce) {
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

}  // namespace
}  // namespace gcnserve
