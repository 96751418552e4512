#include "server/batching/batcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <thread>
#include <mutex>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/base/call_context.h"
#include "server/runner/model_runner.h"
#include "tests/server/fake_clock.h"

namespace gcnserve {
namespace {

using std::chrono::microseconds;

// Records what the batcher did: each processed batch's task ids, and each
// dropped task's status.
// Batcher::Create for options the test knows are valid.
template <typename... Args>
std::unique_ptr<Batcher> MakeBatcher(Args&&... args) {
  absl::StatusOr<std::unique_ptr<Batcher>> batcher =
      Batcher::Create(std::forward<Args>(args)...);
  EXPECT_TRUE(batcher.ok()) << batcher.status();
  return batcher.ok() ? *std::move(batcher) : nullptr;
}

struct Recorder {
  std::mutex mu;  // batch threads record concurrently
  std::vector<std::vector<int>> batches;
  std::map<int, absl::StatusCode> failed;
};

class BatcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<Batcher> Make(int max_batch, int delay_us, int max_queue) {
    Batcher::Options options;
    options.max_batch_size = max_batch;
    options.max_queue_delay = microseconds(delay_us);
    options.max_queue_size = max_queue;
    return MakeBatcher(
        options,
        [this](Batch batch, int /*instance*/) {
          std::vector<int> ids;
          for (auto& task : batch) ids.push_back(static_cast<int>(task->input[0]));
          std::lock_guard<std::mutex> lock(recorder_.mu);
          recorder_.batches.push_back(ids);
        },
        &clock_);
  }

  std::unique_ptr<BatchTask> Task(int id) {
    auto task = std::make_unique<BatchTask>();
    task->input = {static_cast<float>(id)};
    task->fail = [this, id](absl::Status s) {
      std::lock_guard<std::mutex> lock(recorder_.mu);
      recorder_.failed[id] = s.code();
    };
    return task;
  }

  absl::Status Add(Batcher& batcher, std::unique_ptr<BatchTask> task) {
    return batcher.Enqueue(task);
  }

  FakeClock clock_;
  Recorder recorder_;
};

TEST_F(BatcherTest, FullBatchRunsWithoutWaiting) {
  auto batcher = Make(/*max_batch=*/4, /*delay_us=*/1000, /*max_queue=*/100);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Add(*batcher, Task(i)).ok());
  EXPECT_EQ(batcher->RunOnce(), 4);
  ASSERT_EQ(recorder_.batches.size(), 1u);
  EXPECT_EQ(recorder_.batches[0], (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(batcher->queue_depth(), 1);
  EXPECT_EQ(batcher->RunOnce(), 0);  // one task, not yet waited long enough
}

TEST_F(BatcherTest, PartialBatchRunsWhenOldestWaitedMaxDelay) {
  auto batcher = Make(8, 1000, 100);
  ASSERT_TRUE(Add(*batcher, Task(0)).ok());
  clock_.Advance(microseconds(400));
  ASSERT_TRUE(Add(*batcher, Task(1)).ok());
  clock_.Advance(microseconds(599));
  EXPECT_EQ(batcher->RunOnce(), 0);
  clock_.Advance(microseconds(1));  // the oldest has now waited 1000 us
  EXPECT_EQ(batcher->RunOnce(), 2);
  ASSERT_EQ(recorder_.batches.size(), 1u);
  EXPECT_EQ(recorder_.batches[0], (std::vector<int>{0, 1}));
}

TEST_F(BatcherTest, ZeroDelayRunsAtOnce) {
  auto batcher = Make(8, 0, 100);
  ASSERT_TRUE(Add(*batcher, Task(0)).ok());
  EXPECT_EQ(batcher->RunOnce(), 1);
}

TEST_F(BatcherTest, ByDefaultAnIdleModelNeverWaits) {
  Batcher::Options options;  // the defaults, as the server ships them
  options.max_batch_size = 4;
  std::unique_ptr<Batcher> made = MakeBatcher(
      options,
      [this](Batch batch, int) {
        std::lock_guard<std::mutex> lock(recorder_.mu);
        recorder_.batches.emplace_back();
        for (auto& task : batch) {
          recorder_.batches.back().push_back(static_cast<int>(task->input[0]));
        }
      },
      &clock_);
  Batcher& batcher = *made;
  ASSERT_TRUE(Add(batcher, Task(0)).ok());
  // The clock does not move: a lone request runs at once, not after a delay.
  EXPECT_EQ(batcher.RunOnce(), 1);
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(Add(batcher, Task(i)).ok());
  // What gathered meanwhile goes at once too, up to the batch limit.
  EXPECT_EQ(batcher.RunOnce(), 4);
  EXPECT_EQ(batcher.RunOnce(), 2);
  EXPECT_EQ(recorder_.batches, (std::vector<std::vector<int>>{
                                   {0}, {1, 2, 3, 4}, {5, 6}}));
}

TEST_F(BatcherTest, RequestsArrivingWhileABatchRunsFormTheNextBatch) {
  Batcher::Options options;
  options.max_batch_size = 8;
  std::unique_ptr<Batcher> batcher;
  int arrivals = 0;
  batcher = MakeBatcher(
      options,
      [&](Batch batch, int) {
        std::vector<int> ids;
        for (auto& task : batch) ids.push_back(static_cast<int>(task->input[0]));
        recorder_.batches.push_back(ids);
        // Five requests come in while the model runs the first batch.
        while (arrivals < 5) ASSERT_TRUE(Add(*batcher, Task(++arrivals)).ok());
      },
      &clock_);
  ASSERT_TRUE(Add(*batcher, Task(0)).ok());
  EXPECT_EQ(batcher->RunOnce(), 1);
  EXPECT_EQ(batcher->RunOnce(), 5);  // no wait: the model was free again
  EXPECT_EQ(recorder_.batches,
            (std::vector<std::vector<int>>{{0}, {1, 2, 3, 4, 5}}));
}

TEST_F(BatcherTest, FullQueueRefusesAtOnceAndKeepsTheTask) {
  auto batcher = Make(8, 1000, 2);
  ASSERT_TRUE(Add(*batcher, Task(0)).ok());
  ASSERT_TRUE(Add(*batcher, Task(1)).ok());
  std::unique_ptr<BatchTask> third = Task(2);
  absl::Status status = batcher->Enqueue(third);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(third, nullptr);  // returned to the caller, not lost
  EXPECT_EQ(batcher->queue_depth(), 2);
}

TEST_F(BatcherTest, ExpiredTasksAreFailedNotRun) {
  auto batcher = Make(4, 1000, 100);
  auto expired = Task(0);
  expired->deadline = clock_.Now() + microseconds(500);
  ASSERT_TRUE(Add(*batcher, std::move(expired)).ok());
  ASSERT_TRUE(Add(*batcher, Task(1)).ok());
  clock_.Advance(microseconds(1000));
  EXPECT_EQ(batcher->RunOnce(), 2);
  ASSERT_EQ(recorder_.batches.size(), 1u);
  EXPECT_EQ(recorder_.batches[0], (std::vector<int>{1}));
  EXPECT_EQ(recorder_.failed.at(0), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(BatcherTest, TaskFailsAsSoonAsItsDeadlinePassesEvenWhileTheBatchWaits) {
  auto batcher = Make(8, 1000, 100);
  auto expiring = Task(0);
  expiring->deadline = clock_.Now() + microseconds(300);
  ASSERT_TRUE(Add(*batcher, std::move(expiring)).ok());
  ASSERT_TRUE(Add(*batcher, Task(1)).ok());
  clock_.Advance(microseconds(299));
  EXPECT_EQ(batcher->RunOnce(), 0);
  clock_.Advance(microseconds(1));
  EXPECT_EQ(batcher->RunOnce(), 1);  // the expired one; the batch still waits
  EXPECT_EQ(recorder_.failed.at(0), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(recorder_.batches.empty());
  EXPECT_EQ(batcher->queue_depth(), 1);
}

TEST_F(BatcherTest, CancelledTasksAreFailedNotRun) {
  auto batcher = Make(2, 1000, 100);
  auto cancelled = Task(0);
  cancelled->is_cancelled = [] { return true; };
  ASSERT_TRUE(Add(*batcher, std::move(cancelled)).ok());
  ASSERT_TRUE(Add(*batcher, Task(1)).ok());
  ASSERT_TRUE(Add(*batcher, Task(2)).ok());
  // The dropped task frees its place: the batch fills from the queue.
  EXPECT_EQ(batcher->RunOnce(), 3);
  ASSERT_EQ(recorder_.batches.size(), 1u);
  EXPECT_EQ(recorder_.batches[0], (std::vector<int>{1, 2}));
  EXPECT_EQ(recorder_.failed.at(0), absl::StatusCode::kCancelled);
}

// A client whose own deadline passed cancels the call a network latency
// before the server's copy of the deadline passes: counted as the deadline,
// not as a cancel. An earlier cancel stays a cancel.
TEST_F(BatcherTest, ACancelJustBeforeTheDeadlineCountsAsTheDeadline) {
  auto batcher = Make(4, 1000, 100);
  auto timed_out = Task(0);
  timed_out->deadline = clock_.Now() + kDeadlineCancelSlack;
  timed_out->is_cancelled = [] { return true; };
  auto cancelled = Task(1);
  cancelled->deadline = clock_.Now() + kDeadlineCancelSlack + microseconds(1);
  cancelled->is_cancelled = [] { return true; };
  ASSERT_TRUE(Add(*batcher, std::move(timed_out)).ok());
  ASSERT_TRUE(Add(*batcher, std::move(cancelled)).ok());
  EXPECT_EQ(batcher->RunOnce(), 2);  // both dropped at the first wake-up
  EXPECT_TRUE(recorder_.batches.empty());
  EXPECT_EQ(recorder_.failed.at(0), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(recorder_.failed.at(1), absl::StatusCode::kCancelled);
}

TEST_F(BatcherTest, BatchesKeepQueueOrder) {
  auto batcher = Make(3, 0, 100);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(Add(*batcher, Task(i)).ok());
  while (batcher->RunOnce() > 0) {
  }
  EXPECT_EQ(recorder_.batches, (std::vector<std::vector<int>>{
                                   {0, 1, 2}, {3, 4, 5}, {6}}));
}

TEST_F(BatcherTest, FlushClosesBatchesWithoutWaiting) {
  auto batcher = Make(8, 1000000, 100);
  ASSERT_TRUE(Add(*batcher, Task(0)).ok());
  EXPECT_EQ(batcher->RunOnce(), 0);
  batcher->Flush();
  EXPECT_EQ(batcher->RunOnce(), 1);
  ASSERT_TRUE(Add(*batcher, Task(1)).ok());  // still accepting
  EXPECT_EQ(batcher->RunOnce(), 1);
}

TEST_F(BatcherTest, StopWithDrainRunsEveryQueuedTaskOnTheThread) {
  auto batcher = Make(4, 1000000, 100);  // batches would wait 1 s to fill
  batcher->Start();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(Add(*batcher, Task(i)).ok());
  batcher->Stop(/*drain=*/true);  // joins the thread
  int processed = 0;
  for (const auto& batch : recorder_.batches) processed += batch.size();
  EXPECT_EQ(processed, 6);
  EXPECT_TRUE(recorder_.failed.empty());
  EXPECT_EQ(Add(*batcher, Task(9)).code(), absl::StatusCode::kUnavailable);
}

TEST_F(BatcherTest, SeveralThreadsShareOneQueueAndLoseNothing) {
  auto batcher = Make(4, 1000000, 1000);
  batcher->Start(/*threads=*/3);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(Add(*batcher, Task(i)).ok());
  batcher->Stop(/*drain=*/true);
  std::vector<int> seen;
  for (const auto& batch : recorder_.batches) {
    EXPECT_LE(batch.size(), 4u);
    seen.insert(seen.end(), batch.begin(), batch.end());
  }
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(seen[i], i);
}

// A light load stays on one instance: a task wakes the thread that went idle
// last, not the one that has waited longest (which made the instances take
// turns, each with cold caches).
TEST(BatcherWakeTest, ALightLoadKeepsToTheThreadThatWentIdleLast) {
  std::mutex mu;
  std::vector<int> instances;  // the instance of each batch, in order
  FakeClock clock;
  std::unique_ptr<Batcher> made = MakeBatcher(
      Batcher::Options{},
      [&](Batch batch, int instance) {
        std::lock_guard<std::mutex> lock(mu);
        instances.push_back(instance);
        for (auto& task : batch) task->complete({}, 0, {});
      },
      &clock);
  Batcher& batcher = *made;
  batcher.Start(/*threads=*/3);
  auto processed = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return instances.size();
  };
  for (size_t i = 0; i < 20; ++i) {
    // Every thread waiting, the last one to finish on top.
    while (batcher.idle_threads() < 3) std::this_thread::yield();
    auto task = std::make_unique<BatchTask>();
    task->complete = [](const ModelOutput&, int, const BatchInfo&) {};
    task->fail = [](absl::Status) {};
    ASSERT_TRUE(batcher.Enqueue(task).ok());
    while (processed() < i + 1) std::this_thread::yield();
  }
  batcher.Stop(/*drain=*/true);
  ASSERT_EQ(instances.size(), 20u);
  for (int instance : instances) EXPECT_EQ(instance, instances.front());
}

// Spinning, with a spin far longer than any test: each test fails by
// hanging if a thread spins where it should sleep or ignores Stop().
class BatcherSpinTest : public ::testing::Test {
 protected:
  // `gate(id)` is called by the processor for each task before it runs;
  // tasks carry their id in input[0].
  void Make(int threads, int max_batch, std::function<void(int id)> gate) {
    Batcher::Options options;
    options.max_batch_size = max_batch;
    options.idle_spin = std::chrono::hours(1);
    batcher_ = MakeBatcher(
        options,
        [this, gate](Batch batch, int instance) {
          for (auto& task : batch) {
            int id = static_cast<int>(task->input[0]);
            if (gate) gate(id);
            std::lock_guard<std::mutex> lock(mu_);
            instance_of_[id] = instance;
          }
        },
        &clock_);
    batcher_->Start(threads);
    // No thread spins before it has run anything.
    while (batcher_->idle_threads() < threads) std::this_thread::yield();
    EXPECT_EQ(batcher_->spinning_threads(), 0);
  }
  void Add(int id) {
    auto task = std::make_unique<BatchTask>();
    task->input = {static_cast<float>(id)};
    task->fail = [](absl::Status) {};
    ASSERT_TRUE(batcher_->Enqueue(task).ok());
  }
  size_t Processed() {
    std::lock_guard<std::mutex> lock(mu_);
    return instance_of_.size();
  }
  void WaitUntilProcessed(size_t n) {
    while (Processed() < n) std::this_thread::yield();
  }
  // Waits until `threads` threads are asleep or spinning.
  void WaitUntilWaiting(int threads) {
    while (batcher_->idle_threads() + batcher_->spinning_threads() < threads) {
      std::this_thread::yield();
    }
  }

  FakeClock clock_;
  std::mutex mu_;
  std::map<int, int> instance_of_;  // task id -> instance that ran it
  std::unique_ptr<Batcher> batcher_;
};

TEST_F(BatcherSpinTest, AThreadThatRanOutOfWorkSpinsAndTakesTheNextTaskAwake) {
  Make(/*threads=*/2, /*max_batch=*/16, nullptr);
  Add(0);
  WaitUntilProcessed(1);
  for (int id = 1; id <= 4; ++id) {
    WaitUntilWaiting(2);
    EXPECT_EQ(batcher_->spinning_threads(), 1);
    EXPECT_EQ(batcher_->idle_threads(), 1);
    Add(id);
    // The spinning thread takes it: the sleeping one is not woken.
    EXPECT_EQ(batcher_->idle_threads(), 1);
    WaitUntilProcessed(id + 1);
  }
  for (int id = 1; id <= 4; ++id) EXPECT_EQ(instance_of_[id], instance_of_[0]);
  batcher_->Stop(/*drain=*/true);  // ends the hour-long spin
  EXPECT_EQ(batcher_->spinning_threads(), 0);
}

TEST_F(BatcherSpinTest, NoThreadSpinsWhileAnotherInstanceIsBusy) {
  std::atomic<bool> release[2] = {false, false};
  std::atomic<int> running{0};
  Make(/*threads=*/2, /*max_batch=*/16, [&](int id) {
    ++running;
    while (!release[id].load()) std::this_thread::yield();
  });
  Add(0);
  while (running.load() < 1) std::this_thread::yield();
  Add(1);  // the other thread is woken for it
  while (running.load() < 2) std::this_thread::yield();
  release[0] = true;
  WaitUntilWaiting(1);
  // Task 1's instance is busy: task 0's sleeps instead of spinning.
  EXPECT_EQ(batcher_->spinning_threads(), 0);
  EXPECT_EQ(batcher_->idle_threads(), 1);
  release[1] = true;
  WaitUntilWaiting(2);
  // Now the whole model is idle: the last to finish spins.
  EXPECT_EQ(batcher_->spinning_threads(), 1);
  EXPECT_NE(instance_of_[0], instance_of_[1]);
  batcher_->Stop(/*drain=*/true);
}

TEST_F(BatcherSpinTest, MoreThanABatchWakesASleepingThreadBesideTheSpinningOne) {
  std::atomic<bool> release{false};
  Make(/*threads=*/2, /*max_batch=*/2, [&](int id) {
    if (id >= 1) {
      while (!release.load()) std::this_thread::yield();
    }
  });
  Add(0);
  WaitUntilProcessed(1);
  WaitUntilWaiting(2);
  ASSERT_EQ(batcher_->spinning_threads(), 1);
  // Three tasks at once, more than one batch: the sleeping thread is woken
  // for them, whatever the spinning one has taken meanwhile.
  Add(1);
  Add(2);
  Add(3);
  EXPECT_EQ(batcher_->idle_threads(), 0);
  release = true;
  WaitUntilProcessed(4);
  batcher_->Stop(/*drain=*/true);
}

TEST_F(BatcherSpinTest, SeveralSpinningThreadsLoseNothing) {
  Make(/*threads=*/3, /*max_batch=*/4, nullptr);
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 10; ++i) Add(round * 10 + i);
    WaitUntilProcessed((round + 1) * 10);
  }
  batcher_->Stop(/*drain=*/true);
  EXPECT_EQ(Processed(), 200u);
}

TEST_F(BatcherTest, DepthReportsKeepTheOrderOfTheChanges) {
  Batcher::Options options;
  options.max_batch_size = 4;
  options.max_queue_delay = microseconds(1000000);
  options.max_queue_size = 1000;
  std::atomic<int> last_report{-1};
  std::unique_ptr<Batcher> made = MakeBatcher(
      options, [](Batch, int) {}, &clock_,
      [&last_report](int depth) { last_report = depth; });
  Batcher& batcher = *made;
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto task = Task(t * 100 + i);
        ASSERT_TRUE(batcher.Enqueue(task).ok());
      }
    });
  }
  for (auto& producer : producers) producer.join();
  // The last report is the true depth, whatever the interleaving.
  EXPECT_EQ(last_report, 200);
  EXPECT_EQ(batcher.RunOnce(), 4);
  EXPECT_EQ(last_report, 196);
  batcher.Stop(/*drain=*/false);
  EXPECT_EQ(last_report, 0);
}

TEST_F(BatcherTest, StopWithoutDrainFailsQueuedTasksUnavailable) {
  auto batcher = Make(4, 1000000, 100);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Add(*batcher, Task(i)).ok());
  batcher->Stop(/*drain=*/false);
  EXPECT_TRUE(recorder_.batches.empty());
  ASSERT_EQ(recorder_.failed.size(), 3u);
  for (const auto& [id, code] : recorder_.failed) {
    EXPECT_EQ(code, absl::StatusCode::kUnavailable);
  }
}

}  // namespace
}  // namespace gcnserve

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

TEST(BatcherCreateTest, RefusesOptionsOutOfRangeNamingTheField) {
  FakeClock clock;
  auto refused = [&](Batcher::Options options) {
    auto batcher = Batcher::Create(options, [](Batch, int) {}, &clock);
    EXPECT_FALSE(batcher.ok());
    return batcher.ok() ? std::string() : std::string(batcher.status().message());
  };
  Batcher::Options options;
  options.max_batch_size = 0;
  EXPECT_THAT(refused(options), HasSubstr("max_batch_size"));
  options = {};
  options.max_queue_size = 0;
  EXPECT_THAT(refused(options), HasSubstr("max_queue_size"));
  options = {};
  options.max_queue_delay = std::chrono::microseconds(-1);
  EXPECT_THAT(refused(options), HasSubstr("max_queue_delay_us"));
  options = {};
  options.idle_spin = std::chrono::microseconds(-5);
  EXPECT_THAT(refused(options), HasSubstr("batch_idle_spin_us"));
  EXPECT_FALSE(Batcher::Create({}, nullptr, &clock).ok());
  EXPECT_TRUE(Batcher::Create({}, [](Batch, int) {}, &clock).ok());
}

// The threads wait on the batcher's clock: a partial batch on a thread
// runs when the test's clock passes its delay, whatever real time passes.
TEST(BatcherClockTest, ABatchThreadWaitsOnTheBatchersClock) {
  FakeClock clock;
  Batcher::Options options;
  options.max_batch_size = 4;
  options.max_queue_delay = std::chrono::hours(1);
  std::atomic<int> ran{0};
  auto batcher = Batcher::Create(
      options, [&](Batch batch, int) { ran += static_cast<int>(batch.size()); },
      &clock);
  ASSERT_TRUE(batcher.ok());
  (*batcher)->Start(1);
  auto task = std::make_unique<BatchTask>();
  task->input = {0};
  task->fail = [](absl::Status) {};
  ASSERT_TRUE((*batcher)->Enqueue(task).ok());
  EXPECT_EQ(ran.load(), 0);  // an hour to wait on this clock
  clock.Advance(std::chrono::hours(1));
  while (ran.load() == 0) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 1);
}

// A spin ends when the batcher's clock passes idle_spin.
TEST(BatcherClockTest, TheSpinEndsOnTheBatchersClock) {
  FakeClock clock;
  Batcher::Options options;
  options.idle_spin = std::chrono::hours(1);
  auto batcher = Batcher::Create(options, [](Batch, int) {}, &clock);
  ASSERT_TRUE(batcher.ok());
  (*batcher)->Start(1);
  while ((*batcher)->idle_threads() < 1) std::this_thread::yield();
  auto task = std::make_unique<BatchTask>();
  task->input = {0};
  task->fail = [](absl::Status) {};
  ASSERT_TRUE((*batcher)->Enqueue(task).ok());
  // After its work the thread spins (the clock does not move) ...
  while ((*batcher)->spinning_threads() < 1) std::this_thread::yield();
  // ... until the clock passes the spin: then it sleeps.
  clock.Advance(std::chrono::hours(2));
  while ((*batcher)->idle_threads() < 1) std::this_thread::yield();
  EXPECT_EQ((*batcher)->spinning_threads(), 0);
}

}  // namespace
}  // namespace gcnserve
