#ifndef GCNSERVE_SERVER_BATCHER_H_
#define GCNSERVE_SERVER_BATCHER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "server/clock.h"

namespace gcnserve {

struct ModelOutput;

// What a batch was, as each of its tasks learns it.
struct BatchInfo {
  int size = 0;                   // tasks that ran together
  Clock::Duration inference{0};   // the forward pass
  Clock::Duration queued{0};      // this task's wait in the queue
};

// One request's work as the batcher sees it: an input and two ways to end.
// Exactly one of `complete` and `fail` is called, exactly once: `fail` by the
// batcher when it drops the task or by the processor when the batch fails,
// `complete` by the processor with the batch's output and the task's row.
struct BatchTask {
  std::vector<float> input;  // one normalized CHW image
  Clock::TimePoint deadline = Clock::TimePoint::max();
  // True once the client has gone; may be empty (never cancelled).
  std::function<bool()> is_cancelled;
  std::function<void(absl::Status)> fail;
  std::function<void(const ModelOutput& output, int row, const BatchInfo& batch)>
      complete;

  // Set by the batcher.
  Clock::TimePoint enqueue_time;
  Clock::TimePoint dequeue_time;
};

using Batch = std::vector<std::unique_ptr<BatchTask>>;

// A dynamic batcher for one model: a bounded FIFO queue of tasks and one
// thread that forms batches from it and hands each to a processor.
//
// A batch closes when it holds `max_batch_size` tasks or when its oldest task
// has waited `max_queue_delay`, whichever comes first; so a task waits at most
// `max_queue_delay` plus the time of the batches ahead of it. Tasks whose
// deadline has passed or whose client cancelled are failed with
// DEADLINE_EXCEEDED or CANCELLED when they reach the front, never processed.
// Batches are processed one at a time, in queue order, outside the lock.
//
// Thread-safe. Without Start() no thread runs and RunOnce() drives the
// batcher, which is how the tests step it with a fake clock.
class Batcher {
 public:
  struct Options {
    int max_batch_size = 8;                           // tasks per batch, >= 1
    std::chrono::microseconds max_queue_delay{2000};  // >= 0
    int max_queue_size = 256;  // queued tasks before Enqueue refuses, >= 1
  };
  // Runs one batch; must complete (or fail) every task in it.
  using Processor = std::function<void(Batch)>;

  Batcher(const Options& options, Processor processor, Clock* clock);
  ~Batcher();  // Stop(true) if still running.

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues a task. RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE
  // after Stop(); the task is then returned unconsumed in `task`.
  absl::Status Enqueue(std::unique_ptr<BatchTask>& task);

  // If a batch is due now, forms and processes it; returns its size before
  // dropping expired and cancelled tasks (0 when none was due).
  int RunOnce();

  // Starts the batch thread.
  void Start();
  // Refuses new tasks; then, with `drain`, processes every queued task
  // without waiting for batches to fill, or, without, fails them UNAVAILABLE.
  // Joins the thread. Idempotent.
  void Stop(bool drain);

  int queue_depth() const;
  const Options& options() const { return options_; }

 private:
  // The time the front batch becomes due; TimePoint::max() when empty.
  Clock::TimePoint DueTimeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes up to max_batch_size live tasks from the front, moving expired and
  // cancelled ones to `dropped`.
  Batch TakeBatchLocked(Clock::TimePoint now, Batch& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int ProcessDue(std::unique_lock<std::mutex>& lock);
  void Loop();

  const Options options_;
  const Processor processor_;
  Clock* const clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<BatchTask>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;  // stopping and flushing
  std::thread thread_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BATCHER_H_
