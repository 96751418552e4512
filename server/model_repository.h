#ifndef GCNSERVE_SERVER_MODEL_REPOSITORY_H_
#define GCNSERVE_SERVER_MODEL_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gcnserve {

// A model version found on disk.
struct ModelVersionPath {
  std::string name;
  int64_t version = 0;
  std::string path;  // <repository>/<name>/<version>/model.pt
};

// Lists, for each model folder of `repository`, its newest version: the
// largest positive integer folder holding a model.pt. Sorted by name.
// Folders and files that do not fit the layout are skipped. NOT_FOUND when
// the repository is not a readable folder.
absl::StatusOr<std::vector<ModelVersionPath>> ScanRepository(
    const std::string& repository);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODEL_REPOSITORY_H_
