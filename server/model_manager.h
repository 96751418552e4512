#ifndef GCNSERVE_SERVER_MODEL_MANAGER_H_
#define GCNSERVE_SERVER_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gcnserve/v1/gcnserve.pb.h"
#include "server/clock.h"
#include "server/metrics.h"
#include "server/model_config.h"
#include "server/model_metadata.h"
#include "server/model_runner.h"
#include "server/served_model.h"

namespace gcnserve {

// A model version's runners, loaded and warmed up, one per instance.
struct LoadedModel {
  ModelMetadata metadata;
  std::vector<std::unique_ptr<ModelRunner>> runners;
};

// Loads and warms up the model file at `path` as `config` says.
using ModelLoader = std::function<absl::StatusOr<LoadedModel>(
    const std::string& path, const ModelConfig& config)>;

// Keeps the served models in line with the repository on disk.
//
// Reconcile() scans the repository, loads and warms up the versions that each
// model's version policy wants and that are not loaded yet, and unloads those
// no longer wanted. A version takes traffic only once warmed up; requests for
// the newest version move to it at once. A version leaves in three steps: no
// new requests reach it, its queued and running requests finish, then its
// threads stop. A version that fails to load is FAILED (logged, counted) and
// is not retried until its file changes; the versions already serving go on,
// even those the version policy would otherwise retire, until a newer one is
// READY in its place.
//
// Thread-safe. Find() is on every request's path and holds the lock briefly.
class ModelManager {
 public:
  struct Options {
    std::string repository;
    ModelConfig defaults;            // overridden by each config.json
    int64_t max_image_pixels = 50'000'000;
    // Empty: "model3" (the report's model, the bundled default) while it is
    // ready, else the first ready model by name.
    std::string default_model;
  };
  // Told whenever a model starts or stops having a ready version.
  using HealthCallback = std::function<void(const std::string& model, bool serving)>;

  // One version as ListModels shows it.
  struct VersionInfo {
    std::string name;
    int64_t version = 0;
    v1::ModelState state = v1::MODEL_STATE_UNSPECIFIED;
    std::string reason;                   // why FAILED
    std::shared_ptr<ServedModel> model;   // null unless READY or UNLOADING
  };

  ModelManager(Options options, ModelLoader loader, Metrics* metrics,
               Clock* clock, HealthCallback on_health);
  ~ModelManager();  // StopAll(true)

  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Brings the served set in line with the disk; returns once new versions
  // are loaded (or failed); unloading goes on in the background. Calls are
  // serialized. NOT_FOUND when the repository cannot be read.
  absl::Status Reconcile();

  // The version a request asks for: `name` empty for the default model,
  // `version` 0 for the newest ready one. NOT_FOUND for an unknown model or
  // version, UNAVAILABLE for one that is known but not ready.
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(const std::string& name,
                                                    int64_t version) const;

  std::vector<VersionInfo> List() const;
  std::string DefaultModel() const;
  bool AnyReady() const;

  // Makes every model's batches close at once (the start of a drain).
  void FlushAll();
  // Stops every version (draining or failing their queues) and waits for
  // the unloads under way.
  void StopAll(bool drain);

 private:
  struct Version {
    v1::ModelState state = v1::MODEL_STATE_UNSPECIFIED;
    std::string reason;
    std::string path;
    int64_t file_stamp = 0;  // the file's mtime when it was last loaded
    std::shared_ptr<ServedModel> model;
  };

  void ReconcileModel(const std::string& name,
                      const std::map<int64_t, std::string>& on_disk,
                      const std::string& config_path);
  void LoadVersion(const std::string& name, int64_t version,
                   const std::string& path, const ModelConfig& config);
  // Takes the version out of service and unloads it in the background.
  void UnloadLocked(const std::string& name, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportHealthLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string DefaultModelLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static bool HasReady(const std::map<int64_t, Version>& versions);

  const Options options_;
  const ModelLoader loader_;
  Metrics* const metrics_;
  Clock* const clock_;
  const HealthCallback on_health_;

  std::mutex reconcile_mu_;  // one Reconcile at a time; taken before mu_
  mutable std::mutex mu_;
  std::map<std::string, std::map<int64_t, Version>> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);  // last reported
  std::vector<std::thread> unloaders_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODEL_MANAGER_H_
