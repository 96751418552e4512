#ifndef GCNSERVE_CLIENT_BENCH_REPORT_H_
#define GCNSERVE_CLIENT_BENCH_REPORT_H_

#include <string>

#include "client/bench.h"

namespace gcnserve {

// The forms a bench result is printed in. Each holds every figure: per
// level the throughput, latency (avg, p50, p90, p95, p99, max), errors by
// status code, the server-side split (queue, preprocess, inference, server
// total, mean batch size), and the client's own CPU use.
class BenchReport {
 public:
  explicit BenchReport(const BenchResult& result) : result_(result) {}

  // For people: a heading that says what was measured, then one row per
  // level, then the errors by code.
  std::string Table() const;
  // One header line, then one line per level.
  std::string Csv() const;
  // One JSON object: {"target", "config": {...}, "levels": [...]}.
  std::string Json() const;

 private:
  const BenchResult& result_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_BENCH_REPORT_H_
