#include "server/models/model_unloader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/base/clock.h"
#include "server/monitoring/metrics.h"

namespace gcnserve {
namespace {

class NullRunner : public ModelRunner {
 public:
  explicit NullRunner(bool* freed) : freed_(freed) {}
  ~NullRunner() override { *freed_ = true; }
  absl::StatusOr<ModelOutput> Run(const float*, int) override {
    return ModelOutput{};
  }

 private:
  bool* freed_;
};

class ModelUnloaderTest : public ::testing::Test {
 protected:
  std::unique_ptr<ServedModel> Model(bool* freed) {
    ModelMetadata meta;
    meta.input = {4, 4, 1, "gray", {0.5f}, {0.5f}, "area_or_linear"};
    meta.labels = {"a"};
    std::vector<std::unique_ptr<ModelRunner>> runners;
    runners.push_back(std::make_unique<NullRunner>(freed));
    auto model = ServedModel::Create("m", 1, meta, std::move(runners),
                                     ServedModel::Options{},
                                     metrics_.ForModel("m"), Clock::Real());
    EXPECT_TRUE(model.ok()) << model.status();
    (*model)->Start();
    return *std::move(model);
  }

  Metrics metrics_{"test", "none", "cpu"};
};

TEST_F(ModelUnloaderTest, UnloadsOnItsThreadWhenTheLastReferenceGoes) {
  ModelUnloader unloader;
  bool freed = false;
  std::mutex mu;
  std::condition_variable cv;
  bool unloaded = false;
  std::thread::id unloaded_on;
  std::shared_ptr<ServedModel> model =
      unloader.Adopt(Model(&freed), [&] {
        std::lock_guard<std::mutex> lock(mu);
        unloaded = true;
        unloaded_on = std::this_thread::get_id();
        cv.notify_all();
      });
  std::shared_ptr<ServedModel> request = model;
  model.reset();
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(unloaded);  // a request still holds it
  }
  request.reset();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return unloaded; }));
  EXPECT_TRUE(freed);  // freed before `unloaded` runs
  EXPECT_NE(unloaded_on, std::this_thread::get_id());
}

TEST_F(ModelUnloaderTest, AfterCloseTheLastReferenceFreesOnTheSpot) {
  bool freed = false, unloaded = false;
  std::shared_ptr<ServedModel> model;
  {
    ModelUnloader unloader;
    model = unloader.Adopt(Model(&freed), [&] { unloaded = true; });
    model->Stop(/*drain=*/true);
  }
  model.reset();
  EXPECT_TRUE(freed);
  EXPECT_FALSE(unloaded);
}

}  // namespace
}  // namespace gcnserve
