#include "server/model_manager.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/log.h"
#include "server/model_repository.h"

namespace gcnserve {
namespace {

// The default model when none is configured and it is served.
constexpr char kPreferredDefault[] = "model3";

int64_t FileStamp(const std::string& path) {
  std::error_code error;
  auto time = std::filesystem::last_write_time(path, error);
  return error ? 0 : static_cast<int64_t>(time.time_since_epoch().count());
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ModelManager::ModelManager(Options options, ModelLoader loader,
                           Metrics* metrics, Clock* clock,
                           HealthCallback on_health)
    : options_(std::move(options)),
      loader_(std::move(loader)),
      metrics_(metrics),
      clock_(clock),
      on_health_(std::move(on_health)) {}

ModelManager::~ModelManager() { StopAll(/*drain=*/true); }

absl::Status ModelManager::Reconcile() {
  std::lock_guard<std::mutex> reconciling(reconcile_mu_);
  absl::StatusOr<std::vector<ModelOnDisk>> disk =
      ScanRepository(options_.repository);
  if (!disk.ok()) return disk.status();
  std::set<std::string> names;
  for (const ModelOnDisk& model : *disk) {
    names.insert(model.name);
    ReconcileModel(model.name, model.versions, model.config_path);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, versions] : models_) {
    if (names.count(name)) continue;
    std::vector<int64_t> gone;
    for (const auto& [version, entry] : versions) gone.push_back(version);
    for (int64_t version : gone) UnloadLocked(name, version);
    ReportHealthLocked(name);
  }
  return absl::OkStatus();
}

void ModelManager::ReconcileModel(const std::string& name,
                                  const std::map<int64_t, std::string>& on_disk,
                                  const std::string& config_path) {
  ModelConfig config = options_.defaults;
  if (!config_path.empty()) {
    absl::StatusOr<ModelConfig> parsed = [&]() -> absl::StatusOr<ModelConfig> {
      absl::StatusOr<std::string> text = ReadText(config_path);
      if (!text.ok()) return text.status();
      return ModelConfig::Parse(*text, config_path, options_.defaults);
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
  std::vector<int64_t> available;
  for (const auto& [version, path] : on_disk) available.push_back(version);
  std::vector<int64_t> wanted = config.Select(available);  // newest first

  for (int64_t version : wanted) {
    const std::string& path = on_disk.at(version);
    {
      std::lock_guard<std::mutex> lock(mu_);
      Version& entry = models_[name][version];
      bool loaded = entry.state == v1::MODEL_STATE_READY || entry.state == v1::MODEL_STATE_LOADING;
      bool failed_unchanged = entry.state == v1::MODEL_STATE_FAILED &&
                              entry.path == path &&
                              entry.file_stamp == FileStamp(path);
      // A version on its way out is left to go; a later scan reloads it.
      if (loaded || failed_unchanged || entry.state == v1::MODEL_STATE_UNLOADING) continue;
      entry.state = v1::MODEL_STATE_LOADING;
      entry.path = path;
      entry.reason.clear();
    }
    LoadVersion(name, version, path, config);
  }

  std::lock_guard<std::mutex> lock(mu_);
  auto& versions = models_[name];
  // While a wanted version is not READY (it failed), the newest versions
  // that still serve and are still on disk stay, to fill the gap.
  int gap = 0;
  for (int64_t version : wanted) gap += versions[version].state != v1::MODEL_STATE_READY;
  std::vector<int64_t> unwanted;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    int64_t version = it->first;
    if (std::find(wanted.begin(), wanted.end(), version) != wanted.end()) {
      continue;
    }
    if (gap > 0 && it->second.state == v1::MODEL_STATE_READY && on_disk.count(version)) {
      --gap;
      continue;
    }
    unwanted.push_back(version);
  }
  for (int64_t version : unwanted) UnloadLocked(name, version);
  ReportHealthLocked(name);
}

void ModelManager::LoadVersion(const std::string& name, int64_t version,
                               const std::string& path,
                               const ModelConfig& config) {
  auto start = std::chrono::steady_clock::now();
  int64_t stamp = FileStamp(path);
  absl::StatusOr<LoadedModel> loaded = loader_(path, config);
  std::shared_ptr<ServedModel> model;
  if (loaded.ok()) {
    ServedModel::Options model_options;
    model_options.batching = config.batching;
    model_options.max_image_pixels = options_.max_image_pixels;
    model = std::make_shared<ServedModel>(
        name, version, std::move(loaded->metadata), std::move(loaded->runners),
        model_options, metrics_->ForModel(name), clock_);
    model->Start();
  }
  std::lock_guard<std::mutex> lock(mu_);
  Version& entry = models_[name][version];
  entry.file_stamp = stamp;
  if (!loaded.ok()) {
    entry.state = v1::MODEL_STATE_FAILED;
    entry.reason = std::string(loaded.status().message());
    Log("model ", name, " version ", version, " failed to load: ", entry.reason);
    metrics_->CountLoadFailure(name);
    metrics_->SetModelReady(name, version, false);
    return;
  }
  entry.state = v1::MODEL_STATE_READY;
  entry.model = std::move(model);
  metrics_->SetModelReady(name, version, true);
  Log("model ", name, " version ", version, " ready (",
      entry.model->metadata().architecture, ", ", entry.model->instances(),
      " instance(s) on ", config.device, ", warmed up to batch size ",
      config.batching.max_batch_size, " in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start)
          .count(),
      " ms)");
}

void ModelManager::UnloadLocked(const std::string& name, int64_t version) {
  Version& entry = models_[name][version];
  metrics_->SetModelReady(name, version, false);
  if (entry.state != v1::MODEL_STATE_READY) {
    if (entry.state != v1::MODEL_STATE_UNLOADING) models_[name].erase(version);
    return;
  }
  entry.state = v1::MODEL_STATE_UNLOADING;
  std::shared_ptr<ServedModel> model = entry.model;
  Log("model ", name, " version ", version,
      " unloading once its requests finish");
  model->Flush();
  unloaders_.emplace_back([this, name, version, model]() mutable {
    // Requests hold the model while they run; no new ones can find it.
    // References: this lambda's and the entry's.
    while (model.use_count() > 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    model->Stop(/*drain=*/true);
    std::lock_guard<std::mutex> lock(mu_);
    auto& versions = models_[name];
    auto it = versions.find(version);
    if (it != versions.end() && it->second.state == v1::MODEL_STATE_UNLOADING) {
      versions.erase(it);
    }
    if (versions.empty()) models_.erase(name);
    Log("model ", name, " version ", version, " unloaded");
  });
}

void ModelManager::ReportHealthLocked(const std::string& name) {
  auto it = models_.find(name);
  bool serving = it != models_.end() && HasReady(it->second);
  auto [known, inserted] = serving_.emplace(name, serving);
  if (inserted || known->second != serving) {
    known->second = serving;
    if (on_health_) on_health_(name, serving);
  }
}

std::string ModelManager::DefaultModelLocked() const {
  if (!options_.default_model.empty()) return options_.default_model;
  auto preferred = models_.find(kPreferredDefault);
  if (preferred != models_.end() && HasReady(preferred->second)) {
    return kPreferredDefault;
  }
  for (const auto& [name, versions] : models_) {
    if (HasReady(versions)) return name;
  }
  return "";
}

bool ModelManager::HasReady(const std::map<int64_t, Version>& versions) {
  for (const auto& [version, entry] : versions) {
    if (entry.state == v1::MODEL_STATE_READY) return true;
  }
  return false;
}

std::string ModelManager::DefaultModel() const {
  std::lock_guard<std::mutex> lock(mu_);
  return DefaultModelLocked();
}

bool ModelManager::AnyReady() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, versions] : models_) {
    if (HasReady(versions)) return true;
  }
  return false;
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
    return absl::NotFoundError(absl::StrCat("model '", name,
                                            "' not found; served: ",
                                            absl::StrJoin(names, ", ")));
  }
  const auto& versions = model->second;
  if (version == 0) {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (it->second.state == v1::MODEL_STATE_READY) return it->second.model;
    }
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
  if (it->second.state != v1::MODEL_STATE_READY) {
    return absl::UnavailableError(absl::StrCat(
        "model '", name, "' version ", version, " is ",
        v1::ModelState_Name(it->second.state), ", not READY"));
  }
  return it->second.model;
}

std::vector<ModelManager::VersionInfo> ModelManager::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<VersionInfo> list;
  for (const auto& [name, versions] : models_) {
    for (const auto& [version, entry] : versions) {
      list.push_back({name, version, entry.state, entry.reason, entry.model});
    }
  }
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
  std::vector<std::thread> unloaders;
  std::vector<std::shared_ptr<ServedModel>> models;
  {
    std::lock_guard<std::mutex> lock(mu_);
    unloaders.swap(unloaders_);
    for (auto& [name, versions] : models_) {
      for (auto& [version, entry] : versions) {
        if (entry.model && entry.state == v1::MODEL_STATE_READY) models.push_back(entry.model);
      }
    }
  }
  for (auto& model : models) model->Stop(drain);
  for (std::thread& unloader : unloaders) unloader.join();
}

}  // namespace gcnserve
