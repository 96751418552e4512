#include "server/models/model_unloader.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"

namespace gcnserve {

struct ModelUnloader::Queue {
  struct Retired {
    ServedModel* model;
    std::function<void()> unloaded;
  };

  std::mutex mu;
  std::condition_variable wake;
  std::deque<Retired> retired ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
};

ModelUnloader::ModelUnloader()
    : queue_(std::make_shared<Queue>()), thread_([this] { Loop(); }) {}

ModelUnloader::~ModelUnloader() { Close(); }

std::shared_ptr<ServedModel> ModelUnloader::Adopt(
    std::unique_ptr<ServedModel> model, std::function<void()> unloaded) {
  std::shared_ptr<Queue> queue = queue_;
  return std::shared_ptr<ServedModel>(
      model.release(),
      [queue, unloaded = std::move(unloaded)](ServedModel* retired) mutable {
        {
          std::lock_guard<std::mutex> lock(queue->mu);
          if (!queue->closed) {
            queue->retired.push_back({retired, std::move(unloaded)});
            queue->wake.notify_one();
            return;
          }
        }
        retired->Stop(/*drain=*/true);
        delete retired;
      });
}

void ModelUnloader::Loop() {
  std::unique_lock<std::mutex> lock(queue_->mu);
  for (;;) {
    queue_->wake.wait(lock, [this] {
      return queue_->closed || !queue_->retired.empty();
    });
    if (queue_->retired.empty()) return;  // closed, nothing left
    Queue::Retired next = std::move(queue_->retired.front());
    queue_->retired.pop_front();
    lock.unlock();
    // Its last request was answered; this ends its batch threads.
    next.model->Stop(/*drain=*/true);
    delete next.model;
    if (next.unloaded) next.unloaded();
    lock.lock();
  }
}

void ModelUnloader::Close() {
  {
    std::lock_guard<std::mutex> lock(queue_->mu);
    queue_->closed = true;
  }
  queue_->wake.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gcnserve
