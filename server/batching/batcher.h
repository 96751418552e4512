#ifndef GCNSERVE_SERVER_BATCHING_BATCHER_H_
#define GCNSERVE_SERVER_BATCHING_BATCHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/base/clock.h"

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

// A dynamic batcher for one model: a bounded FIFO queue of tasks and one or
// more threads (one per model instance) that form batches from it and hand
// each to the processor with their instance number.
//
// A batch closes when it holds `max_batch_size` tasks or when its oldest task
// has waited `max_queue_delay`, whichever comes first; so a task waits at most
// `max_queue_delay` plus the time of the batches ahead of it. With the default
// delay of 0 an idle model never waits: a free thread takes whatever is queued
// at once, up to `max_batch_size`, and batches fill under load from the
// requests that gather while the batches ahead run. Tasks whose
// deadline has passed or whose client cancelled are failed with
// DEADLINE_EXCEEDED or CANCELLED, never processed: a task is failed as soon
// as its deadline passes, a cancelled one at the next wake-up (Wake(), an
// enqueue, a batch) or when it reaches the front.
// Each thread processes one batch at a time, outside the lock; batches leave
// the queue in order. A new task wakes the thread that went idle last: under
// a light load one instance does the work, its caches warm, instead of the
// instances taking turns (measured in bench/README.md).
// A thread that finds the queue empty while every other instance is idle
// first spins for up to `idle_spin`, yielding its core to any other runnable
// thread, before it sleeps: the next request of a light load then finds it
// awake on a warm core instead of paying a wake-up and cold caches
// (bench/README.md has the figures). Under
// load the queue is rarely empty, and a thread never spins while another
// instance is busy, so nothing spins; at light load each idle spell costs
// up to `idle_spin` of CPU.
//
// Thread-safe. Without Start() no thread runs and RunOnce() drives the
// batcher, which is how the tests step it with a fake clock.
class Batcher {
 public:
  struct Options {
    int max_batch_size = 16;  // tasks per batch, >= 1
    // How long the oldest task may wait for its batch to fill, >= 0; 0 (the
    // default) closes a batch as soon as a thread is free to run it.
    std::chrono::microseconds max_queue_delay{0};
    int max_queue_size = 256;  // queued tasks before Enqueue refuses, >= 1
    // How long a thread that ran out of work spins, every other instance
    // being idle, before it sleeps; >= 0, 0 never spins. On the batcher's
    // clock, as every wait of the batcher.
    std::chrono::microseconds idle_spin{0};
  };
  // Runs one batch on model instance `instance` (0 when driven by RunOnce);
  // must complete or fail every task in it.
  using Processor = std::function<void(Batch, int instance)>;

  // Told the queue's length after every change, under the batcher's lock
  // (so that reports keep the order of the changes): it must be quick and
  // must not call the batcher.
  using DepthListener = std::function<void(int depth)>;

  // Checks `options` (INVALID_ARGUMENT naming the field out of range) and
  // makes a batcher over `clock`, which outlives it.
  static absl::StatusOr<std::unique_ptr<Batcher>> Create(
      const Options& options, Processor processor, Clock* clock,
      DepthListener on_depth = nullptr);
  ~Batcher();  // Stop(true) if still running.

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues a task. UNAVAILABLE when the queue is full or after Stop(); the
  // task is then returned unconsumed in `task`.
  absl::Status Enqueue(std::unique_ptr<BatchTask>& task);

  // Fails the tasks whose deadline has passed and, if a batch is due now,
  // forms and processes it; returns the number of tasks taken off the queue
  // (0 when nothing was due).
  int RunOnce();

  // Wakes the batch threads to drop cancelled tasks now.
  void Wake();
  // Starts `threads` batch threads, numbered 0 to threads-1.
  void Start(int threads = 1);
  // From now on batches close at once, without waiting to fill; tasks are
  // still accepted. The first step of a drain.
  void Flush();
  // Refuses new tasks; then, with `drain`, processes every queued task
  // without waiting for batches to fill, or, without, fails them UNAVAILABLE.
  // Joins the threads. Idempotent.
  void Stop(bool drain);

  int queue_depth() const;
  // Batch threads waiting for work, asleep; spinning ones are not counted.
  int idle_threads() const;
  // Batch threads spinning for the next task (0 or 1).
  int spinning_threads() const;
  const Options& options() const { return options_; }

 private:
  Batcher(const Options& options, Processor processor, Clock* clock,
          DepthListener on_depth);

  // The time the front batch becomes due; TimePoint::max() when empty.
  Clock::TimePoint DueTimeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  using Dropped = std::vector<std::pair<std::unique_ptr<BatchTask>, absl::Status>>;
  // Takes up to max_batch_size live tasks from the front, moving expired and
  // cancelled ones, with the status to fail them with, to `dropped`.
  Batch TakeBatchLocked(Clock::TimePoint now, Dropped& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The earliest deadline of a queued task; TimePoint::max() when none.
  Clock::TimePoint NextDeadlineLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves every queued task whose deadline has passed or whose client
  // cancelled to `dropped`.
  void ExpireLocked(Clock::TimePoint now, Dropped& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails expired tasks and runs the front batch if it is due, with `lock`
  // released meanwhile; returns the number of tasks taken off the queue.
  int Step(std::unique_lock<std::mutex>& lock, int instance);
  void ReportDepthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop(int instance);
  // Spins, with `lock` released, until a task is queued, Stop() is called or
  // `idle_spin` has passed.
  void Spin(std::unique_lock<std::mutex>& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the thread that went idle last off `idle_` to wake it; -1 when
  // none is idle.
  int TakeLastIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeAll();

  const Options options_;
  const Processor processor_;
  Clock* const clock_;
  const DepthListener on_depth_;

  mutable std::mutex mu_;
  // One per batch thread, each waiting on its own, so that Enqueue chooses
  // which one wakes. Written by Start under mu_, never changed after.
  std::vector<std::unique_ptr<std::condition_variable>> wake_;
  std::vector<int> idle_ ABSL_GUARDED_BY(mu_);  // idle threads, last on top
  std::deque<std::unique_ptr<BatchTask>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;  // batches close at once
  int spinning_ ABSL_GUARDED_BY(mu_) = 0;  // threads in Spin
  // What a spinning thread watches without the lock: queue_'s length
  // (written under mu_ with every change) and stopping_.
  std::atomic<size_t> queued_{0};
  std::atomic<bool> stop_spinning_{false};
  std::vector<std::thread> threads_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BATCHING_BATCHER_H_
