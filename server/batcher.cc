#include "server/batcher.h"

#include <algorithm>
#include <utility>

namespace gcnserve {

Batcher::Batcher(const Options& options, Processor processor, Clock* clock)
    : options_(options), processor_(std::move(processor)), clock_(clock) {}

Batcher::~Batcher() { Stop(/*drain=*/true); }

absl::Status Batcher::Enqueue(std::unique_ptr<BatchTask>& task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queue_size) {
      return absl::ResourceExhaustedError(
          "queue is full: " + std::to_string(options_.max_queue_size) +
          " requests are waiting; retry later");
    }
    task->enqueue_time = clock_->Now();
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return absl::OkStatus();
}

Clock::TimePoint Batcher::DueTimeLocked() const {
  if (queue_.empty()) return Clock::TimePoint::max();
  if (draining_ ||
      static_cast<int>(queue_.size()) >= options_.max_batch_size) {
    return Clock::TimePoint::min();
  }
  return queue_.front()->enqueue_time + options_.max_queue_delay;
}

Batch Batcher::TakeBatchLocked(Clock::TimePoint now, Batch& dropped) {
  Batch batch;
  while (!queue_.empty() &&
         static_cast<int>(batch.size()) < options_.max_batch_size) {
    std::unique_ptr<BatchTask> task = std::move(queue_.front());
    queue_.pop_front();
    task->dequeue_time = now;
    bool cancelled = task->is_cancelled && task->is_cancelled();
    if (cancelled || task->deadline <= now) {
      dropped.push_back(std::move(task));
    } else {
      batch.push_back(std::move(task));
    }
  }
  return batch;
}

int Batcher::ProcessDue(std::unique_lock<std::mutex>& lock) {
  Clock::TimePoint now = clock_->Now();
  if (DueTimeLocked() > now) return 0;
  Batch dropped;
  Batch batch = TakeBatchLocked(now, dropped);
  lock.unlock();
  for (auto& task : dropped) {
    bool cancelled = task->is_cancelled && task->is_cancelled();
    task->fail(cancelled ? absl::CancelledError("the client cancelled the request")
                         : absl::DeadlineExceededError(
                               "the deadline passed before the request ran"));
  }
  int taken = static_cast<int>(batch.size() + dropped.size());
  if (!batch.empty()) processor_(std::move(batch));
  lock.lock();
  return taken;
}

int Batcher::RunOnce() {
  std::unique_lock<std::mutex> lock(mu_);
  return ProcessDue(lock);
}

void Batcher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Batcher::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping_ && queue_.empty()) return;
    Clock::TimePoint due = DueTimeLocked();
    if (due == Clock::TimePoint::max()) {
      cv_.wait(lock);
    } else if (due > clock_->Now()) {
      cv_.wait_for(lock, due - clock_->Now());
    } else {
      ProcessDue(lock);
    }
  }
}

void Batcher::Stop(bool drain) {
  Batch refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    draining_ = true;
    if (!drain) {
      while (!queue_.empty()) {
        refused.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
  }
  cv_.notify_all();
  for (auto& task : refused) {
    task->fail(absl::UnavailableError("server shut down before the request ran"));
  }
  if (thread_.joinable()) {
    thread_.join();
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
