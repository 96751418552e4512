#ifndef GCNSERVE_CLIENT_BENCH_RECORDER_H_
#define GCNSERVE_CLIENT_BENCH_RECORDER_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gcnserve/v1/gcnserve.pb.h"

namespace gcnserve {

// One answered request, as the load generator saw it.
struct BenchSample {
  int64_t latency_us = 0;  // from the (scheduled) send to the answer
  grpc::StatusCode code = grpc::StatusCode::OK;
  // The server's own account (the response's timing), when OK.
  int64_t queue_us = 0;
  int64_t preprocess_us = 0;
  int64_t inference_us = 0;
  int64_t server_total_us = 0;
  int32_t batch_size = 0;

  static BenchSample FromResponse(int64_t latency_us,
                                  const v1::ClassifyResponse& response);
  static BenchSample Failed(int64_t latency_us, grpc::StatusCode code);
};

// Figures over a set of samples taken during `seconds` of load.
struct BenchSummary {
  double seconds = 0;
  int64_t requests = 0;  // answered, whatever the outcome
  int64_t ok = 0;
  std::map<std::string, int64_t> errors;  // status code name -> count
  double throughput = 0;                  // OK answers per second
  // Client-observed latency of the OK answers, milliseconds.
  double latency_avg_ms = 0, latency_p50_ms = 0, latency_p90_ms = 0,
         latency_p95_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
  // Means of the server's timing over the OK answers, milliseconds.
  double queue_ms = 0, preprocess_ms = 0, inference_ms = 0, server_ms = 0;
  double batch_size = 0;  // mean size of the batch a request ran in

  // The figures of `samples` taken over `seconds`.
  static BenchSummary Of(const std::vector<BenchSample>& samples,
                         double seconds);
};

// The nearest-rank percentile `p` (0 < p <= 100) of sorted `values`; 0 when
// empty.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

// Whether the last `count` summaries agree within `tolerance` (0.1 = ±10%
// of their mean) on throughput and on median latency, as perf_analyzer
// decides that a measurement is stable. False with fewer summaries.
bool IsStable(const std::vector<BenchSummary>& windows, int count,
              double tolerance);

// Collects samples from gRPC threads into measurement windows.
// Thread-safe. Samples recorded while not measuring (warm-up, drain) are
// dropped.
class BenchRecorder {
 public:
  void Record(const BenchSample& sample);
  // Starts keeping samples; the current window starts empty.
  void StartMeasuring();
  // Stops keeping samples and drops what the current window held.
  void StopMeasuring();
  // Returns the current window's samples and starts a new window.
  std::vector<BenchSample> TakeWindow();

 private:
  std::mutex mu_;
  bool measuring_ = false;            // guarded by mu_
  std::vector<BenchSample> samples_;  // guarded by mu_
};

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_BENCH_RECORDER_H_
