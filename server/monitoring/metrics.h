#ifndef GCNSERVE_SERVER_MONITORING_METRICS_H_
#define GCNSERVE_SERVER_MONITORING_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "server/monitoring/drift_monitor.h"
#include "server/monitoring/drift_registry.h"

namespace gcnserve {

// Owns the Prometheus registry and every metric the README lists, and hands
// out pre-created children so that the request path does no map look-ups
// beyond one per request for the code counter. Thread-safe.
class Metrics {
 public:
  // The children of one model; the pointers live as long as the Metrics.
  struct Model {
    prometheus::Histogram* request_duration;  // seconds, server end to end
    prometheus::Histogram* queue;             // stage durations, seconds
    prometheus::Histogram* preprocess;
    prometheus::Histogram* inference;
    prometheus::Histogram* postprocess;
    prometheus::Histogram* batch_size;
    // Both sum over the model's served versions, each with its own queue.
    prometheus::Gauge* queue_depth;
    prometheus::Gauge* queue_capacity;  // max_queue_size of each queue
    prometheus::Histogram* confidence;  // top-1 probability of each answer
    DriftRegistry* drift;               // the Metrics' one
  };

  // `drift`: the window of every version's drift monitor.
  Metrics(const std::string& version, const std::string& torch_version,
          const std::string& device, const DriftMonitor::Options& drift = {});

  // The children for `model`, created on first use.
  Model* ForModel(const std::string& model);
  // Counts one finished request. Use model "" for requests that named no
  // known model, which keeps the label's values bounded; `protocol` is
  // "grpc" or "http" (ProtocolName).
  void CountRequest(const std::string& model, absl::StatusCode code,
                    const char* protocol);
  void SetModelReady(const std::string& model, int64_t version, bool ready);
  void CountLoadFailure(const std::string& model);
  prometheus::Gauge& inflight() { return *inflight_; }
  // The drift gauges; Publish before rendering the registry.
  DriftRegistry& drift() { return drift_; }

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Histogram>& stage_duration_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& queue_capacity_;
  prometheus::Family<prometheus::Gauge>& model_ready_;
  prometheus::Family<prometheus::Counter>& load_failures_;
  prometheus::Family<prometheus::Histogram>& confidence_;
  prometheus::Gauge* inflight_;
  DriftRegistry drift_;

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Model>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MONITORING_METRICS_H_
