#ifndef GCNSERVE_TESTS_SUPPORT_METRIC_VALUE_H_
#define GCNSERVE_TESTS_SUPPORT_METRIC_VALUE_H_

#include <map>
#include <string>

#include "server/monitoring/metrics.h"

namespace gcnserve {

// The value of a counter or gauge, or a histogram's count, with `labels`.
inline double MetricValue(Metrics& metrics, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  double total = 0;
  for (const auto& family : metrics.registry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [key, value] : labels) {
        bool found = false;
        for (const auto& pair : metric.label) {
          if (pair.name == key && pair.value == value) found = true;
        }
        match = match && found;
      }
      if (!match) continue;
      total += metric.counter.value + metric.gauge.value +
               static_cast<double>(metric.histogram.sample_count);
    }
  }
  return total;
}

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_METRIC_VALUE_H_
