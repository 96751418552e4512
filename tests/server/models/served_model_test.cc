// ServedModel's threads when they follow the load: a lone batch gets every
// shared core, batches that run at once share them.
#include "server/models/served_model.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/server/fake_clock.h"

namespace gcnserve {
namespace {

// Records the threads it is given before each pass; waits at `gate` when
// it has one.
class ThreadsRunner : public ModelRunner {
 public:
  ThreadsRunner(std::shared_future<void> gate, std::atomic<int>* started)
      : gate_(std::move(gate)), started_(started) {}
  void SetThreads(int threads) override { threads_ = threads; }
  absl::StatusOr<ModelOutput> Run(const float*, int batch) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(threads_);
    }
    ++*started_;
    if (gate_.valid()) gate_.wait();
    ModelOutput out;
    out.batch = batch;
    out.classes = 1;
    out.probabilities.assign(batch, 1.0f);
    return out;
  }
  static std::mutex mu;
  static std::vector<int> seen;

 private:
  std::shared_future<void> gate_;
  std::atomic<int>* started_;
  int threads_ = 0;
};
std::mutex ThreadsRunner::mu;
std::vector<int> ThreadsRunner::seen;

ModelMetadata Metadata() {
  ModelMetadata meta;
  meta.name = "m";
  meta.architecture = "fake";
  meta.input.height = 1;
  meta.input.width = 1;
  meta.input.channels = 1;
  meta.input.color = "gray";
  meta.input.mean = {0};
  meta.input.std = {1};
  meta.labels = {"a"};
  return meta;
}

// Two instances sharing 8 cores, batches of one, each pass held at `gate`
// until `open` is set.
class SharedCoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ThreadsRunner::seen.clear();
    std::vector<std::unique_ptr<ModelRunner>> runners;
    runners.push_back(std::make_unique<ThreadsRunner>(gate, &started));
    runners.push_back(std::make_unique<ThreadsRunner>(gate, &started));
    ServedModel::Options options;
    options.batching.max_batch_size = 1;
    options.shared_cores = 8;
    auto created = ServedModel::Create("m", 1, Metadata(), std::move(runners),
                                       options, metrics.ForModel("m"), &clock);
    ASSERT_TRUE(created.ok()) << created.status();
    model = *std::move(created);
  }

  // One image; `done` counts its answer.
  void Enqueue(std::atomic<int>* done) {
    auto task = std::make_unique<BatchTask>();
    task->input = {0.0f};
    task->fail = [done](absl::Status) { ++*done; };
    task->complete = [done](const ModelOutput&, int, const BatchInfo&) { ++*done; };
    ASSERT_TRUE(model->Enqueue(task).ok());
  }

  FakeClock clock;
  Metrics metrics{"test", "none", "cpu"};
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::atomic<int> started{0};
  std::unique_ptr<ServedModel> model;
};

TEST_F(SharedCoresTest, ALoneBatchGetsEveryCoreAndRunningBatchesShareThem) {
  model->Start();
  std::atomic<int> done{0};
  auto enqueue = [&] { Enqueue(&done); };
  enqueue();
  while (started.load() < 1) std::this_thread::yield();
  enqueue();  // the other instance takes it while the first still runs
  while (started.load() < 2) std::this_thread::yield();
  open.set_value();
  while (done.load() < 2) std::this_thread::yield();
  {
    std::lock_guard<std::mutex> lock(ThreadsRunner::mu);
    EXPECT_EQ(ThreadsRunner::seen, (std::vector<int>{8, 4}));
  }
  enqueue();  // alone again: every core
  while (done.load() < 3) std::this_thread::yield();
  std::lock_guard<std::mutex> lock(ThreadsRunner::mu);
  EXPECT_EQ(ThreadsRunner::seen.back(), 8);
  model->Stop(true);
}

// A batch that leaves work queued shares the cores with the instance that
// work will start on, even before that one runs.
TEST_F(SharedCoresTest, ABatchLeavingWorkQueuedSharesTheCoresAtOnce) {
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i) Enqueue(&done);  // before any batch thread runs
  model->Start();
  while (started.load() < 2) std::this_thread::yield();
  {
    std::lock_guard<std::mutex> lock(ThreadsRunner::mu);
    // The first batch started alone, but with two left in the queue.
    EXPECT_EQ(ThreadsRunner::seen, (std::vector<int>{4, 4}));
  }
  open.set_value();
  while (done.load() < 3) std::this_thread::yield();
  model->Stop(true);
}

TEST(ServedModelTest, WithoutSharedCoresTheRunnersKeepTheirThreads) {
  ThreadsRunner::seen.clear();
  FakeClock clock;
  Metrics metrics{"test", "none", "cpu"};
  std::atomic<int> started{0};
  std::vector<std::unique_ptr<ModelRunner>> runners;
  runners.push_back(std::make_unique<ThreadsRunner>(std::shared_future<void>(), &started));
  auto model = ServedModel::Create("m", 1, Metadata(), std::move(runners), {},
                                   metrics.ForModel("m"), &clock);
  ASSERT_TRUE(model.ok());
  (*model)->Start();
  std::atomic<int> done{0};
  auto task = std::make_unique<BatchTask>();
  task->input = {0.0f};
  task->fail = [&](absl::Status) { ++done; };
  task->complete = [&](const ModelOutput&, int, const BatchInfo&) { ++done; };
  ASSERT_TRUE((*model)->Enqueue(task).ok());
  while (done.load() < 1) std::this_thread::yield();
  std::lock_guard<std::mutex> lock(ThreadsRunner::mu);
  EXPECT_EQ(ThreadsRunner::seen, (std::vector<int>{0}));
  (*model)->Stop(true);
}

TEST(ServedModelTest, CreateRefusesBatchingOutOfRangeAndNoRunner) {
  FakeClock clock;
  Metrics metrics{"test", "none", "cpu"};
  ServedModel::Options options;
  options.batching.max_batch_size = 0;
  std::atomic<int> started{0};
  std::vector<std::unique_ptr<ModelRunner>> runners;
  runners.push_back(std::make_unique<ThreadsRunner>(std::shared_future<void>(), &started));
  EXPECT_EQ(ServedModel::Create("m", 1, Metadata(), std::move(runners), options,
                                metrics.ForModel("m"), &clock)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ServedModel::Create("m", 1, Metadata(), {}, {},
                                   metrics.ForModel("m"), &clock)
                   .ok());
}

}  // namespace
}  // namespace gcnserve
