#include "server/base/thread_pool.h"

#include <utility>

namespace gcnserve {

ThreadPool::ThreadPool(int threads, size_t max_pending)
    : max_pending_(max_pending) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

bool ThreadPool::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || pending_.size() >= max_pending_) return false;
    pending_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void ThreadPool::Work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping and drained
      task = std::move(pending_.front());
      pending_.pop_front();
    }
    task();
  }
}

}  // namespace gcnserve
