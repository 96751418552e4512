#ifndef GCNSERVE_SERVER_MODELS_MODEL_MANAGER_H_
#define GCNSERVE_SERVER_MODELS_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/base/clock.h"
#include "server/models/model_config.h"
#include "server/models/model_finder.h"
#include "server/models/model_repository.h"
#include "server/models/model_unloader.h"
#include "server/models/served_model.h"
#include "server/monitoring/metrics.h"
#include "server/runner/model_metadata.h"
#include "server/runner/model_runner.h"

namespace gcnserve {

// A model version's runners, loaded and warmed up, one per instance.
// Where a version is in its life (docs/design.md, "Lifecycle"). The
// server's own; ListModels maps it to the wire's v1::ModelState
// (server/pipeline/model_list.cc).
enum class ModelState { kLoading, kReady, kFailed, kUnloading };
// "LOADING", "READY", "FAILED" or "UNLOADING".
const char* ModelStateName(ModelState state);

struct LoadedModel {
  ModelMetadata metadata;
  std::vector<std::unique_ptr<ModelRunner>> runners;
  bool optimized = false;  // optimized for inference (the log says so)
  // The largest batch, when the config left it to the loader (0: not
  // chosen; the config's, or 16, stands).
  int max_batch_size = 0;
  // > 0: the batches share these cores (ServedModel::Options::shared_cores).
  int shared_cores = 0;
  // What the loader chose and why, for the ready line and ListModels.
  std::string execution;
};

// Loads and warms up the model file at `path` as `config` says.
using ModelLoader = std::function<absl::StatusOr<LoadedModel>(
    const std::string& path, const ModelConfig& config)>;

// What identifies a model file's contents without reading it: a FAILED
// version is tried again when any of these changes.
struct FileSignature {
  int64_t size = -1;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;
  uint64_t inode = 0;
  uint64_t device = 0;

  // The file's signature now; all fields unset when it cannot be stat'ed.
  static FileSignature Of(const std::string& path);
  bool operator==(const FileSignature& other) const;
  bool operator!=(const FileSignature& other) const { return !(*this == other); }
};

// The repository as a scan finds it (ScanRepository in production; tests
// inject faults).
using RepositoryScanner = std::function<absl::StatusOr<std::vector<ModelOnDisk>>(
    const std::string& repository)>;

// Keeps the served models in line with the repository on disk, by the
// lifecycle rules of docs/design.md ("Lifecycle"):
//
// - A model serves the versions its policy wants that load: for
//   {"latest": N}, the N newest versions on disk that load (a FAILED one is
//   skipped and the next older one loaded); for {"versions": [..]}, the
//   listed ones that load.
// - A version in memory serves until its replacement is warmed up and
//   READY, even when its folder was removed; when none can replace it (every
//   candidate fails) it goes on serving. A model without any version on disk
//   (or without its folder) is unloaded.
// - A FAILED version is tried again when its file changes (size, mtime,
//   mode, inode) and on every Reconcile(Retry::kAll) (SIGHUP); it is listed,
//   with its reason and the version serving in its place, while it is on disk
//   and newer than the versions served.
// - A version leaves in three steps: no new request finds it (UNLOADING),
//   the requests that hold it finish, and when the last reference goes the
//   ModelUnloader stops and frees it. Nothing else holds a version.
//
// Thread-safe. Find() is on every request's path and holds the lock briefly.
class ModelManager : public ModelFinder {
 public:
  struct Options {
    std::string repository;
    ModelConfig defaults;            // overridden by each config.json
    int64_t max_image_pixels = 50'000'000;
    int64_t max_decode_bytes = int64_t{128} << 20;  // per image
    // --default-model. Empty: the first ready model by name whose
    // config.json says "default": true, else the first ready model by name.
    std::string default_model;
    RepositoryScanner scan = ScanRepository;
  };
  // Told whenever a model starts or stops having a ready version.
  using HealthCallback = std::function<void(const std::string& model, bool serving)>;

  // One version as ListModels shows it.
  struct VersionInfo {
    std::string name;
    int64_t version = 0;
    ModelState state = ModelState::kLoading;
    std::string reason;                   // why FAILED
    int64_t serving_version = 0;          // FAILED: the newest READY version
    std::shared_ptr<ServedModel> model;   // null unless READY or UNLOADING
  };

  // Whether a scan tries FAILED versions whose file is unchanged again.
  enum class Retry { kChanged, kAll };

  ModelManager(Options options, ModelLoader loader, Metrics* metrics,
               Clock* clock, HealthCallback on_health);
  ~ModelManager();  // StopAll(true), then the unloads finish

  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Brings the served set in line with the disk; returns once new versions
  // are loaded (or failed); unloading goes on in the background. Calls are
  // serialized. A scan that meets a changing repository is logged and made
  // again (a few times); NOT_FOUND when the repository cannot be read,
  // ABORTED when it kept changing. Serving goes on either way.
  absl::Status Reconcile(Retry retry = Retry::kChanged);

  // The version a request asks for: `name` empty for the default model,
  // `version` 0 for the newest ready one. NOT_FOUND for an unknown model or
  // version, UNAVAILABLE for one that is known but not ready.
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(
      const std::string& name, int64_t version) const override;

  std::vector<VersionInfo> List() const;
  // The model label a request naming `requested` is counted under: the
  // name when the manager knows the model (whatever its versions' states),
  // the default model's for "", else "" (so that clients cannot grow the
  // label set with names of their own).
  std::string MetricLabel(const std::string& requested) const override;
  std::string DefaultModel() const;
  bool AnyReady() const;

  // Makes every model's batches close at once (the start of a drain).
  void FlushAll();
  // Stops every version (draining or failing their queues). Versions still
  // held by requests are freed when their last reference goes.
  void StopAll(bool drain);

 private:
  struct Version {
    ModelState state = ModelState::kLoading;
    std::string reason;
    std::string path;
    FileSignature file;  // the file's when it was last tried
    std::shared_ptr<ServedModel> model;  // READY only
    uint64_t id = 0;                     // of the loaded model, for unloading_
    ModelConfig config;                  // what `model` was loaded with
  };
  // A version on its way out; its slot in models_ is free to load again.
  struct Unloading {
    std::string name;
    int64_t version;
    std::weak_ptr<ServedModel> model;
  };

  absl::StatusOr<std::vector<ModelOnDisk>> Scan() const;
  void ReconcileModel(const ModelOnDisk& disk, Retry retry);
  // Loads the version unless it is READY, or FAILED with an unchanged file
  // and `retry` kChanged; true when it is READY afterwards.
  bool Serve(const std::string& name, int64_t version, const std::string& path,
             const ModelConfig& config, Retry retry);
  void LoadVersion(const std::string& name, int64_t version,
                   const std::string& path, const ModelConfig& config);
  // Loads a READY version again with the settings `config` changed
  // (`changes`, for the log) and switches to it once it is warmed up; the
  // old copy serves meanwhile and unloads once its requests finish. When
  // the new one fails, the old one goes on serving with the old settings.
  void ReloadVersion(const std::string& name, int64_t version,
                     const std::string& path, const ModelConfig& config,
                     const std::vector<std::string>& changes);
  // Loads, warms up and starts the model file at `path` as `config` says;
  // `optimized` tells whether it was optimized for inference.
  absl::StatusOr<std::unique_ptr<ServedModel>> Build(
      const std::string& name, int64_t version, const std::string& path,
      const ModelConfig& config, bool* optimized);
  // Puts a version that left its slot (replaced, or gone) on its way out.
  void RetireLocked(const std::string& name, int64_t version, uint64_t id,
                    std::shared_ptr<ServedModel> model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the version out of service; it unloads once no request holds it.
  void UnloadLocked(const std::string& name, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportHealthLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string DefaultModelLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static const Version* NewestReady(const std::map<int64_t, Version>& versions);

  const Options options_;
  const ModelLoader loader_;
  Metrics* const metrics_;
  Clock* const clock_;
  const HealthCallback on_health_;

  std::mutex reconcile_mu_;  // one Reconcile at a time; taken before mu_
  // Folders ScanRepository ignored that the log has named (once each).
  std::set<std::string> logged_ignored_ ABSL_GUARDED_BY(reconcile_mu_);
  mutable std::mutex mu_;
  std::map<std::string, std::map<int64_t, Version>> models_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Unloading> unloading_ ABSL_GUARDED_BY(mu_);  // by id
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Models whose config.json says "default": true.
  std::set<std::string> marked_default_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);  // last reported
  // Last: its thread calls back into the members above until it is closed.
  ModelUnloader unloader_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_MODEL_MANAGER_H_
