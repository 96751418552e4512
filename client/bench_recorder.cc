#include "client/bench_recorder.h"

#include <algorithm>
#include <cmath>

#include "client/classifier_client.h"

namespace gcnserve {

BenchSample BenchSample::FromResponse(int64_t latency_us,
                                      const v1::ClassifyResponse& response) {
  // A stream answers a failed item with `error` set and the call goes on.
  if (response.has_error() && response.error().code() != 0) {
    return Failed(latency_us,
                  static_cast<grpc::StatusCode>(response.error().code()));
  }
  BenchSample sample;
  sample.latency_us = latency_us;
  const v1::Timing& timing = response.timing();
  sample.queue_us = timing.queue_us();
  sample.preprocess_us = timing.preprocess_us();
  sample.inference_us = timing.inference_us();
  sample.server_total_us = timing.total_us();
  sample.batch_size = timing.batch_size();
  return sample;
}

BenchSample BenchSample::Failed(int64_t latency_us, grpc::StatusCode code) {
  BenchSample sample;
  sample.latency_us = latency_us;
  sample.code = code;
  return sample;
}

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // The small slack keeps float error (0.9 * 10 = 9.000...1) off the rank.
  auto rank = static_cast<size_t>(std::ceil(p * sorted.size() / 100.0 - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

BenchSummary BenchSummary::Of(const std::vector<BenchSample>& samples,
                              double seconds) {
  BenchSummary summary;
  summary.seconds = seconds;
  summary.requests = static_cast<int64_t>(samples.size());
  std::vector<int64_t> latencies;
  double queue = 0, preprocess = 0, inference = 0, server = 0, batch = 0,
         latency = 0;
  for (const BenchSample& s : samples) {
    if (s.code != grpc::StatusCode::OK) {
      ++summary.errors[StatusCodeName(s.code)];
      continue;
    }
    latencies.push_back(s.latency_us);
    latency += s.latency_us;
    queue += s.queue_us;
    preprocess += s.preprocess_us;
    inference += s.inference_us;
    server += s.server_total_us;
    batch += s.batch_size;
  }
  summary.ok = static_cast<int64_t>(latencies.size());
  summary.throughput = seconds > 0 ? summary.ok / seconds : 0;
  if (summary.ok == 0) return summary;
  std::sort(latencies.begin(), latencies.end());
  const double n = static_cast<double>(summary.ok);
  auto ms = [](double us) { return us / 1000.0; };
  summary.latency_avg_ms = ms(latency / n);
  summary.latency_p50_ms = ms(Percentile(latencies, 50));
  summary.latency_p90_ms = ms(Percentile(latencies, 90));
  summary.latency_p95_ms = ms(Percentile(latencies, 95));
  summary.latency_p99_ms = ms(Percentile(latencies, 99));
  summary.latency_max_ms = ms(latencies.back());
  summary.queue_ms = ms(queue / n);
  summary.preprocess_ms = ms(preprocess / n);
  summary.inference_ms = ms(inference / n);
  summary.server_ms = ms(server / n);
  summary.batch_size = batch / n;
  return summary;
}

bool IsStable(const std::vector<BenchSummary>& windows, int count,
              double tolerance) {
  if (count < 1 || static_cast<int>(windows.size()) < count) return false;
  auto within = [&](auto figure) {
    double sum = 0, low = 0, high = 0;
    for (size_t i = windows.size() - count; i < windows.size(); ++i) {
      double value = figure(windows[i]);
      if (i == windows.size() - count) low = high = value;
      low = std::min(low, value);
      high = std::max(high, value);
      sum += value;
    }
    double mean = sum / count;
    if (mean <= 0) return false;  // nothing answered: not a measurement
    return high - mean <= tolerance * mean && mean - low <= tolerance * mean;
  };
  return within([](const BenchSummary& s) { return s.throughput; }) &&
         within([](const BenchSummary& s) { return s.latency_p50_ms; });
}

void BenchRecorder::Record(const BenchSample& sample) {
  std::lock_guard<std::mutex> lock(mu_);
  if (measuring_) samples_.push_back(sample);
}

void BenchRecorder::StartMeasuring() {
  std::lock_guard<std::mutex> lock(mu_);
  measuring_ = true;
  samples_.clear();
}

void BenchRecorder::StopMeasuring() {
  std::lock_guard<std::mutex> lock(mu_);
  measuring_ = false;
  samples_.clear();
}

std::vector<BenchSample> BenchRecorder::TakeWindow() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BenchSample> window;
  window.swap(samples_);
  return window;
}

}  // namespace gcnserve
