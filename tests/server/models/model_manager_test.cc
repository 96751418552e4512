// The lifecycle rules of docs/design.md ("Lifecycle") on the model manager,
// with a fake loader over real files: fallback to the newest version that
// loads, retries when a file changes, unloading when the last request lets
// go, and scans that fail.
#include "server/models/model_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "server/base/clock.h"
#include "server/monitoring/metrics.h"

namespace gcnserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Set when a fake runner is destroyed, that is when its version unloads.
class Unloaded {
 public:
  void Set() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      set_ = true;
      thread_ = std::this_thread::get_id();
    }
    cv_.notify_all();
  }
  bool IsSet() {
    std::lock_guard<std::mutex> lock(mu_);
    return set_;
  }
  // Waits for the event; the bound only keeps a broken build from hanging.
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [this] { return set_; });
  }
  std::thread::id thread() {
    std::lock_guard<std::mutex> lock(mu_);
    return thread_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
  std::thread::id thread_;
};

class FakeRunner : public ModelRunner {
 public:
  explicit FakeRunner(std::shared_ptr<Unloaded> unloaded)
      : unloaded_(std::move(unloaded)) {}
  ~FakeRunner() override { unloaded_->Set(); }
  absl::StatusOr<ModelOutput> Run(const float*, int batch) override {
    ModelOutput output;
    output.batch = batch;
    output.classes = 2;
    output.probabilities.assign(batch * 2, 0.5f);
    return output;
  }

 private:
  std::shared_ptr<Unloaded> unloaded_;
};

ModelMetadata Metadata() {
  ModelMetadata meta;
  meta.name = "m";
  meta.architecture = "fake";
  meta.input = {4, 4, 1, "gray", {0.5f}, {0.5f}, "area_or_linear"};
  meta.labels = {"a", "b"};
  return meta;
}

// Loads a file whose text is "good"; fails any other, and counts attempts.
class FakeLoader {
 public:
  absl::StatusOr<LoadedModel> operator()(const std::string& path,
                                         const ModelConfig&) {
    std::lock_guard<std::mutex> lock(mu_);
    ++attempts_[path];
    std::ifstream in(path);
    std::string text;
    in >> text;
    if (text != "good") {
      return absl::InvalidArgumentError("not a model: '" + text + "'");
    }
    LoadedModel loaded;
    loaded.metadata = Metadata();
    loaded.max_batch_size = chosen_batch;
    loaded.execution = "as the fake chose";
    unloaded_[path] = std::make_shared<Unloaded>();
    loaded.runners.push_back(std::make_unique<FakeRunner>(unloaded_[path]));
    return loaded;
  }
  int chosen_batch = 0;  // the loader's choice of max_batch_size; 0: none

  int attempts(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_[path];
  }
  // The unload event of the copy last loaded from `path`.
  std::shared_ptr<Unloaded> unloaded(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return unloaded_[path];
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> attempts_;
  std::map<std::string, std::shared_ptr<Unloaded>> unloaded_;
};

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repository_ = fs::path(testing::TempDir()) /
                  ("manager_" + std::string(::testing::UnitTest::GetInstance()
                                                ->current_test_info()
                                                ->name()));
    fs::remove_all(repository_);
    fs::create_directories(repository_);
  }
  void TearDown() override {
    manager_.reset();
    fs::remove_all(repository_);
  }

  std::string Path(const std::string& model, int version) {
    return (repository_ / model / std::to_string(version) / "model.pt").string();
  }
  void Write(const std::string& model, int version, const std::string& text) {
    fs::create_directories(repository_ / model / std::to_string(version));
    std::ofstream(Path(model, version)) << text;
  }
  void WriteConfig(const std::string& model, const std::string& json) {
    fs::create_directories(repository_ / model);
    std::ofstream(repository_ / model / "config.json") << json;
  }

  void Make(ModelManager::Options options = {}) {
    options.repository = repository_.string();
    if (!options.scan) options.scan = ScanRepository;
    manager_ = std::make_unique<ModelManager>(
        options,
        [this](const std::string& path, const ModelConfig& config) {
          return loader_(path, config);
        },
        &metrics_, Clock::Real(),
        [this](const std::string& model, bool serving) {
          std::lock_guard<std::mutex> lock(health_mu_);
          health_[model] = serving;
        });
  }

  std::map<int64_t, ModelManager::VersionInfo> Versions(const std::string& model) {
    std::map<int64_t, ModelManager::VersionInfo> versions;
    for (auto& info : manager_->List()) {
      if (info.name == model) versions[info.version] = info;
    }
    return versions;
  }
  // Waits until `version` has left the listing (the unloader's callback ran);
  // the bound only keeps a broken build from hanging.
  void WaitUntilGone(const std::string& model, int64_t version) {
    for (int i = 0; i < 3000 && Versions(model).count(version); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  int64_t Serving(const std::string& model) {
    auto found = manager_->Find(model, 0);
    return found.ok() ? (*found)->version() : 0;
  }

  fs::path repository_;
  FakeLoader loader_;
  Metrics metrics_{"test", "none", "cpu"};
  std::mutex health_mu_;
  std::map<std::string, bool> health_;
  std::unique_ptr<ModelManager> manager_;
};

TEST_F(ModelManagerTest, SkipsAFailedVersionForTheNextOlderThatLoads) {
  Write("m", 1, "good");
  Write("m", 2, "good");
  Write("m", 3, "corrupt");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  auto versions = Versions("m");
  EXPECT_EQ(versions[3].state, ModelState::kFailed);
  EXPECT_THAT(versions[3].reason, HasSubstr("not a model"));
  EXPECT_EQ(versions[3].serving_version, 2);
  EXPECT_EQ(versions[2].state, ModelState::kReady);
  EXPECT_EQ(versions.count(1), 0u);  // latest-1: one version serves
  EXPECT_EQ(Serving("m"), 2);

  // Version 2 goes: version 1, still on disk, loads in its place.
  fs::remove_all(repository_ / "m" / "2");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(Serving("m"), 1);
  versions = Versions("m");
  EXPECT_EQ(versions[3].state, ModelState::kFailed);
  EXPECT_EQ(versions[3].serving_version, 1);
  EXPECT_EQ(loader_.attempts(Path("m", 3)), 1);  // unchanged: not retried
  std::lock_guard<std::mutex> lock(health_mu_);
  EXPECT_TRUE(health_["m"]);
}

TEST_F(ModelManagerTest, LatestTwoMeansTheTwoNewestThatLoad) {
  Write("m", 1, "good");
  Write("m", 2, "good");
  Write("m", 3, "corrupt");
  Write("m", 4, "good");
  WriteConfig("m", R"({"version_policy": {"latest": 2}})");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  auto versions = Versions("m");
  EXPECT_EQ(versions[4].state, ModelState::kReady);
  EXPECT_EQ(versions[3].state, ModelState::kFailed);
  EXPECT_EQ(versions[2].state, ModelState::kReady);
  EXPECT_EQ(versions.count(1), 0u);
  EXPECT_EQ(loader_.attempts(Path("m", 1)), 0);
}

TEST_F(ModelManagerTest, AVersionInMemoryServesUntilAReplacementLoads) {
  Write("m", 1, "corrupt");
  Write("m", 2, "good");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  ASSERT_EQ(Serving("m"), 2);
  // Its folder goes and the only other version fails: it serves on.
  fs::remove_all(repository_ / "m" / "2");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(Serving("m"), 2);
  EXPECT_EQ(Versions("m")[1].state, ModelState::kFailed);
  EXPECT_EQ(Versions("m")[1].serving_version, 2);
  // Once version 1 is fixed, it takes over and version 2 leaves.
  Write("m", 1, "good");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(Serving("m"), 1);
  EXPECT_TRUE(loader_.unloaded(Path("m", 2))->Wait());
  // The runner is freed before the unloader's callback takes the version
  // out of the listing: wait for that too.
  WaitUntilGone("m", 2);
  EXPECT_EQ(Versions("m").count(2), 0u);
  // A model without any version on disk is unloaded.
  fs::remove_all(repository_ / "m" / "1");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(manager_->Find("m", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, RetriesAFailedVersionWhenAnythingAboutItsFileChanges) {
  Write("m", 1, "good");
  Write("m", 2, "corrupt");
  Make();
  const std::string path = Path("m", 2);
  ASSERT_TRUE(manager_->Reconcile().ok());
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 1);

  ASSERT_EQ(::chmod(path.c_str(), 0), 0);  // mode
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 2);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 3);

  auto mtime = fs::last_write_time(path);  // mtime
  fs::last_write_time(path, mtime + std::chrono::seconds(1));
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 4);

  // The same bytes and times in a new file (inode), as `cp -p` then `mv`.
  const std::string copy = path + ".new";
  fs::copy_file(path, copy);
  fs::last_write_time(copy, fs::last_write_time(path));
  fs::rename(copy, path);
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 5);

  // SIGHUP's scan retries an unchanged one too.
  ASSERT_TRUE(manager_->Reconcile(ModelManager::Retry::kAll).ok());
  EXPECT_EQ(loader_.attempts(path), 6);
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 6);
  EXPECT_EQ(Serving("m"), 1);

  Write("m", 2, "good");  // size: fixed
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(path), 7);
  EXPECT_EQ(Serving("m"), 2);
}

TEST_F(ModelManagerTest, AnOldVersionUnloadsWhenItsLastRequestLetsGo) {
  Write("m", 1, "good");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  // An item of an open stream, in flight on version 1.
  absl::StatusOr<std::shared_ptr<ServedModel>> in_flight = manager_->Find("m", 0);
  ASSERT_TRUE(in_flight.ok());
  Write("m", 2, "good");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(Serving("m"), 2);
  std::shared_ptr<Unloaded> unloaded = loader_.unloaded(Path("m", 1));
  EXPECT_FALSE(unloaded->IsSet());
  auto versions = Versions("m");
  EXPECT_EQ(versions[1].state, ModelState::kUnloading);
  versions.clear();
  // The item is answered: the version unloads, on the unloader's thread.
  in_flight->reset();
  ASSERT_TRUE(unloaded->Wait());
  EXPECT_NE(unloaded->thread(), std::this_thread::get_id());
  // It leaves the listing once freed: wait for the unloader to say so.
  WaitUntilGone("m", 1);
  EXPECT_EQ(Versions("m").count(1), 0u);
  EXPECT_FALSE(loader_.unloaded(Path("m", 2))->IsSet());
}

TEST_F(ModelManagerTest, AVersionOnItsWayOutCanLoadAgain) {
  Write("m", 1, "good");
  Write("m", 2, "good");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  auto held = manager_->Find("m", 0);  // in flight on version 2
  ASSERT_TRUE(held.ok());
  Write("m", 3, "good");
  ASSERT_TRUE(manager_->Reconcile().ok());
  ASSERT_EQ(Versions("m")[2].state, ModelState::kUnloading);
  // Version 3 goes again: version 2 loads anew beside its leaving copy.
  fs::remove_all(repository_ / "m" / "3");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(Serving("m"), 2);
  EXPECT_NE(manager_->Find("m", 0)->get(), held->get());
  EXPECT_EQ(loader_.attempts(Path("m", 2)), 2);
  std::multiset<ModelState> states;
  for (const auto& info : manager_->List()) {
    if (info.version == 2) states.insert(info.state);
  }
  EXPECT_EQ(states, (std::multiset<ModelState>{ModelState::kReady,
                                                   ModelState::kUnloading}));
}

TEST_F(ModelManagerTest, AScanThatMeetsAChangingRepositoryIsMadeAgain) {
  Write("m", 1, "good");
  std::atomic<int> scans{0};
  ModelManager::Options options;
  options.scan = [&scans](const std::string& repository)
      -> absl::StatusOr<std::vector<ModelOnDisk>> {
    int scan = ++scans;
    if (scan == 1) return absl::AbortedError("changed while scanned");
    if (scan == 2) throw std::runtime_error("directory_iterator::operator++");
    return ScanRepository(repository);
  };
  Make(options);
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(scans, 3);
  EXPECT_EQ(Serving("m"), 1);

  // A scan that keeps failing: an error, and serving goes on.
  options.scan = [](const std::string&) -> absl::StatusOr<std::vector<ModelOnDisk>> {
    throw fs::filesystem_error("vanished", std::make_error_code(std::errc::no_such_file_or_directory));
  };
  manager_.reset();
  Make(options);
  absl::Status status = manager_->Reconcile();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("vanished"));
}

TEST_F(ModelManagerTest, AnUnreadableModelFolderKeepsWhatItServes) {
  Write("m", 1, "good");
  std::atomic<bool> unreadable{false};
  ModelManager::Options options;
  options.scan = [&unreadable](const std::string& repository)
      -> absl::StatusOr<std::vector<ModelOnDisk>> {
    auto found = ScanRepository(repository);
    if (found.ok() && unreadable) {
      for (ModelOnDisk& model : *found) {
        model.versions.clear();
        model.error = "permission denied";
      }
    }
    return found;
  };
  Make(options);
  ASSERT_TRUE(manager_->Reconcile().ok());
  unreadable = true;
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(Serving("m"), 1);
}

TEST_F(ModelManagerTest, ScanningARepositoryThatVanishesIsAnErrorNotAThrow) {
  Write("m", 1, "good");
  fs::remove_all(repository_);
  auto found = ScanRepository(repository_.string());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  // A model folder that is a dangling link, a version that is a file.
  fs::create_directories(repository_ / "m" / "1");
  std::ofstream(repository_ / "m" / "2") << "not a folder";
  fs::create_directory_symlink(repository_ / "nowhere", repository_ / "ghost");
  found = ScanRepository(repository_.string());
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_TRUE((*found)[0].versions.empty());
}

// A changed config.json reaches the versions already loaded: each is loaded
// again with the new settings, the old copy serving until the new one is
// ready and unloading once its requests let go.
TEST_F(ModelManagerTest, ChangedSettingsReloadTheVersionsLoaded) {
  Write("m", 1, "good");
  WriteConfig("m", R"({"max_batch_size": 16})");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  absl::StatusOr<std::shared_ptr<ServedModel>> before = manager_->Find("m", 0);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ((*before)->options().batching.max_batch_size, 16);
  std::shared_ptr<Unloaded> old_copy = loader_.unloaded(Path("m", 1));

  // Nothing changed: nothing is loaded again.
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(Path("m", 1)), 1);

  WriteConfig("m", R"({"max_batch_size": 8, "max_queue_size": 32})");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(Path("m", 1)), 2);
  absl::StatusOr<std::shared_ptr<ServedModel>> after = manager_->Find("m", 0);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->options().batching.max_batch_size, 8);
  EXPECT_EQ((*after)->options().batching.max_queue_size, 32);
  EXPECT_NE(before->get(), after->get());
  // The old copy still answers the request that holds it, then unloads.
  EXPECT_FALSE(old_copy->IsSet());
  EXPECT_EQ((*before)->options().batching.max_batch_size, 16);
  before->reset();
  EXPECT_TRUE(old_copy->Wait());
  EXPECT_FALSE(loader_.unloaded(Path("m", 1))->IsSet());
  // One READY copy; the old one may still be listed UNLOADING for a moment
  // after its runner is freed, as its entry goes last.
  int ready = 0;
  for (const ModelManager::VersionInfo& info : manager_->List()) {
    if (info.state == ModelState::kReady) {
      ++ready;
    } else {
      EXPECT_EQ(info.state, ModelState::kUnloading);
    }
  }
  EXPECT_EQ(ready, 1);
}

// New settings that fail to load leave the version serving with the old.
TEST_F(ModelManagerTest, SettingsThatFailToLoadKeepTheOldCopyServing) {
  Write("m", 1, "good");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  absl::StatusOr<std::shared_ptr<ServedModel>> before = manager_->Find("m", 0);
  ASSERT_TRUE(before.ok());
  Write("m", 1, "broken");  // the next load of this file fails
  WriteConfig("m", R"({"max_batch_size": 4})");
  ASSERT_TRUE(manager_->Reconcile().ok());
  absl::StatusOr<std::shared_ptr<ServedModel>> after = manager_->Find("m", 0);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(before->get(), after->get());
  EXPECT_EQ((*after)->options().batching.max_batch_size, 16);
  // Not tried again until the settings change again.
  const int attempts = loader_.attempts(Path("m", 1));
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(loader_.attempts(Path("m", 1)), attempts);
}

TEST_F(ModelManagerTest, TheDefaultModelIsFlaggedElseTheFirstByName) {
  Write("alpha", 1, "good");
  Write("zeta", 1, "good");
  Make();
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(manager_->DefaultModel(), "alpha");
  WriteConfig("zeta", R"({"default": true})");
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(manager_->DefaultModel(), "zeta");
  EXPECT_EQ((*manager_->Find("", 0))->name(), "zeta");

  ModelManager::Options options;
  options.default_model = "alpha";  // --default-model wins
  manager_.reset();
  Make(options);
  ASSERT_TRUE(manager_->Reconcile().ok());
  EXPECT_EQ(manager_->DefaultModel(), "alpha");
}

// A max_batch_size left to the server (0) is the loader's choice; one that
// the config sets stands whatever the loader says.
TEST_F(ModelManagerTest, TheLoaderChoosesTheBatchSizeTheConfigLeavesOpen) {
  Write("auto", 1, "good");
  Write("fixed", 1, "good");
  WriteConfig("fixed", R"({"max_batch_size": 8})");
  loader_.chosen_batch = 4;
  ModelManager::Options options;
  options.defaults.batching.max_batch_size = 0;
  Make(options);
  ASSERT_TRUE(manager_->Reconcile().ok());
  auto automatic = manager_->Find("auto", 0);
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ((*automatic)->options().batching.max_batch_size, 4);
  EXPECT_EQ((*automatic)->options().execution, "as the fake chose");
  auto fixed = manager_->Find("fixed", 0);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ((*fixed)->options().batching.max_batch_size, 8);
}

}  // namespace
}  // namespace gcnserve
