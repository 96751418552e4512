// libFuzzer target over the HTTP API's request handling (HttpApi::Handle):
// every route, with the method, path, query, Content-Type, Grpc-Timeout and
// body a client chooses, through the real Pipeline, ModelManager,
// decoders and batcher to a fake model runner (a graph model of 4 points,
// no LibTorch). What a client sends may cost only bounded time and memory
// and must end in an answer, never a crash.
//
// Input, fields separated by a 0 byte (missing ones are empty):
//   method \0 path \0 query \0 content-type \0 grpc-timeout \0 body
// where query is "name=value&..." (taken as already decoded, as the HTTP
// daemon hands it over). tests/fuzz/make_http_seeds.py writes the seeds.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_split.h"
#include "server/base/thread_pool.h"
#include "server/decode/decode_budget.h"
#include "server/models/model_manager.h"
#include "server/monitoring/metrics.h"
#include "server/pipeline/pipeline.h"
#include "server/transport/http_api.h"
#include "server/transport/http_server.h"
#include "tests/support/recorded_exchange.h"

namespace gcnserve {
namespace {

constexpr int kPoints = 4;

// Two classes and a graph of kPoints points, the same for every image.
class FakeRunner : public ModelRunner {
 public:
  absl::StatusOr<ModelOutput> Run(const float*, int batch) override {
    ModelOutput out;
    out.batch = batch;
    out.classes = 2;
    out.points = kPoints;
    for (int i = 0; i < batch; ++i) {
      out.probabilities.insert(out.probabilities.end(), {0.25f, 0.75f});
      for (int p = 0; p < kPoints; ++p) {
        out.point_xy.insert(out.point_xy.end(), {1.0f * p, 2.0f * p});
        out.point_scores.push_back(0.5f);
        out.point_levels.push_back(0);
        for (int q = 0; q < kPoints; ++q) out.adjacency.push_back(p == q ? 0.5f : 0.1f);
      }
    }
    return out;
  }
};

ModelMetadata FakeMetadata() {
  ModelMetadata meta;
  meta.name = "model3";
  meta.architecture = "model3";
  meta.input.height = 16;
  meta.input.width = 16;
  meta.input.channels = 1;
  meta.input.color = "gray";
  meta.input.mean = {0.5f};
  meta.input.std = {0.25f};
  meta.labels = {"a", "b"};
  meta.num_points = kPoints;
  meta.adjacency = "similarity";
  return meta;
}

// The server's request path, built once: no disk, no network.
struct Fixture {
  Fixture() {
    ModelManager::Options options;
    options.repository = "/nonexistent";
    options.max_image_pixels = 4'000'000;
    options.max_decode_bytes = 64 << 20;
    options.scan = [](const std::string&) -> absl::StatusOr<std::vector<ModelOnDisk>> {
      ModelOnDisk model;
      model.name = "model3";
      model.versions = {{1, "fake-1"}, {2, "fake-2"}};
      return std::vector<ModelOnDisk>{model};
    };
    ModelConfig defaults;
    defaults.latest = 2;
    options.defaults = defaults;
    models = std::make_unique<ModelManager>(
        options,
        [](const std::string&, const ModelConfig&) -> absl::StatusOr<LoadedModel> {
          LoadedModel loaded;
          loaded.metadata = FakeMetadata();
          loaded.runners.push_back(std::make_unique<FakeRunner>());
          return loaded;
        },
        &metrics, Clock::Real(), [](const std::string&, bool) {});
    (void)models->Reconcile();
    pool = std::make_unique<ThreadPool>(1, 64);
    budget = std::make_unique<DecodeBudget>(int64_t{256} << 20);
    pipeline = std::make_unique<Pipeline>(models.get(), pool.get(), &metrics,
                                          Clock::Real(), budget.get());
    api = std::make_unique<HttpApi>(pipeline.get(), models.get(), &metrics,
                                    Clock::Real(),
                                    [] { return false; });
  }

  Metrics metrics{"fuzz", "none", "cpu"};
  std::unique_ptr<ModelManager> models;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<DecodeBudget> budget;
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<HttpApi> api;
};

std::vector<std::string_view> Fields(std::string_view data, size_t count) {
  std::vector<std::string_view> fields;
  while (fields.size() + 1 < count) {
    size_t end = data.find('\0');
    if (end == std::string_view::npos) break;
    fields.push_back(data.substr(0, end));
    data.remove_prefix(end + 1);
  }
  fields.push_back(data);
  fields.resize(count);
  return fields;
}

}  // namespace
}  // namespace gcnserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gcnserve;
  static Fixture* fixture = new Fixture;
  std::vector<std::string_view> f =
      Fields(std::string_view(reinterpret_cast<const char*>(data), size), 6);
  HttpRequest request;
  request.method = std::string(f[0]);
  request.path = std::string(f[1]);
  for (absl::string_view pair : absl::StrSplit(
           absl::string_view(f[2].data(), f[2].size()), '&', absl::SkipEmpty())) {
    size_t eq = pair.find('=');
    request.query[std::string(pair.substr(0, eq))] =
        eq == absl::string_view::npos ? "" : std::string(pair.substr(eq + 1));
  }
  request.content_type = std::string(f[3]);
  request.grpc_timeout = std::string(f[4]);
  request.body = std::string(f[5]);
  auto exchange = std::make_shared<RecordedExchange>(std::move(request));
  fixture->api->Handle(exchange);
  // Every request is answered (the fake runner is quick), with an HTTP
  // status a client can act on; a client's bytes never make a server error
  // (500) on their own.
  std::optional<HttpResponse> answer = exchange->Wait(std::chrono::seconds(60));
  if (!answer || answer->status < 200 || answer->status > 599 ||
      answer->status == 500) {
    __builtin_trap();
  }
  return 0;
}
