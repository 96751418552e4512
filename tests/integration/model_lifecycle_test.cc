// The live model repository on the real server: versions loaded and unloaded
// while clients send, failed loads, several models with their own settings,
// per-model health, and ClassifyStream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <future>
#include <thread>

#include "client/classifier_client.h"
#include "server/app/server.h"

namespace gcnserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using HealthResponse = grpc::health::v1::HealthCheckResponse;
using Key = std::pair<std::string, int64_t>;

const fs::path kTinyModel =
    fs::path(GCNSERVE_TEST_REPOSITORY) / "model3" / "1" / "model.pt";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string SampleImage() {
  for (const auto& entry : fs::directory_iterator(GCNSERVE_TEST_SAMPLES)) {
    if (entry.path().extension() == ".png") return ReadFile(entry.path());
  }
  return "";
}

bool WaitFor(const std::function<bool()>& condition) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Clients that classify with `client` from 8 threads until stopped,
// counting answers and failures; `seen` is told of each answer.
class ClientLoad {
 public:
  ClientLoad(ClassifierClient* client, v1::ClassifyRequest request,
             std::function<void(const v1::ClassifyResponse&)> seen = nullptr) {
    for (int i = 0; i < 8; ++i) {
      threads_.emplace_back([this, client, request, seen] {
        while (!stop_) {
          v1::ClassifyResponse response;
          grpc::Status status = client->Classify(request, &response);
          if (!status.ok()) {
            ++failures_;
            std::lock_guard<std::mutex> lock(mu_);
            if (first_error_.empty()) first_error_ = status.error_message();
            continue;
          }
          ++answered_;
          if (seen) seen(response);
        }
      });
    }
  }
  ~ClientLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int answered() const { return answered_; }
  int failures() const { return failures_; }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0}, failures_{0};
  std::mutex mu_;
  std::string first_error_;
  std::vector<std::thread> threads_;
};

double Counter(Metrics& metrics, const std::string& name,
               const std::map<std::string, std::string>& labels) {
  double total = 0;
  for (const auto& family : metrics.registry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      size_t matched = 0;
      for (const auto& pair : metric.label) {
        auto it = labels.find(pair.name);
        if (it != labels.end() && it->second == pair.value) ++matched;
      }
      if (matched == labels.size()) total += metric.counter.value;
    }
  }
  return total;
}

class ModelLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repository_ = fs::path(testing::TempDir()) /
                  ("repository_" + std::string(::testing::UnitTest::GetInstance()
                                                   ->current_test_info()
                                                   ->name()) +
                   "_" + std::to_string(getpid()));  // runs side by side
    fs::remove_all(repository_);
    fs::create_directories(repository_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    fs::remove_all(repository_);
  }

  // Puts a copy of the tiny model at <model>/<version>/model.pt, appearing
  // at once (written aside, then renamed).
  void AddVersion(const std::string& model, int version,
                  const std::string& bytes = "") {
    fs::path staging = repository_ / ("." + model + std::to_string(version));
    fs::create_directories(staging);
    if (bytes.empty()) {
      fs::copy_file(kTinyModel, staging / "model.pt");
    } else {
      std::ofstream(staging / "model.pt", std::ios::binary) << bytes;
    }
    fs::create_directories(repository_ / model);
    fs::rename(staging, repository_ / model / std::to_string(version));
  }
  void WriteConfig(const std::string& model, const std::string& json) {
    fs::create_directories(repository_ / model);
    std::ofstream(repository_ / model / "config.json") << json;
  }

  void Start(ServerOptions options = {}) {
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address = "";
    options.http_address = "";
    options.model_repository = repository_.string();
    options.intra_op_threads = 1;
    options.drain_timeout_s = 10;
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ClientOptions client;
    client.target = "127.0.0.1:" + std::to_string(server_->grpc_port());
    client.deadline_ms = 30000;
    client_ = std::make_unique<ClassifierClient>(client);
  }

  using Stream = std::unique_ptr<
      grpc::ClientReaderWriter<v1::ClassifyRequest, v1::ClassifyResponse>>;
  Stream OpenStream(grpc::ClientContext* context) {
    return client_->stub().ClassifyStream(context);
  }

  // A request for the sample image from `model`.
  static v1::ClassifyRequest SampleRequest(const std::string& model) {
    v1::ClassifyRequest request;
    request.set_model(model);
    request.set_image(SampleImage());
    return request;
  }

  std::map<Key, v1::ModelState> States() {
    v1::ListModelsResponse response;
    EXPECT_TRUE(client_->ListModels(&response).ok());
    std::map<Key, v1::ModelState> states;
    for (const auto& m : response.models()) states[{m.name(), m.version()}] = m.state();
    return states;
  }

  HealthResponse::ServingStatus Health(const std::string& service) {
    HealthResponse response;
    client_->Health(service, &response);
    return response.status();
  }

  grpc::Status Classify(const std::string& model, v1::ClassifyResponse* response) {
    return client_->Classify(SampleRequest(model), response);
  }

  fs::path repository_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<ClassifierClient> client_;
};

TEST_F(ModelLifecycleTest, NewVersionIsPickedUpWhileClientsSendWithNoFailure) {
  AddVersion("model3", 1);
  Start();
  v1::ClassifyRequest request;
  request.set_image(SampleImage());
  std::atomic<int64_t> newest_seen{0};
  ClientLoad load(client_.get(), request, [&](const v1::ClassifyResponse& response) {
    int64_t seen = newest_seen;
    while (response.version() > seen &&
           !newest_seen.compare_exchange_weak(seen, response.version())) {
    }
  });
  ASSERT_TRUE(WaitFor([&] { return load.answered() > 50; }));
  AddVersion("model3", 2);
  ASSERT_TRUE(server_->ReloadNow().ok());
  EXPECT_TRUE(WaitFor([&] { return newest_seen == 2; }));
  int at_switch = load.answered();
  ASSERT_TRUE(WaitFor([&] { return load.answered() > at_switch + 50; }));
  // Version 1 leaves once its requests are done (policy: the newest one).
  EXPECT_TRUE(WaitFor([&] { return States().count(Key("model3", 1)) == 0; }));
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.first_error();
  EXPECT_EQ(States()[Key("model3", 2)], v1::MODEL_STATE_READY);
}

// A changed config.json, picked up by SIGHUP under load, reaches the version
// already serving: it is loaded again with the new settings, and no request
// fails meanwhile.
TEST_F(ModelLifecycleTest, ChangedSettingsReachTheServingVersionUnderLoadWithNoFailure) {
  AddVersion("model3", 1);
  WriteConfig("model3", R"({"max_batch_size": 16})");
  Start();
  // The READY copy's; the old one may still be listed, UNLOADING.
  auto max_batch = [&] {
    v1::ListModelsResponse response;
    EXPECT_TRUE(client_->ListModels(&response).ok());
    for (const auto& m : response.models()) {
      if (m.name() == "model3" && m.version() == 1 &&
          m.state() == v1::MODEL_STATE_READY) {
        return m.max_batch_size();
      }
    }
    return -1;
  };
  ASSERT_EQ(max_batch(), 16);
  ClientLoad load(client_.get(), SampleRequest("model3"));
  ASSERT_TRUE(WaitFor([&] { return load.answered() > 50; }));
  WriteConfig("model3", R"({"max_batch_size": 8})");
  server_->RequestReload();  // as SIGHUP does
  EXPECT_TRUE(WaitFor([&] { return max_batch() == 8; }));
  const int at_switch = load.answered();
  ASSERT_TRUE(WaitFor([&] { return load.answered() > at_switch + 50; }));
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.first_error();
  EXPECT_EQ(max_batch(), 8);
}

TEST_F(ModelLifecycleTest, CorruptNewVersionFailsAndTheOldOneServes) {
  AddVersion("model3", 1);
  Start();
  AddVersion("model3", 2, "this is not a TorchScript file");
  ASSERT_TRUE(server_->ReloadNow().ok());
  auto states = States();
  EXPECT_EQ(states[Key("model3", 1)], v1::MODEL_STATE_READY);
  EXPECT_EQ(states[Key("model3", 2)], v1::MODEL_STATE_FAILED);
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify("model3", &response).ok());
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(Counter(server_->metrics(), "gcnserve_model_load_failures_total",
                    {{"model", "model3"}}),
            1);
  // Not retried while the file is unchanged.
  ASSERT_TRUE(server_->ReloadNow().ok());
  EXPECT_EQ(Counter(server_->metrics(), "gcnserve_model_load_failures_total",
                    {{"model", "model3"}}),
            1);
}

TEST_F(ModelLifecycleTest, RemovedModelFinishesItsQueuedRequestsThenUnloads) {
  AddVersion("keep", 1);
  AddVersion("gone", 1);
  WriteConfig("gone", R"({"max_queue_delay_us": 10000000})");
  Start();
  EXPECT_EQ(Health("gcnserve.v1.Classifier/gone"), HealthResponse::SERVING);
  const v1::ClassifyRequest request = SampleRequest("gone");
  v1::ClassifyResponse queued_response;
  std::promise<grpc::Status> queued;
  client_->ClassifyAsync(request, &queued_response,
                         [&queued](grpc::Status s) { queued.set_value(s); });
  Metrics::Model* metrics = server_->metrics().ForModel("gone");
  ASSERT_TRUE(WaitFor([&] { return metrics->queue_depth->Value() == 1; }));

  fs::remove_all(repository_ / "gone");
  ASSERT_TRUE(server_->ReloadNow().ok());
  grpc::Status status = queued.get_future().get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(queued_response.model(), "gone");
  EXPECT_TRUE(WaitFor([&] { return States().count(Key("gone", 1)) == 0; }));
  EXPECT_EQ(Health("gcnserve.v1.Classifier/gone"), HealthResponse::NOT_SERVING);
  v1::ClassifyResponse response;
  EXPECT_EQ(Classify("gone", &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Classify("keep", &response).ok());
}

TEST_F(ModelLifecycleTest, TwoModelsBatchWithTheirOwnSettings) {
  AddVersion("small", 1);
  AddVersion("large", 1);
  WriteConfig("small", R"({"max_batch_size": 2, "max_queue_delay_us": 2000000})");
  WriteConfig("large", R"({"max_batch_size": 4, "max_queue_delay_us": 2000000,
                          "instances": 2})");
  Start();
  v1::ListModelsResponse list;
  ASSERT_TRUE(client_->ListModels(&list).ok());
  std::map<std::string, int> max_batch;
  for (const auto& m : list.models()) max_batch[m.name()] = m.max_batch_size();
  EXPECT_EQ(max_batch["small"], 2);
  EXPECT_EQ(max_batch["large"], 4);

  const std::string image = SampleImage();
  constexpr int kPerModel = 8;
  std::vector<v1::ClassifyRequest> requests(2 * kPerModel);
  std::vector<v1::ClassifyResponse> responses(2 * kPerModel);
  std::atomic<int> done{0}, failed{0};
  for (int i = 0; i < 2 * kPerModel; ++i) {
    requests[i].set_model(i < kPerModel ? "small" : "large");
    requests[i].set_image(image);
    client_->ClassifyAsync(requests[i], &responses[i], [&](grpc::Status s) {
      if (!s.ok()) ++failed;
      ++done;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return done == 2 * kPerModel; }));
  EXPECT_EQ(failed, 0);
  // Batches close only when full (the delay is 2 s): 2s and 4s exactly.
  for (int i = 0; i < 2 * kPerModel; ++i) {
    EXPECT_EQ(responses[i].timing().batch_size(), i < kPerModel ? 2 : 4)
        << responses[i].model();
  }
}

TEST_F(ModelLifecycleTest, AModelServedAsSavedAnswersAsTheOptimizedOne) {
  AddVersion("optimized", 1);
  AddVersion("saved", 1);
  WriteConfig("saved", R"({"optimize": false})");
  Start();
  v1::ClassifyRequest request = SampleRequest("optimized");
  request.set_top_k(10);
  v1::ClassifyResponse optimized, saved;
  ASSERT_TRUE(client_->Classify(request, &optimized).ok());
  request.set_model("saved");
  ASSERT_TRUE(client_->Classify(request, &saved).ok());
  // Every class, by index (ties may order them either way); the points are
  // held to each other by gcnserve_device_check, ties included.
  auto by_index = [](const v1::ClassifyResponse& response) {
    std::map<int, float> probability;
    for (const auto& c : response.classes()) probability[c.index()] = c.probability();
    return probability;
  };
  std::map<int, float> want = by_index(saved), got = by_index(optimized);
  ASSERT_EQ(want.size(), 10u);
  ASSERT_EQ(got.size(), 10u);
  for (const auto& [index, probability] : want) {
    EXPECT_NEAR(got[index], probability, 1e-4) << "class " << index;
  }
  EXPECT_EQ(optimized.points_size(), saved.points_size());
}

TEST_F(ModelLifecycleTest, BadConfigIsRefusedNamingFileAndKey) {
  AddVersion("good", 1);
  AddVersion("bad", 1);
  WriteConfig("bad", R"({"max_batch_size": 4, "batch_sise": 8})");
  Start();
  auto states = States();
  EXPECT_EQ(states.count(Key("bad", 1)), 0u);  // nothing loaded for it
  EXPECT_EQ(states[Key("good", 1)], v1::MODEL_STATE_READY);
  EXPECT_EQ(Counter(server_->metrics(), "gcnserve_model_load_failures_total",
                    {{"model", "bad"}}),
            1);
}

TEST_F(ModelLifecycleTest, VersionPolicyServesTheListedVersions) {
  AddVersion("model3", 1);
  AddVersion("model3", 2);
  AddVersion("model3", 3);
  WriteConfig("model3", R"({"version_policy": {"versions": [1, 3]}})");
  Start();
  auto states = States();
  EXPECT_EQ(states.size(), 2u);
  EXPECT_EQ(states[Key("model3", 1)], v1::MODEL_STATE_READY);
  EXPECT_EQ(states[Key("model3", 3)], v1::MODEL_STATE_READY);
  v1::ClassifyRequest request = SampleRequest("");
  request.set_version(1);
  v1::ClassifyResponse response;
  ASSERT_TRUE(client_->Classify(request, &response).ok());
  EXPECT_EQ(response.version(), 1);
  request.set_version(0);
  ASSERT_TRUE(client_->Classify(request, &response).ok());
  EXPECT_EQ(response.version(), 3);
  request.set_version(2);
  EXPECT_EQ(client_->Classify(request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Two served versions, two queues of the default 512.
  Metrics::Model* metrics = server_->metrics().ForModel("model3");
  EXPECT_EQ(metrics->queue_capacity->Value(), 2 * 512);
  EXPECT_EQ(metrics->queue_depth->Value(), 0);
}

TEST_F(ModelLifecycleTest, TheDefaultModelIsTheOneItsConfigMarksElseTheFirstByName) {
  AddVersion("alpha", 1);
  AddVersion("zeta", 1);
  WriteConfig("zeta", R"({"default": true})");
  Start();
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify("", &response).ok());
  EXPECT_EQ(response.model(), "zeta");
  fs::remove_all(repository_ / "zeta");
  ASSERT_TRUE(server_->ReloadNow().ok());
  ASSERT_TRUE(WaitFor([&] { return States().count(Key("zeta", 1)) == 0; }));
  ASSERT_TRUE(Classify("", &response).ok());
  EXPECT_EQ(response.model(), "alpha");
}

// Clients that classify in a loop until stopped, counting answers by code.
class Load {
 public:
  Load(ClassifierClient* client, int threads) {
    const std::string image = SampleImage();
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, client, image] {
        v1::ClassifyRequest request;
        request.set_image(image);
        while (!stop_) {
          v1::ClassifyResponse response;
          grpc::Status status = client->Classify(request, &response);
          std::lock_guard<std::mutex> lock(mu_);
          ++codes_[status.error_code()];
          if (status.ok()) versions_.insert(response.version());
          if (!status.ok()) last_error_ = status.error_message();
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }
  int count(grpc::StatusCode code) {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_[code];
  }
  int total() {
    std::lock_guard<std::mutex> lock(mu_);
    int total = 0;
    for (const auto& [code, n] : codes_) total += n;
    return total;
  }
  std::set<int64_t> versions() {
    std::lock_guard<std::mutex> lock(mu_);
    return versions_;
  }
  std::string last_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }
  // "code: count, ...; last error: ..." for failure messages.
  std::string Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string text;
    for (const auto& [code, n] : codes_) {
      text += std::to_string(static_cast<int>(code)) + ": " + std::to_string(n) + ", ";
    }
    return text + "last error: " + last_error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<grpc::StatusCode, int> codes_;
  std::set<int64_t> versions_;
  std::string last_error_;
};

TEST_F(ModelLifecycleTest, TheNewestVersionThatLoadsServesAndNoRequestFails) {
  AddVersion("m", 1);
  AddVersion("m", 2);
  AddVersion("m", 3, "this is not a TorchScript file");
  Start();
  Load load(client_.get(), 4);
  ASSERT_TRUE(WaitFor([&] { return load.total() > 20; }));
  auto states = States();
  EXPECT_EQ(states[Key("m", 3)], v1::MODEL_STATE_FAILED);
  EXPECT_EQ(states[Key("m", 2)], v1::MODEL_STATE_READY);

  // The serving version's folder goes: version 1, on disk, loads in its
  // place, while version 2 serves until it is ready.
  fs::remove_all(repository_ / "m" / "2");
  ASSERT_TRUE(server_->ReloadNow().ok());
  int at_reload = load.total();
  ASSERT_TRUE(WaitFor([&] { return load.total() > at_reload + 20; }));
  v1::ListModelsResponse list;
  ASSERT_TRUE(client_->ListModels(&list).ok());
  bool listed_failed = false;
  for (const auto& m : list.models()) {
    if (m.name() != "m" || m.version() != 3) continue;
    listed_failed = true;
    EXPECT_EQ(m.state(), v1::MODEL_STATE_FAILED);
    EXPECT_FALSE(m.state_reason().empty());
    EXPECT_EQ(m.serving_version(), 1);
  }
  EXPECT_TRUE(listed_failed);
  EXPECT_EQ(Health("gcnserve.v1.Classifier/m"), HealthResponse::SERVING);
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify("m", &response).ok());
  EXPECT_EQ(response.version(), 1);

  // A good version 4 arrives and takes over.
  AddVersion("m", 4);
  ASSERT_TRUE(server_->ReloadNow().ok());
  ASSERT_TRUE(WaitFor([&] { return load.versions().count(4) == 1; }));
  load.Stop();
  EXPECT_EQ(load.count(grpc::StatusCode::OK), load.total()) << load.last_error();
  EXPECT_EQ(load.versions(), (std::set<int64_t>{1, 2, 4}));
}

TEST_F(ModelLifecycleTest, AFailedVersionIsTriedAgainWhenItsFileChangesOrOnSighup) {
  AddVersion("m", 1);
  AddVersion("m", 2, "this is not a TorchScript file");
  Start();
  auto failures = [&] {
    return Counter(server_->metrics(), "gcnserve_model_load_failures_total",
                   {{"model", "m"}});
  };
  ASSERT_EQ(failures(), 1);
  // SIGHUP tries it again although nothing changed.
  server_->RequestReload();
  ASSERT_TRUE(WaitFor([&] { return failures() == 2; }));

  // Fixed in place, its modification time put back: the size tells.
  fs::path file = repository_ / "m" / "2" / "model.pt";
  auto mtime = fs::last_write_time(file);
  fs::copy_file(kTinyModel, file, fs::copy_options::overwrite_existing);
  fs::last_write_time(file, mtime);
  ASSERT_TRUE(server_->ReloadNow().ok());
  EXPECT_EQ(States()[Key("m", 2)], v1::MODEL_STATE_READY);
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify("m", &response).ok());
  EXPECT_EQ(response.version(), 2);
}

TEST_F(ModelLifecycleTest, AnOpenStreamDoesNotKeepTheOldVersionLoaded) {
  AddVersion("m", 1);
  Start();
  grpc::ClientContext context;
  Stream stream = OpenStream(&context);
  const v1::ClassifyRequest request = SampleRequest("m");
  v1::ClassifyResponse response;
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.version(), 1);

  AddVersion("m", 2);
  ASSERT_TRUE(server_->ReloadNow().ok());
  // Version 1 has nothing in flight: it unloads with the stream still open.
  EXPECT_TRUE(WaitFor([&] { return States().count(Key("m", 1)) == 0; }));
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.version(), 2);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ModelLifecycleTest, ADrainEndsOpenStreamsUnavailableAndShutdownReturns) {
  AddVersion("m", 1);
  Start();
  grpc::ClientContext context;
  Stream stream = OpenStream(&context);
  const v1::ClassifyRequest request = SampleRequest("m");
  v1::ClassifyResponse response;
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  // A reload while the stream stays open (this once kept v1 and the drain).
  AddVersion("m", 2);
  ASSERT_TRUE(server_->ReloadNow().ok());

  auto stopped = std::async(std::launch::async, [&] { server_->Shutdown(); });
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

TEST_F(ModelLifecycleTest, DrainingHealthStaysDownWhateverReloadsAndCallsGetUnavailable) {
  AddVersion("m", 1);
  Start();
  server_->BeginDrain();
  EXPECT_TRUE(server_->draining());
  EXPECT_EQ(Health(""), HealthResponse::NOT_SERVING);
  EXPECT_EQ(Health("gcnserve.v1.Classifier/m"), HealthResponse::NOT_SERVING);
  // A reload during the drain brings a model up: its health stays down.
  AddVersion("n", 1);
  ASSERT_TRUE(server_->ReloadNow().ok());
  EXPECT_EQ(Health("gcnserve.v1.Classifier/n"), HealthResponse::NOT_SERVING);
  EXPECT_EQ(Health("gcnserve.v1.Classifier"), HealthResponse::NOT_SERVING);
  v1::ClassifyResponse response;
  EXPECT_EQ(Classify("m", &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext context;
  Stream stream = OpenStream(&context);
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ModelLifecycleTest, TheGraceWindowAnswersUnavailableBeforeTheServerStops) {
  AddVersion("m", 1);
  ServerOptions options;
  options.drain_grace_s = 1;
  Start(options);
  Load load(client_.get(), 4);
  ASSERT_TRUE(WaitFor([&] { return load.count(grpc::StatusCode::OK) > 20; }));
  auto stopped = std::async(std::launch::async, [&] { server_->Shutdown(); });
  // Still listening: health answers NOT_SERVING and calls UNAVAILABLE,
  // saying why, until the window closes.
  ASSERT_TRUE(WaitFor([&] { return server_->draining(); }));
  HealthResponse health;
  grpc::Status checked = client_->Health("", &health);
  v1::ClassifyResponse response;
  grpc::Status classified = Classify("m", &response);
  EXPECT_NE(stopped.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_TRUE(checked.ok()) << checked.error_message();
  EXPECT_EQ(health.status(), HealthResponse::NOT_SERVING);
  EXPECT_EQ(classified.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(classified.error_message(), HasSubstr("shutting down"));
  stopped.get();
  load.Stop();
  // What was accepted before the drain was answered.
  EXPECT_EQ(load.count(grpc::StatusCode::OK) +
                load.count(grpc::StatusCode::UNAVAILABLE),
            load.total())
      << load.last_error();
}

TEST_F(ModelLifecycleTest, NoCallerIsCancelledByAShutdownUnderLoad) {
  AddVersion("m", 1);
  Start();
  // Clients that retry at once, in and past the shutdown.
  Load load(client_.get(), 32);
  ASSERT_TRUE(WaitFor([&] { return load.count(grpc::StatusCode::OK) > 50; }));
  server_->Shutdown();
  int at_stop = load.total();
  ASSERT_TRUE(WaitFor([&] { return load.total() > at_stop + 50; }))
      << load.Summary();
  load.Stop();
  EXPECT_EQ(load.count(grpc::StatusCode::CANCELLED), 0) << load.Summary();
  EXPECT_EQ(load.count(grpc::StatusCode::OK) +
                load.count(grpc::StatusCode::UNAVAILABLE),
            load.total())
      << load.Summary();
}

TEST_F(ModelLifecycleTest, StreamAnswersEveryItemIncludingCorruptOnes) {
  AddVersion("model3", 1);
  Start();
  grpc::ClientContext context;
  Stream stream = OpenStream(&context);
  constexpr int kItems = 1000;
  const std::string image = SampleImage();
  std::thread writer([&] {
    for (int i = 0; i < kItems; ++i) {
      v1::ClassifyRequest request;
      request.set_request_id(std::to_string(i));
      request.set_image(i % 100 == 7 ? image.substr(0, 40) : image);
      request.set_graph(v1::GRAPH_DETAIL_NONE);
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  std::set<int> ids, failed;
  v1::ClassifyResponse response;
  while (stream->Read(&response)) {
    int id = std::stoi(response.request_id());
    EXPECT_TRUE(ids.insert(id).second) << "answered twice: " << id;
    if (response.has_error()) {
      EXPECT_EQ(response.error().code(), grpc::StatusCode::INVALID_ARGUMENT);
      failed.insert(id);
    } else {
      EXPECT_EQ(response.classes_size(), 5);
    }
  }
  writer.join();
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(ids.size(), static_cast<size_t>(kItems));
  EXPECT_EQ(failed.size(), 10u);
  for (int id : failed) EXPECT_EQ(id % 100, 7);
}

TEST_F(ModelLifecycleTest, CancelledStreamFreesItsQueueEntries) {
  AddVersion("model3", 1);
  WriteConfig("model3", R"({"max_queue_delay_us": 10000000})");
  Start();
  grpc::ClientContext context;
  Stream stream = OpenStream(&context);
  const std::string image = SampleImage();
  for (int i = 0; i < 5; ++i) {
    v1::ClassifyRequest request;
    request.set_request_id(std::to_string(i));
    request.set_image(image);
    ASSERT_TRUE(stream->Write(request));
  }
  Metrics::Model* metrics = server_->metrics().ForModel("model3");
  ASSERT_TRUE(WaitFor([&] { return metrics->queue_depth->Value() == 5; }));
  context.TryCancel();
  EXPECT_TRUE(WaitFor([&] {
    return Counter(server_->metrics(), "gcnserve_requests_total",
                   {{"model", "model3"}, {"code", "CANCELLED"}}) == 5;
  }));
  EXPECT_TRUE(WaitFor([&] { return metrics->queue_depth->Value() == 0; }));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace gcnserve
