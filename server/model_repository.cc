#include "server/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
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
      fs::path file = version.path() / "model.pt";
      if (absl::SimpleAtoi(version.path().filename().string(), &number) &&
          number >= 1 && fs::is_regular_file(file, ignored)) {
        entry.versions[number] = file.string();
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
