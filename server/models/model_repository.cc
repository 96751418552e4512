#include "server/models/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace gcnserve {

namespace fs = std::filesystem;

namespace {

// Calls `visit` for each entry of `folder`. Iterates with the error_code
// overloads only: a folder that changes or vanishes while it is read ends the
// walk with an error, never an exception.
template <typename Visit>
std::error_code ForEachEntry(const fs::path& folder, Visit visit) {
  std::error_code error;
  fs::directory_iterator it(folder, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    visit(*it);
  }
  return error;
}

}  // namespace

bool ParseVersionFolder(std::string_view name, int64_t* version) {
  if (name.empty() || name.size() > 18 || name[0] < '1' || name[0] > '9') {
    return false;
  }
  int64_t value = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *version = value;
  return true;
}

absl::StatusOr<std::vector<ModelOnDisk>> ScanRepository(
    const std::string& repository) {
  std::error_code error;
  if (!fs::is_directory(repository, error)) {
    return absl::NotFoundError(absl::StrCat(
        "model repository '", repository, "' is not a readable folder"));
  }
  std::vector<ModelOnDisk> found;
  std::error_code failed = ForEachEntry(repository, [&](const fs::directory_entry& model) {
    std::error_code ignored;
    std::string name = model.path().filename().string();
    if (!model.is_directory(ignored) || name.empty() || name[0] == '.') return;
    ModelOnDisk entry;
    entry.name = name;
    fs::path config = model.path() / "config.json";
    if (fs::is_regular_file(config, ignored)) entry.config_path = config.string();
    std::error_code unread = ForEachEntry(model.path(), [&](const fs::directory_entry& version) {
      int64_t number;
      std::error_code ignored;
      const std::string folder = version.path().filename().string();
      fs::path file = version.path() / "model.pt";
      if (folder.empty() || folder[0] == '.' ||
          !fs::is_regular_file(file, ignored)) {
        return;
      }
      if (ParseVersionFolder(folder, &number)) {
        entry.versions[number] = file.string();
      } else {
        entry.ignored.push_back(version.path().string());
      }
    });
    if (unread == std::errc::no_such_file_or_directory) return;  // removed
    if (unread) {
      entry.versions.clear();
      entry.error = absl::StrCat("'", model.path().string(),
                                 "' cannot be read: ", unread.message());
    }
    found.push_back(std::move(entry));
  });
  if (failed) {
    // Half a listing would unload what it missed: report it, scan again.
    return absl::AbortedError(absl::StrCat(
        "model repository '", repository,
        "' changed or vanished while it was scanned: ", failed.message()));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return found;
}

}  // namespace gcnserve
