#include "server/batching/batcher.h"

#include <sched.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/call_context.h"

namespace gcnserve {

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::Create(
    const Options& options, Processor processor, Clock* clock,
    DepthListener on_depth) {
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_size must be at least 1, not ", options.max_batch_size));
  }
  if (options.max_queue_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_size must be at least 1, not ", options.max_queue_size));
  }
  if (options.max_queue_delay.count() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_delay_us must be at least 0, not ",
        options.max_queue_delay.count()));
  }
  if (options.idle_spin.count() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch_idle_spin_us must be at least 0, not ", options.idle_spin.count()));
  }
  if (processor == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("a batcher needs a processor and a clock");
  }
  return std::unique_ptr<Batcher>(
      new Batcher(options, std::move(processor), clock, std::move(on_depth)));
}

Batcher::Batcher(const Options& options, Processor processor, Clock* clock,
                 DepthListener on_depth)
    : options_(options),
      processor_(std::move(processor)),
      clock_(clock),
      on_depth_(std::move(on_depth)) {}

Batcher::~Batcher() { Stop(/*drain=*/true); }

absl::Status Batcher::Enqueue(std::unique_ptr<BatchTask>& task) {
  int idle = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queue_size) {
      // UNAVAILABLE, not RESOURCE_EXHAUSTED: an overloaded replica is a
      // transient condition that gRPC retry policies retry, elsewhere.
      return absl::UnavailableError(
          "queue is full: " + std::to_string(options_.max_queue_size) +
          " requests are waiting; retry later");
    }
    task->enqueue_time = clock_->Now();
    queue_.push_back(std::move(task));
    ReportDepthLocked();
    // Wake the thread that went idle last, unless a spinning one will take
    // this task in its batch.
    if (queue_.size() >
        static_cast<size_t>(spinning_) * options_.max_batch_size) {
      idle = TakeLastIdleLocked();
    }
  }
  if (idle >= 0) wake_[idle]->notify_one();
  return absl::OkStatus();
}

namespace {

// OK while the task's caller waits; else why it is dropped. A passed
// deadline also cancels a call: the deadline is named first.
absl::Status GoneStatus(const BatchTask& task, Clock::TimePoint now) {
  switch (CheckCaller(task.deadline, task.is_cancelled, now)) {
    case CallerGone::kNo:
      return absl::OkStatus();
    case CallerGone::kDeadline:
      return absl::DeadlineExceededError(
          "the deadline passed before the request ran");
    case CallerGone::kCancelled:
      break;
  }
  return absl::CancelledError("the client cancelled the request");
}

}  // namespace

Clock::TimePoint Batcher::DueTimeLocked() const {
  if (queue_.empty()) return Clock::TimePoint::max();
  if (flushing_ ||
      static_cast<int>(queue_.size()) >= options_.max_batch_size) {
    return Clock::TimePoint::min();
  }
  return queue_.front()->enqueue_time + options_.max_queue_delay;
}

Batch Batcher::TakeBatchLocked(Clock::TimePoint now, Dropped& dropped) {
  Batch batch;
  while (!queue_.empty() &&
         static_cast<int>(batch.size()) < options_.max_batch_size) {
    std::unique_ptr<BatchTask> task = std::move(queue_.front());
    queue_.pop_front();
    task->dequeue_time = now;
    absl::Status gone = GoneStatus(*task, now);
    if (gone.ok()) {
      batch.push_back(std::move(task));
    } else {
      dropped.emplace_back(std::move(task), std::move(gone));
    }
  }
  return batch;
}

Clock::TimePoint Batcher::NextDeadlineLocked() const {
  Clock::TimePoint next = Clock::TimePoint::max();
  for (const auto& task : queue_) next = std::min(next, task->deadline);
  return next;
}

void Batcher::ExpireLocked(Clock::TimePoint now, Dropped& dropped) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    BatchTask& task = **it;
    absl::Status status = GoneStatus(task, now);
    if (status.ok()) {
      ++it;
      continue;
    }
    task.dequeue_time = now;
    dropped.emplace_back(std::move(*it), status);
    it = queue_.erase(it);
  }
}

int Batcher::TakeLastIdleLocked() {
  if (idle_.empty()) return -1;
  int last = idle_.back();
  idle_.pop_back();
  return last;
}

void Batcher::WakeAll() {
  std::lock_guard<std::mutex> lock(mu_);  // Start writes wake_ under it
  for (auto& wake : wake_) wake->notify_all();
}

void Batcher::Wake() { WakeAll(); }

int Batcher::idle_threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(idle_.size());
}

int Batcher::spinning_threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spinning_;
}

void Batcher::ReportDepthLocked() {
  queued_.store(queue_.size(), std::memory_order_release);
  // Under the lock, so that reports arrive in the order of the changes.
  if (on_depth_) on_depth_(static_cast<int>(queue_.size()));
}

int Batcher::Step(std::unique_lock<std::mutex>& lock, int instance) {
  Clock::TimePoint now = clock_->Now();
  Dropped dropped;
  ExpireLocked(now, dropped);
  Batch batch;
  if (DueTimeLocked() <= now) batch = TakeBatchLocked(now, dropped);
  if (dropped.empty() && batch.empty()) return 0;
  ReportDepthLocked();
  lock.unlock();
  for (auto& [task, status] : dropped) task->fail(status);
  int taken = static_cast<int>(batch.size() + dropped.size());
  if (!batch.empty()) processor_(std::move(batch), instance);
  lock.lock();
  return taken;
}

int Batcher::RunOnce() {
  std::unique_lock<std::mutex> lock(mu_);
  return Step(lock, 0);
}

void Batcher::Start(int threads) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!threads_.empty() || stopping_) return;
  for (int i = 0; i < threads; ++i) {
    wake_.push_back(std::make_unique<std::condition_variable>());
  }
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] { Loop(i); });
  }
}

void Batcher::Spin(std::unique_lock<std::mutex>& lock) {
  ++spinning_;
  lock.unlock();
  // On the batcher's clock: a test's clock ends the spin when it moves.
  const Clock::TimePoint end = clock_->Now() + options_.idle_spin;
  while (queued_.load(std::memory_order_acquire) == 0 &&
         !stop_spinning_.load(std::memory_order_acquire) &&
         clock_->Now() < end) {
    // Gives the core to any runnable thread on it: a spin that held the core
    // slowed the preprocessing of photos (bench/README.md).
    sched_yield();
  }
  lock.lock();
  --spinning_;
}

void Batcher::Loop(int instance) {
  std::unique_lock<std::mutex> lock(mu_);
  bool spun = true;  // one spin per idle spell, after work: none at start
  for (;;) {
    if (stopping_ && queue_.empty()) return;
    if (Step(lock, instance) > 0) {
      spun = false;
      continue;
    }
    // Spin when the whole model has gone idle, one thread at a time.
    if (options_.idle_spin.count() > 0 && !spun && !stopping_ &&
        spinning_ == 0 && idle_.size() + 1 == wake_.size()) {
      spun = true;
      Spin(lock);
      continue;
    }
    // Wake when the front batch is due or a queued deadline passes.
    Clock::TimePoint wake = std::min(DueTimeLocked(), NextDeadlineLocked());
    idle_.push_back(instance);
    if (wake == Clock::TimePoint::max()) {
      wake_[instance]->wait(lock);
    } else {
      clock_->WaitUntil(*wake_[instance], lock, wake);
    }
    // Woken by Enqueue (which took it off idle_), or by a timeout, WakeAll
    // or spuriously (it is still there).
    idle_.erase(std::remove(idle_.begin(), idle_.end(), instance), idle_.end());
  }
}

void Batcher::Flush() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    flushing_ = true;
  }
  WakeAll();
}

void Batcher::Stop(bool drain) {
  Batch refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stop_spinning_.store(true, std::memory_order_release);
    flushing_ = true;
    if (!drain) {
      while (!queue_.empty()) {
        refused.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      ReportDepthLocked();
    }
  }
  WakeAll();
  for (auto& task : refused) {
    task->fail(absl::UnavailableError("server shut down before the request ran"));
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  if (!threads.empty()) {
    for (std::thread& thread : threads) thread.join();
  } else {
    // No thread: flush here so that no task is left without an answer.
    while (RunOnce() > 0) {
    }
  }
}

int Batcher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

}  // namespace gcnserve
