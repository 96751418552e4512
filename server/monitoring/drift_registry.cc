#include "server/monitoring/drift_registry.h"

#include <optional>
#include <string>

#include "server/base/log.h"

namespace gcnserve {

DriftRegistry::DriftRegistry(prometheus::Registry& registry,
                             const DriftMonitor::Options& options)
    : options_(options),
      score_(prometheus::BuildGauge()
                 .Name("gcnserve_drift_score")
                 .Help("Largest population stability index over the drift "
                       "signals of the version's recent answers against its "
                       "export's reference (0.1-0.25 moderate, above 0.25 "
                       "major).")
                 .Register(registry)),
      signal_(prometheus::BuildGauge()
                  .Name("gcnserve_drift_signal")
                  .Help("Population stability index of one drift signal of "
                        "the version's recent answers against its reference.")
                  .Register(registry)),
      requests_(prometheus::BuildGauge()
                    .Name("gcnserve_drift_window_requests")
                    .Help("Answers in the version's drift window.")
                    .Register(registry)) {}

std::shared_ptr<DriftMonitor> DriftRegistry::Add(const std::string& model,
                                                 int64_t version,
                                                 const ModelMetadata& metadata,
                                                 Clock* clock) {
  if (!metadata.reference || metadata.reference->signals.empty()) {
    Log("model ", model, " version ", version,
        ": its export carries no drift reference; served without drift "
        "metrics");
    return nullptr;
  }
  auto monitor = std::make_shared<DriftMonitor>(
      *metadata.reference, metadata.input.width, metadata.input.height,
      options_, clock);
  std::lock_guard<std::mutex> lock(mu_);
  monitors_.emplace_back(Key{model, version}, monitor);
  return monitor;
}

void DriftRegistry::Publish() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<Key, DriftMonitor::Score> scores;
  for (auto it = monitors_.begin(); it != monitors_.end();) {
    std::shared_ptr<DriftMonitor> monitor = it->second.lock();
    if (!monitor) {
      it = monitors_.erase(it);
      continue;
    }
    // A later copy of the same version overwrites an earlier one.
    std::optional<DriftMonitor::Score> score = monitor->Compute();
    if (score) {
      scores[it->first] = *std::move(score);
    } else {
      scores.erase(it->first);
    }
    ++it;
  }
  for (auto it = published_.begin(); it != published_.end();) {
    if (scores.count(it->first)) {
      ++it;
      continue;
    }
    Remove(it->second);
    it = published_.erase(it);
  }
  for (const auto& [key, score] : scores) {
    Gauges& gauges = published_[key];
    const std::map<std::string, std::string> labels = {
        {"model", key.first}, {"version", std::to_string(key.second)}};
    if (!gauges.score) {
      gauges.score = &score_.Add(labels);
      gauges.requests = &requests_.Add(labels);
    }
    gauges.score->Set(score.max);
    gauges.requests->Set(score.requests);
    for (const auto& [signal, psi] : score.signals) {
      prometheus::Gauge*& gauge = gauges.signals[signal];
      if (!gauge) {
        std::map<std::string, std::string> with_signal = labels;
        with_signal["signal"] =
            std::string(kDriftSignalNames[static_cast<int>(signal)]);
        gauge = &signal_.Add(with_signal);
      }
      gauge->Set(psi);
    }
  }
}

void DriftRegistry::Remove(Gauges& gauges) {
  if (gauges.score) score_.Remove(gauges.score);
  if (gauges.requests) requests_.Remove(gauges.requests);
  for (auto& [signal, gauge] : gauges.signals) signal_.Remove(gauge);
}

}  // namespace gcnserve
