#include "server/monitoring/drift_registry.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "tests/server/fake_clock.h"

namespace gcnserve {
namespace {

// The value of the gauge `name` with these labels, or -1 when it is absent.
double GaugeValue(prometheus::Registry& registry, const std::string& name,
                  const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have == labels) return metric.gauge.value;
    }
  }
  return -1;
}

ModelMetadata WithReference() {
  ModelMetadata metadata;
  metadata.name = "m";
  metadata.labels = {"a", "b"};
  metadata.input.width = metadata.input.height = 32;
  DriftReference reference;
  reference.images = 100;
  reference.signals.push_back({DriftSignal::kPredictedClass, {}, {0.5, 0.5}});
  metadata.reference = reference;
  return metadata;
}

ModelOutput ClassZero() {
  ModelOutput output;
  output.batch = 1;
  output.classes = 2;
  output.probabilities = {0.9f, 0.1f};
  return output;
}

TEST(DriftRegistryTest, PublishesOnceTheWindowHoldsEnoughAndDropsUnloaded) {
  prometheus::Registry registry;
  DriftMonitor::Options options;
  options.window_requests = 10;
  options.min_requests = 5;
  DriftRegistry drift(registry, options);
  FakeClock clock;
  std::shared_ptr<DriftMonitor> monitor =
      drift.Add("m", 3, WithReference(), &clock);
  ASSERT_NE(monitor, nullptr);
  const std::map<std::string, std::string> labels = {{"model", "m"},
                                                     {"version", "3"}};
  for (int i = 0; i < 4; ++i) monitor->Record(ClassZero(), 0);
  drift.Publish();
  EXPECT_EQ(GaugeValue(registry, "gcnserve_drift_score", labels), -1);

  monitor->Record(ClassZero(), 0);
  drift.Publish();
  const double score = GaugeValue(registry, "gcnserve_drift_score", labels);
  EXPECT_GT(score, 0.25);  // all class 0 against half and half
  EXPECT_EQ(GaugeValue(registry, "gcnserve_drift_signal",
                       {{"model", "m"}, {"version", "3"},
                        {"signal", "predicted_class"}}),
            score);
  EXPECT_EQ(GaugeValue(registry, "gcnserve_drift_window_requests", labels), 5);

  monitor.reset();  // the version unloaded
  drift.Publish();
  EXPECT_EQ(GaugeValue(registry, "gcnserve_drift_score", labels), -1);
}

TEST(DriftRegistryTest, NoMonitorWithoutAReference) {
  prometheus::Registry registry;
  DriftRegistry drift(registry, {});
  FakeClock clock;
  ModelMetadata metadata = WithReference();
  metadata.reference.reset();
  EXPECT_EQ(drift.Add("m", 1, metadata, &clock), nullptr);
}

TEST(DriftRegistryTest, AVersionLoadedAgainKeepsItsGaugesWhenTheOldCopyGoes) {
  prometheus::Registry registry;
  DriftMonitor::Options options;
  options.window_requests = 10;
  options.min_requests = 1;
  DriftRegistry drift(registry, options);
  FakeClock clock;
  auto old_copy = drift.Add("m", 1, WithReference(), &clock);
  auto new_copy = drift.Add("m", 1, WithReference(), &clock);
  old_copy->Record(ClassZero(), 0);
  new_copy->Record(ClassZero(), 0);
  drift.Publish();
  old_copy.reset();
  drift.Publish();
  EXPECT_GT(GaugeValue(registry, "gcnserve_drift_score",
                       {{"model", "m"}, {"version", "1"}}),
            0.25);
}

}  // namespace
}  // namespace gcnserve
