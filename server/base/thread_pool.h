#ifndef GCNSERVE_SERVER_BASE_THREAD_POOL_H_
#define GCNSERVE_SERVER_BASE_THREAD_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace gcnserve {

// A fixed set of worker threads running tasks in submission order, with a
// bounded backlog so that a burst cannot grow memory without limit.
// Thread-safe. Tasks must not throw.
class ThreadPool {
 public:
  // `threads` >= 1 workers; at most `max_pending` tasks wait for a worker.
  ThreadPool(int threads, size_t max_pending);
  ~ThreadPool();  // Runs every accepted task, then joins.

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Returns false, without running it, when the backlog is full or the pool
  // is shutting down.
  bool TrySubmit(std::function<void()> task);

 private:
  void Work();

  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_THREAD_POOL_H_
