#include "client/bench_recorder.h"

#include <gtest/gtest.h>

namespace gcnserve {
namespace {

BenchSample Ok(int64_t latency_us, int64_t server_us = 0, int batch = 1) {
  BenchSample s;
  s.latency_us = latency_us;
  s.server_total_us = server_us;
  s.queue_us = server_us / 2;
  s.batch_size = batch;
  return s;
}

BenchSummary Window(double throughput, double p50_ms) {
  BenchSummary s;
  s.throughput = throughput;
  s.latency_p50_ms = p50_ms;
  return s;
}

TEST(PercentileTest, NearestRank) {
  std::vector<int64_t> values;
  for (int i = 1; i <= 100; ++i) values.push_back(i);
  EXPECT_EQ(Percentile(values, 50), 50);
  EXPECT_EQ(Percentile(values, 90), 90);
  EXPECT_EQ(Percentile(values, 99), 99);
  EXPECT_EQ(Percentile(values, 100), 100);
  EXPECT_EQ(Percentile({7}, 99), 7);
  EXPECT_EQ(Percentile({1, 2, 3}, 50), 2);
  EXPECT_EQ(Percentile({}, 50), 0);
}

TEST(BenchSummaryTest, FiguresOfOkSamplesAndErrorsByCode) {
  std::vector<BenchSample> samples;
  for (int i = 1; i <= 10; ++i) samples.push_back(Ok(i * 1000, 500, i % 2 + 1));
  samples.push_back(
      BenchSample::Failed(99000, grpc::StatusCode::RESOURCE_EXHAUSTED));
  samples.push_back(
      BenchSample::Failed(1000, grpc::StatusCode::RESOURCE_EXHAUSTED));
  samples.push_back(
      BenchSample::Failed(1000, grpc::StatusCode::DEADLINE_EXCEEDED));
  BenchSummary s = BenchSummary::Of(samples, 2.0);
  EXPECT_EQ(s.requests, 13);
  EXPECT_EQ(s.ok, 10);
  EXPECT_DOUBLE_EQ(s.throughput, 5.0);  // OK answers per second
  ASSERT_EQ(s.errors.size(), 2u);
  EXPECT_EQ(s.errors.at("RESOURCE_EXHAUSTED"), 2);
  EXPECT_EQ(s.errors.at("DEADLINE_EXCEEDED"), 1);
  // Latency over the OK answers only: 1..10 ms.
  EXPECT_DOUBLE_EQ(s.latency_avg_ms, 5.5);
  EXPECT_DOUBLE_EQ(s.latency_p50_ms, 5);
  EXPECT_DOUBLE_EQ(s.latency_p90_ms, 9);
  EXPECT_DOUBLE_EQ(s.latency_p95_ms, 10);
  EXPECT_DOUBLE_EQ(s.latency_max_ms, 10);
  EXPECT_DOUBLE_EQ(s.server_ms, 0.5);
  EXPECT_DOUBLE_EQ(s.queue_ms, 0.25);
  EXPECT_DOUBLE_EQ(s.batch_size, 1.5);
}

TEST(BenchSummaryTest, EmptyWindowIsZeros) {
  BenchSummary s = BenchSummary::Of({}, 1.0);
  EXPECT_EQ(s.requests, 0);
  EXPECT_EQ(s.throughput, 0);
  EXPECT_EQ(s.latency_p99_ms, 0);
}

TEST(BenchSampleTest, StreamItemErrorIsAFailure) {
  v1::ClassifyResponse response;
  response.mutable_timing()->set_total_us(1234);
  response.mutable_timing()->set_batch_size(3);
  BenchSample ok = BenchSample::FromResponse(2000, response);
  EXPECT_EQ(ok.code, grpc::StatusCode::OK);
  EXPECT_EQ(ok.server_total_us, 1234);
  EXPECT_EQ(ok.batch_size, 3);
  response.mutable_error()->set_code(grpc::StatusCode::INVALID_ARGUMENT);
  BenchSample failed = BenchSample::FromResponse(2000, response);
  EXPECT_EQ(failed.code, grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(IsStableTest, LastWindowsMustAgreeOnThroughputAndLatency) {
  std::vector<BenchSummary> windows = {Window(50, 9), Window(100, 2),
                                       Window(105, 2.1), Window(98, 2.05)};
  EXPECT_TRUE(IsStable(windows, 3, 0.10));
  EXPECT_FALSE(IsStable(windows, 4, 0.10));  // the warm-up window differs
  EXPECT_FALSE(IsStable(windows, 3, 0.02));
  EXPECT_FALSE(IsStable(windows, 5, 0.10));  // not enough windows
  windows.back() = Window(100, 3);           // latency moved
  EXPECT_FALSE(IsStable(windows, 3, 0.10));
  EXPECT_FALSE(IsStable({Window(0, 0), Window(0, 0)}, 2, 0.1));  // no answers
}

TEST(BenchRecorderTest, KeepsSamplesOnlyWhileMeasuringInWindows) {
  BenchRecorder recorder;
  recorder.Record(Ok(1));  // warm-up: dropped
  recorder.StartMeasuring();
  recorder.Record(Ok(2));
  recorder.Record(Ok(3));
  std::vector<BenchSample> first = recorder.TakeWindow();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].latency_us, 2);
  recorder.Record(Ok(4));
  EXPECT_EQ(recorder.TakeWindow().size(), 1u);
  EXPECT_TRUE(recorder.TakeWindow().empty());
  recorder.Record(Ok(5));
  recorder.StopMeasuring();
  recorder.Record(Ok(6));  // draining: dropped
  EXPECT_TRUE(recorder.TakeWindow().empty());
}

}  // namespace
}  // namespace gcnserve
