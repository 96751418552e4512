#include "server/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gcnserve {

namespace fs = std::filesystem;

absl::StatusOr<std::vector<ModelOnDisk>> ScanRepository(
    const std::string& repository) {
  std::error_code error;
  if (!fs::is_directory(repository, error)) {
    return absl::NotFoundError(absl::StrCat(
        "model repository '", repository, "' is not a readable folder"));
  }
  std::vector<ModelOnDisk> found;
  for (const fs::directory_entry& model :
       fs::directory_iterator(repository, error)) {
    std::string name = model.path().filename().string();
    if (!model.is_directory(error) || name.empty() || name[0] == '.') continue;
    ModelOnDisk entry;
    entry.name = name;
    fs::path config = model.path() / "config.json";
    if (fs::is_regular_file(config, error)) entry.config_path = config.string();
    for (const fs::directory_entry& version :
         fs::directory_iterator(model.path(), error)) {
      int64_t number;
      fs::path file = version.path() / "model.pt";
      if (absl::SimpleAtoi(version.path().filename().string(), &number) &&
          number >= 1 && fs::is_regular_file(file, error)) {
        entry.versions[number] = file.string();
      }
    }
    found.push_back(std::move(entry));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return found;
}

}  // namespace gcnserve
