#include "server/monitoring/metrics.h"

#include <prometheus/labels.h>

#include "absl/status/status.h"

namespace gcnserve {
namespace {

using prometheus::Histogram;

// 50 us to about 13 s, each bucket twice the last.
Histogram::BucketBoundaries DurationBuckets() {
  Histogram::BucketBoundaries buckets;
  for (double b = 50e-6; b < 15; b *= 2) buckets.push_back(b);
  return buckets;
}

// Finer towards 1, where a trained model's answers gather.
Histogram::BucketBoundaries ConfidenceBuckets() {
  return {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999};
}

Histogram::BucketBoundaries BatchSizeBuckets() {
  return {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128};
}

}  // namespace

Metrics::Metrics(const std::string& version, const std::string& torch_version,
                 const std::string& device,
                 const DriftMonitor::Options& drift)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("gcnserve_requests_total")
                    .Help("Requests answered, by model, gRPC status code and "
                          "protocol (grpc or http).")
                    .Register(*registry_)),
      request_duration_(
          prometheus::BuildHistogram()
              .Name("gcnserve_request_duration_seconds")
              .Help("Server-side time from a request's arrival to its answer.")
              .Register(*registry_)),
      stage_duration_(prometheus::BuildHistogram()
                          .Name("gcnserve_stage_duration_seconds")
                          .Help("Time spent per stage: queue, preprocess, "
                                "inference, postprocess.")
                          .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("gcnserve_batch_size")
                      .Help("Requests per batch run by the model.")
                      .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("gcnserve_queue_depth")
                       .Help("Requests waiting in the model's batch queues "
                             "(one per served version).")
                       .Register(*registry_)),
      queue_capacity_(prometheus::BuildGauge()
                          .Name("gcnserve_queue_capacity")
                          .Help("Requests the model's batch queues hold before "
                                "UNAVAILABLE: max_queue_size per served "
                                "version.")
                          .Register(*registry_)),
      model_ready_(prometheus::BuildGauge()
                       .Name("gcnserve_model_ready")
                       .Help("1 while a model version serves, else 0.")
                       .Register(*registry_)),
      load_failures_(prometheus::BuildCounter()
                         .Name("gcnserve_model_load_failures_total")
                         .Help("Model versions that failed to load or warm up.")
                         .Register(*registry_)),
      confidence_(prometheus::BuildHistogram()
                      .Name("gcnserve_prediction_confidence")
                      .Help("Top-1 probability of each answer.")
                      .Register(*registry_)),
      inflight_(&prometheus::BuildGauge()
                     .Name("gcnserve_inflight_requests")
                     .Help("Requests received and not yet answered.")
                     .Register(*registry_)
                     .Add({})),
      drift_(*registry_, drift) {
  prometheus::BuildGauge()
      .Name("gcnserve_build_info")
      .Help("Build facts; the value is always 1.")
      .Register(*registry_)
      .Add({{"version", version}, {"torch", torch_version}, {"device", device}})
      .Set(1);
}

Metrics::Model* Metrics::ForModel(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Model>& children = models_[model];
  if (children) return children.get();
  auto stage = [&](const char* name) {
    return &stage_duration_.Add({{"model", model}, {"stage", name}},
                                DurationBuckets());
  };
  children = std::make_unique<Model>(Model{
      &request_duration_.Add({{"model", model}}, DurationBuckets()),
      stage("queue"),
      stage("preprocess"),
      stage("inference"),
      stage("postprocess"),
      &batch_size_.Add({{"model", model}}, BatchSizeBuckets()),
      &queue_depth_.Add({{"model", model}}),
      &queue_capacity_.Add({{"model", model}}),
      &confidence_.Add({{"model", model}}, ConfidenceBuckets()),
      &drift_,
  });
  return children.get();
}

void Metrics::CountRequest(const std::string& model, absl::StatusCode code,
                           const char* protocol) {
  requests_
      .Add({{"model", model},
            {"code", absl::StatusCodeToString(code)},
            {"protocol", protocol}})
      .Increment();
}

void Metrics::SetModelReady(const std::string& model, int64_t version,
                            bool ready) {
  model_ready_.Add({{"model", model}, {"version", std::to_string(version)}})
      .Set(ready ? 1 : 0);
}

void Metrics::CountLoadFailure(const std::string& model) {
  load_failures_.Add({{"model", model}}).Increment();
}

}  // namespace gcnserve
