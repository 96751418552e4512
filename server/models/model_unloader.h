#ifndef GCNSERVE_SERVER_MODELS_MODEL_UNLOADER_H_
#define GCNSERVE_SERVER_MODELS_MODEL_UNLOADER_H_

#include <functional>
#include <memory>
#include <thread>

#include "server/models/served_model.h"

namespace gcnserve {

// Unloads model versions when nothing uses them any more, on one thread of
// its own for all of them (docs/design.md, "Lifecycle").
//
// Adopt() hands out the one shared_ptr family of a version: the model
// manager holds a copy while the version takes new requests, and each
// request holds one while it is in flight. When the last copy goes, on
// whichever thread (a batch thread, often), the version is queued here; this
// thread stops it (its batch threads end), frees it and calls its
// `unloaded`. No polling, no thread per unload.
//
// Thread-safe. Close() (or the destructor) unloads what is queued and stops
// the thread; a version whose last copy goes after that is stopped and freed
// on the spot, without `unloaded`, so it must have been stopped already
// (ServedModel::Stop) if that can happen on one of its batch threads.
class ModelUnloader {
 public:
  ModelUnloader();
  ~ModelUnloader();  // Close()

  ModelUnloader(const ModelUnloader&) = delete;
  ModelUnloader& operator=(const ModelUnloader&) = delete;

  // Takes `model` over; `unloaded` runs on the unloader thread once it is
  // freed.
  std::shared_ptr<ServedModel> Adopt(std::unique_ptr<ServedModel> model,
                                     std::function<void()> unloaded);

  // Unloads the versions already queued, then stops the thread. Idempotent.
  void Close();

 private:
  struct Queue;  // shared with the deleters, which may outlive the unloader
  void Loop();

  const std::shared_ptr<Queue> queue_;
  std::thread thread_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_MODEL_UNLOADER_H_
