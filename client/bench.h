#ifndef GCNSERVE_CLIENT_BENCH_H_
#define GCNSERVE_CLIENT_BENCH_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/bench_recorder.h"
#include "client/classifier_client.h"
#include "client/progress.h"

namespace gcnserve {

enum class LoadMode {
  kClosedLoop,  // a fixed number of requests in flight: send on each answer
  kOpenLoop,    // requests sent at a rate, whether or not answers keep up
};

enum class Arrivals {
  kConstant,  // evenly spaced
  kPoisson,   // exponential gaps: the bursts of many independent clients
};

struct BenchOptions {
  // Encoded images, read once and sent in turn. At least one.
  std::vector<std::string> images;
  std::string model;  // empty: the server's default model
  int64_t version = 0;
  v1::GraphDetail graph = v1::GRAPH_DETAIL_POINTS;
  int top_k = 5;
  // ClassifyStream instead of Classify. Closed loop: one stream per unit of
  // concurrency, one item in flight on each. Open loop: `streams` streams
  // share the items.
  bool streaming = false;
  int streams = 1;

  LoadMode mode = LoadMode::kClosedLoop;
  // The load levels, measured in turn: requests in flight (closed loop,
  // whole numbers) or requests per second (open loop).
  std::vector<double> levels = {1};
  Arrivals arrivals = Arrivals::kConstant;  // open loop only
  // Open loop: at most this many requests in flight; a request due while
  // the client is at the limit is not sent and is counted as skipped.
  int max_outstanding = 1024;

  // Each level runs `warmup` (not measured), then measurement windows of
  // `window` until the last `stable_windows` agree within `stability` on
  // throughput and median latency, or `max_windows` have run. The level's
  // figures are those of the last `stable_windows` windows together.
  std::chrono::milliseconds warmup{1000};
  std::chrono::milliseconds window{2000};
  int stable_windows = 3;
  double stability = 0.10;
  int max_windows = 10;
  // When positive: one window of this length per level, no stability search.
  std::chrono::milliseconds duration{0};

  uint64_t seed = 1;  // of the Poisson arrivals
};

// The figures of one load level.
struct BenchLevel {
  double level = 0;      // concurrency or requests per second
  int windows = 0;       // measurement windows run
  bool stable = false;   // the last windows agreed (false in fixed duration)
  BenchSummary summary;  // over the reported windows
  // Open loop: due but not sent, the client being at --max-outstanding (or,
  // streaming, between a failed stream and its replacement).
  int64_t skipped = 0;
  // The load generator's own CPU time (user + system, getrusage) per second
  // of measurement: 0.05 = 5% of one core. Includes anything else running in
  // the process (an in-process server, in tests).
  double client_cpu = 0;
  int client_threads = 0;  // threads in the process at the end of the level
};

struct BenchResult {
  std::string target;
  BenchOptions options;  // images dropped, `image_count` kept
  int image_count = 0;
  std::vector<BenchLevel> levels;
};

// A load generator against gcnserve, after Triton's perf_analyzer: closed
// loop over a list of concurrencies or open loop over a list of rates, unary
// or streaming, each level measured until stable.
//
// It is asynchronous (gRPC's callback API): its own threads are gRPC's few
// polling threads and, in open loop, one pacing thread, so on a 2-core
// machine it leaves the CPU to the server. Each level's result states the
// client's CPU use. Not thread-safe: one Run() at a time.
class Bench {
 public:
  // INVALID_ARGUMENT for options that cannot run: no images, a level below
  // 1 or a concurrency that is not whole, windows that are not positive...
  static absl::StatusOr<std::unique_ptr<Bench>> Create(ClassifierClient* client,
                                                       BenchOptions options);

  // Runs every level in turn. `progress` (may be null) shows each level's
  // windows as they pass.
  BenchResult Run(Progress* progress);

 private:
  Bench(ClassifierClient* client, BenchOptions options);
  BenchLevel RunLevel(double level, Progress* progress);

  ClassifierClient* const client_;
  const BenchOptions options_;
  // One request per image, built once; streams copy them to set request_id.
  std::vector<v1::ClassifyRequest> requests_;
  BenchRecorder recorder_;
};

// Load levels from a list "1,2,4,8" or a range START:END[:STEP], where STEP
// is a number to add or xN to multiply by (default x2): "1:64" is
// 1,2,4,...,64 and "100:400:100" is 100,200,300,400. Levels must be > 0.
absl::StatusOr<std::vector<double>> ParseLevels(const std::string& spec);

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_BENCH_H_
