#ifndef GCNSERVE_SERVER_MODELS_MODEL_FINDER_H_
#define GCNSERVE_SERVER_MODELS_MODEL_FINDER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/models/served_model.h"

namespace gcnserve {

// Where the request path finds the version a request names: ModelManager,
// or a fake in tests. Thread-safe.
class ModelFinder {
 public:
  virtual ~ModelFinder() = default;

  // The version to serve: `version` 0 means the newest ready one, and `name`
  // "" the default model. NOT_FOUND or UNAVAILABLE, with a message a client
  // can act on, otherwise.
  virtual absl::StatusOr<std::shared_ptr<ServedModel>> Find(
      const std::string& name, int64_t version) const = 0;

  // The model label a request naming `requested` is counted under (see
  // ModelManager::MetricLabel).
  virtual std::string MetricLabel(const std::string& requested) const = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_MODEL_FINDER_H_
