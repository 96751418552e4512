#ifndef GCNSERVE_SERVER_MODELS_MODEL_REPOSITORY_H_
#define GCNSERVE_SERVER_MODELS_MODEL_REPOSITORY_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gcnserve {

// A model folder as found on disk.
struct ModelOnDisk {
  std::string name;
  std::map<int64_t, std::string> versions;  // version -> .../<version>/model.pt
  std::string config_path;                  // .../config.json; empty if none
  // Folders holding a model.pt whose names are not versions ("01", "+1",
  // "v2"): ignored, for the caller to say so.
  std::vector<std::string> ignored;
  // Why the folder could not be read (no versions are listed then; the
  // model keeps what it serves); empty when it was read.
  std::string error;
};

// The version a version folder's name gives: canonical decimal only, 1 to
// 18 digits without a leading zero or sign ("7", "12"), so that no two
// folders name one version; false for any other name ("01", "+1", "1 ").
bool ParseVersionFolder(std::string_view name, int64_t* version);

// Lists the model folders of `repository`, sorted by name: each with its
// versions (ParseVersionFolder names holding a model.pt) and its optional
// config.json. Folders without a version are listed with none, so that a
// model whose versions were all removed can be unloaded. Files and folders
// that do not fit the layout are skipped. NOT_FOUND when the repository is
// not a readable folder; ABORTED when it changes or vanishes while it is
// read (scan again). A model folder that vanishes is left out; one that
// cannot be read is listed with `error`. Never throws.
absl::StatusOr<std::vector<ModelOnDisk>> ScanRepository(
    const std::string& repository);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_MODEL_REPOSITORY_H_
