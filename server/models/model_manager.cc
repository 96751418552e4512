#include "server/models/model_manager.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/bounded_text.h"
#include "server/base/log.h"

namespace gcnserve {

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kFailed:
      return "FAILED";
    case ModelState::kUnloading:
      return "UNLOADING";
  }
  return "UNKNOWN";
}
namespace {

// Scans made of a repository that keeps changing before giving up until the
// next Reconcile.
constexpr int kScanAttempts = 3;

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

FileSignature FileSignature::Of(const std::string& path) {
  FileSignature signature;
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return signature;
  signature.size = static_cast<int64_t>(info.st_size);
  signature.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                       info.st_mtim.tv_nsec;
  signature.mode = static_cast<uint32_t>(info.st_mode);
  signature.inode = static_cast<uint64_t>(info.st_ino);
  signature.device = static_cast<uint64_t>(info.st_dev);
  return signature;
}

bool FileSignature::operator==(const FileSignature& other) const {
  return size == other.size && mtime_ns == other.mtime_ns &&
         mode == other.mode && inode == other.inode && device == other.device;
}

ModelManager::ModelManager(Options options, ModelLoader loader,
                           Metrics* metrics, Clock* clock,
                           HealthCallback on_health)
    : options_(std::move(options)),
      loader_(std::move(loader)),
      metrics_(metrics),
      clock_(clock),
      on_health_(std::move(on_health)) {}

ModelManager::~ModelManager() {
  StopAll(/*drain=*/true);
  unloader_.Close();
}

absl::StatusOr<std::vector<ModelOnDisk>> ModelManager::Scan() const {
  absl::Status last;
  for (int attempt = 1; attempt <= kScanAttempts; ++attempt) {
    absl::StatusOr<std::vector<ModelOnDisk>> disk;
    try {
      disk = options_.scan(options_.repository);
    } catch (const std::exception& e) {
      disk = absl::AbortedError(absl::StrCat("scan failed: ", e.what()));
    }
    if (disk.ok() || !absl::IsAborted(disk.status())) return disk;
    last = disk.status();
    Log("repository scan ", attempt, " of ", kScanAttempts, ": ",
        last.message(), attempt < kScanAttempts ? "; scanning again" : "");
  }
  return last;
}

absl::Status ModelManager::Reconcile(Retry retry) {
  std::lock_guard<std::mutex> reconciling(reconcile_mu_);
  absl::StatusOr<std::vector<ModelOnDisk>> disk = Scan();
  if (!disk.ok()) return disk.status();
  std::set<std::string> names;
  for (const ModelOnDisk& model : *disk) {
    names.insert(model.name);
    for (const std::string& folder : model.ignored) {
      if (logged_ignored_.insert(folder).second) {
        Log("ignoring '", folder, "': a version folder is named by its "
            "number in plain decimal (1, 2, 12), without leading zeros or a sign");
      }
    }
    ReconcileModel(model, retry);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = models_.begin(); it != models_.end();) {
    const std::string name = it->first;
    auto& versions = it->second;
    ++it;
    if (names.count(name)) continue;
    std::vector<int64_t> gone;
    for (const auto& [version, entry] : versions) gone.push_back(version);
    for (int64_t version : gone) UnloadLocked(name, version);
    models_.erase(name);
    marked_default_.erase(name);
    ReportHealthLocked(name);
  }
  return absl::OkStatus();
}

void ModelManager::ReconcileModel(const ModelOnDisk& disk, Retry retry) {
  const std::string& name = disk.name;
  if (!disk.error.empty()) {
    Log("model ", name, ": ", disk.error, "; keeping the versions already loaded");
    return;
  }
  ModelConfig config = options_.defaults;
  if (!disk.config_path.empty()) {
    absl::StatusOr<ModelConfig> parsed = [&]() -> absl::StatusOr<ModelConfig> {
      absl::StatusOr<std::string> text = ReadText(disk.config_path);
      if (!text.ok()) return text.status();
      return ModelConfig::Parse(*text, disk.config_path, options_.defaults);
    }();
    if (!parsed.ok()) {
      // Keep serving what is loaded; load nothing new until the file is fixed.
      Log("model ", name, ": ", parsed.status().message(),
          "; keeping the versions already loaded");
      metrics_->CountLoadFailure(name);
      return;
    }
    config = *std::move(parsed);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (config.is_default) {
      marked_default_.insert(name);
    } else {
      marked_default_.erase(name);
    }
  }

  // Newest first, the policy's candidates until enough of them serve.
  std::vector<int64_t> on_disk;
  for (const auto& [version, path] : disk.versions) on_disk.push_back(version);
  const std::vector<int64_t> candidates = config.Candidates(on_disk);
  const int wanted = config.Wanted(static_cast<int>(candidates.size()));
  std::set<int64_t> chosen, tried;
  for (int64_t version : candidates) {
    if (static_cast<int>(chosen.size()) == wanted) break;
    tried.insert(version);
    if (Serve(name, version, disk.versions.at(version), config, retry)) {
      chosen.insert(version);
    }
  }

  std::lock_guard<std::mutex> lock(mu_);
  auto& versions = models_[name];
  // Versions in memory fill in for the candidates that failed: they serve
  // until something loads in their place.
  int gap = wanted - static_cast<int>(chosen.size());
  std::set<int64_t> keep = chosen;
  for (auto it = versions.rbegin(); it != versions.rend() && gap > 0; ++it) {
    if (it->second.state == ModelState::kReady && !keep.count(it->first)) {
      keep.insert(it->first);
      --gap;
    }
  }
  std::vector<int64_t> leaving;
  for (const auto& [version, entry] : versions) {
    if (keep.count(version)) continue;
    // A FAILED version stays listed while it stands in for the reason an
    // older one serves.
    if (entry.state == ModelState::kFailed && tried.count(version)) continue;
    leaving.push_back(version);
  }
  for (int64_t version : leaving) UnloadLocked(name, version);
  if (versions.empty()) models_.erase(name);
  ReportHealthLocked(name);
}

bool ModelManager::Serve(const std::string& name, int64_t version,
                         const std::string& path, const ModelConfig& config,
                         Retry retry) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    Version& entry = models_[name][version];
    if (entry.state == ModelState::kReady) {
      std::vector<std::string> changes = entry.config.LoadChanges(config);
      if (changes.empty()) return true;
      lock.unlock();
      ReloadVersion(name, version, path, config, changes);
      return true;  // READY either way: the new settings, or the old
    }
    if (entry.state == ModelState::kFailed && retry == Retry::kChanged &&
        entry.path == path && entry.file == FileSignature::Of(path)) {
      return false;
    }
    entry.state = ModelState::kLoading;
    entry.path = path;
    entry.reason.clear();
  }
  LoadVersion(name, version, path, config);
  std::lock_guard<std::mutex> lock(mu_);
  return models_[name][version].state == ModelState::kReady;
}

absl::StatusOr<std::unique_ptr<ServedModel>> ModelManager::Build(
    const std::string& name, int64_t version, const std::string& path,
    const ModelConfig& config, bool* optimized) {
  absl::StatusOr<LoadedModel> loaded;
  try {
    loaded = loader_(path, config);
  } catch (const std::exception& e) {
    loaded = absl::InternalError(absl::StrCat("loading raised: ", e.what()));
  }
  if (!loaded.ok()) return loaded.status();
  *optimized = loaded->optimized;
  ServedModel::Options model_options;
  model_options.batching = config.batching;
  if (model_options.batching.max_batch_size == 0) {
    model_options.batching.max_batch_size =
        loaded->max_batch_size > 0 ? loaded->max_batch_size : ModelConfig::kCudaBatch;
  }
  model_options.shared_cores = loaded->shared_cores;
  model_options.execution = loaded->execution;
  model_options.max_image_pixels = options_.max_image_pixels;
  model_options.max_decode_bytes = options_.max_decode_bytes;
  absl::StatusOr<std::unique_ptr<ServedModel>> model = ServedModel::Create(
      name, version, std::move(loaded->metadata), std::move(loaded->runners),
      model_options, metrics_->ForModel(name), clock_);
  if (!model.ok()) return model.status();
  (*model)->Start();
  return model;
}

namespace {

void LogReady(const std::string& name, int64_t version, const ServedModel& model,
              const ModelConfig& config, bool optimized,
              std::chrono::steady_clock::time_point start, const char* why) {
  Log("model ", name, " version ", version, " ready", why, " (",
      model.metadata().architecture, ", ", model.instances(),
      " instance(s) on ", config.device,
      optimized ? ", optimized for inference" : ", as saved",
      ", warmed up to batch size ", model.options().batching.max_batch_size,
      " in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start)
          .count(),
      " ms", model.options().execution.empty() ? "" : "; ",
      model.options().execution, ")");
}

}  // namespace

void ModelManager::LoadVersion(const std::string& name, int64_t version,
                               const std::string& path,
                               const ModelConfig& config) {
  auto start = std::chrono::steady_clock::now();
  FileSignature file = FileSignature::Of(path);
  bool optimized = false;
  absl::StatusOr<std::unique_ptr<ServedModel>> model =
      Build(name, version, path, config, &optimized);
  std::lock_guard<std::mutex> lock(mu_);
  Version& entry = models_[name][version];
  entry.file = file;
  if (!model.ok()) {
    entry.state = ModelState::kFailed;
    entry.reason = std::string(model.status().message());
    Log("model ", name, " version ", version, " failed to load: ", entry.reason);
    metrics_->CountLoadFailure(name);
    metrics_->SetModelReady(name, version, false);
    return;
  }
  const uint64_t id = ++next_id_;
  entry.id = id;
  entry.state = ModelState::kReady;
  entry.config = config;
  entry.model = unloader_.Adopt(*std::move(model), [this, name, version, id] {
    std::lock_guard<std::mutex> lock(mu_);
    unloading_.erase(id);
    Log("model ", name, " version ", version, " unloaded");
  });
  metrics_->SetModelReady(name, version, true);
  LogReady(name, version, *entry.model, config, optimized, start, "");
}

void ModelManager::ReloadVersion(const std::string& name, int64_t version,
                                 const std::string& path,
                                 const ModelConfig& config,
                                 const std::vector<std::string>& changes) {
  Log("model ", name, " version ", version, ": config.json changed (",
      absl::StrJoin(changes, ", "),
      "); loading it again with the new settings, the loaded copy serving "
      "until then");
  auto start = std::chrono::steady_clock::now();
  bool optimized = false;
  absl::StatusOr<std::unique_ptr<ServedModel>> model =
      Build(name, version, path, config, &optimized);
  std::lock_guard<std::mutex> lock(mu_);
  auto versions = models_.find(name);
  auto entry = versions == models_.end() ? nullptr : &versions->second[version];
  if (!model.ok()) {
    Log("model ", name, " version ", version,
        " failed to load with the new settings: ", model.status().message(),
        "; it goes on serving with the old ones");
    metrics_->CountLoadFailure(name);
    // Not tried again until config.json changes again.
    if (entry && entry->state == ModelState::kReady) entry->config = config;
    return;
  }
  const uint64_t id = ++next_id_;
  std::shared_ptr<ServedModel> adopted =
      unloader_.Adopt(*std::move(model), [this, name, version, id] {
        std::lock_guard<std::mutex> lock(mu_);
        unloading_.erase(id);
        Log("model ", name, " version ", version, " unloaded");
      });
  if (entry == nullptr || entry->state != ModelState::kReady) {
    // The version left while it loaded: the new copy goes too.
    RetireLocked(name, version, id, std::move(adopted));
    return;
  }
  std::shared_ptr<ServedModel> old = std::move(entry->model);
  const uint64_t old_id = entry->id;
  entry->model = std::move(adopted);
  entry->id = id;
  entry->config = config;
  LogReady(name, version, *entry->model, config, optimized, start,
           " with the new settings");
  RetireLocked(name, version, old_id, std::move(old));
}

void ModelManager::RetireLocked(const std::string& name, int64_t version,
                                uint64_t id, std::shared_ptr<ServedModel> model) {
  model->Flush();
  unloading_[id] = {name, version, model};
  // This may be the last reference: the unloader takes the version then.
  model.reset();
}

void ModelManager::UnloadLocked(const std::string& name, int64_t version) {
  auto& versions = models_[name];
  auto it = versions.find(version);
  if (it == versions.end()) return;
  Version entry = std::move(it->second);
  versions.erase(it);
  if (entry.state != ModelState::kReady) return;
  metrics_->SetModelReady(name, version, false);
  Log("model ", name, " version ", version,
      " unloading once its requests finish");
  RetireLocked(name, version, entry.id, std::move(entry.model));
}

void ModelManager::ReportHealthLocked(const std::string& name) {
  auto it = models_.find(name);
  bool serving = it != models_.end() && NewestReady(it->second) != nullptr;
  auto [known, inserted] = serving_.emplace(name, serving);
  if (inserted || known->second != serving) {
    known->second = serving;
    if (on_health_) on_health_(name, serving);
  }
}

std::string ModelManager::DefaultModelLocked() const {
  if (!options_.default_model.empty()) return options_.default_model;
  for (const std::string& name : marked_default_) {
    auto it = models_.find(name);
    if (it != models_.end() && NewestReady(it->second)) return name;
  }
  for (const auto& [name, versions] : models_) {
    if (NewestReady(versions)) return name;
  }
  return "";
}

const ModelManager::Version* ModelManager::NewestReady(
    const std::map<int64_t, Version>& versions) {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->second.state == ModelState::kReady) return &it->second;
  }
  return nullptr;
}

std::string ModelManager::DefaultModel() const {
  std::lock_guard<std::mutex> lock(mu_);
  return DefaultModelLocked();
}

bool ModelManager::AnyReady() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, versions] : models_) {
    if (NewestReady(versions)) return true;
  }
  return false;
}

std::string ModelManager::MetricLabel(const std::string& requested) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = requested.empty() ? DefaultModelLocked() : requested;
  return models_.count(name) ? name : "";
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelManager::Find(
    const std::string& requested, int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = requested.empty() ? DefaultModelLocked() : requested;
  auto model = models_.find(name);
  if (model == models_.end() || model->second.empty()) {
    std::vector<std::string> names;
    for (const auto& [known, versions] : models_) names.push_back(known);
    if (name.empty()) return absl::UnavailableError("no model is ready yet");
    return absl::NotFoundError(absl::StrCat("model '", EchoText(name),
                                            "' not found; served: ",
                                            absl::StrJoin(names, ", ")));
  }
  const auto& versions = model->second;
  if (version == 0) {
    if (const Version* ready = NewestReady(versions)) return ready->model;
    return absl::UnavailableError(
        absl::StrCat("model '", name, "' has no ready version"));
  }
  auto it = versions.find(version);
  if (it == versions.end()) {
    std::vector<std::string> known;
    for (const auto& [v, entry] : versions) known.push_back(absl::StrCat(v));
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ",
                                            version, "; known: ",
                                            absl::StrJoin(known, ", ")));
  }
  if (it->second.state != ModelState::kReady) {
    return absl::UnavailableError(absl::StrCat(
        "model '", name, "' version ", version, " is ",
        ModelStateName(it->second.state), ", not READY"));
  }
  return it->second.model;
}

std::vector<ModelManager::VersionInfo> ModelManager::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<VersionInfo> list;
  for (const auto& [name, versions] : models_) {
    const Version* serving = NewestReady(versions);
    for (const auto& [version, entry] : versions) {
      VersionInfo info{name, version, entry.state, entry.reason, 0, entry.model};
      if (entry.state == ModelState::kFailed && serving) {
        info.serving_version = serving->model->version();
      }
      list.push_back(std::move(info));
    }
  }
  for (const auto& [id, entry] : unloading_) {
    list.push_back({entry.name, entry.version, ModelState::kUnloading, "", 0,
                    entry.model.lock()});
  }
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return std::tie(a.name, a.version, a.state) <
           std::tie(b.name, b.version, b.state);
  });
  return list;
}

void ModelManager::FlushAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, versions] : models_) {
    for (auto& [version, entry] : versions) {
      if (entry.model) entry.model->Flush();
    }
  }
}

void ModelManager::StopAll(bool drain) {
  std::vector<std::shared_ptr<ServedModel>> models;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, versions] : models_) {
      for (auto& [version, entry] : versions) {
        if (entry.model) models.push_back(entry.model);
      }
    }
    for (auto& [id, entry] : unloading_) {
      if (auto model = entry.model.lock()) models.push_back(std::move(model));
    }
  }
  for (auto& model : models) model->Stop(drain);
}

}  // namespace gcnserve
