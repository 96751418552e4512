#ifndef GCNSERVE_SERVER_MONITORING_DRIFT_REGISTRY_H_
#define GCNSERVE_SERVER_MONITORING_DRIFT_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "server/base/clock.h"
#include "server/monitoring/drift_monitor.h"
#include "server/runner/model_metadata.h"

namespace gcnserve {

// The drift monitors of the served versions, and their gauges:
// gcnserve_drift_score{model,version} (the largest signal),
// gcnserve_drift_signal{model,version,signal} and
// gcnserve_drift_window_requests{model,version}. A version's gauges appear
// once its window holds min_requests answers (DriftMonitor::Options) and
// leave when it falls below that again or the version is unloaded. Publish
// computes them; the /metrics server calls it before each scrape, so the
// request path never does. Thread-safe.
class DriftRegistry {
 public:
  DriftRegistry(prometheus::Registry& registry,
                const DriftMonitor::Options& options);

  // A monitor for a version being loaded, held by the version (the registry
  // keeps it weakly); nullptr, with one log line, when its export carries no
  // reference.
  std::shared_ptr<DriftMonitor> Add(const std::string& model, int64_t version,
                                    const ModelMetadata& metadata,
                                    Clock* clock);
  // Brings the gauges in line with the monitors' scores now.
  void Publish();

  const DriftMonitor::Options& options() const { return options_; }

 private:
  using Key = std::pair<std::string, int64_t>;  // model, version
  struct Gauges {
    prometheus::Gauge* score = nullptr;
    prometheus::Gauge* requests = nullptr;
    std::map<DriftSignal, prometheus::Gauge*> signals;
  };
  void Remove(Gauges& gauges) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DriftMonitor::Options options_;
  prometheus::Family<prometheus::Gauge>& score_;
  prometheus::Family<prometheus::Gauge>& signal_;
  prometheus::Family<prometheus::Gauge>& requests_;

  std::mutex mu_;
  // In the order added: a version loaded again comes after its leaving copy.
  std::vector<std::pair<Key, std::weak_ptr<DriftMonitor>>> monitors_
      ABSL_GUARDED_BY(mu_);
  std::map<Key, Gauges> published_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MONITORING_DRIFT_REGISTRY_H_
