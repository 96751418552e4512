// The load generator against the real server on loopback. Speeds depend on
// the machine, so these tests check structure and counts, never timings.
#include "client/bench.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client/bench_report.h"
#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

double OkRequestsSeenByServer(Server& server) {
  double total = 0;
  for (const auto& family : server.metrics().registry()->Collect()) {
    if (family.name != "gcnserve_requests_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "code" && label.value == "OK") {
          total += metric.counter.value;
        }
      }
    }
  }
  return total;
}

TEST(ParseLevelsTest, ListsAndRanges) {
  EXPECT_THAT(*ParseLevels("1,2,4,8"), ElementsAre(1, 2, 4, 8));
  EXPECT_THAT(*ParseLevels("5"), ElementsAre(5));
  EXPECT_THAT(*ParseLevels("1:64"), ElementsAre(1, 2, 4, 8, 16, 32, 64));
  EXPECT_THAT(*ParseLevels("1:20:x3"), ElementsAre(1, 3, 9));
  EXPECT_THAT(*ParseLevels("100:400:100"), ElementsAre(100, 200, 300, 400));
  EXPECT_THAT(*ParseLevels("0.5:1.5:0.5"), ElementsAre(0.5, 1.0, 1.5));
  for (const char* bad : {"", "0", "1,,2", "-1", "a", "4:1", "1:8:x1", "1:8:0",
                          "1:2:3:4", "1:1e9:1"}) {
    EXPECT_FALSE(ParseLevels(bad).ok()) << bad;
  }
}

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = RunningServer::Start();
    ASSERT_NE(server_, nullptr);
  }

  BenchOptions Options() {
    BenchOptions options;
    for (const auto& path : RunningServer::Samples()) {
      options.images.push_back(RunningServer::Read(path));
    }
    options.warmup = std::chrono::milliseconds(0);
    options.duration = std::chrono::milliseconds(700);
    return options;
  }

  BenchResult Run(BenchOptions options) {
    auto bench = Bench::Create(&server_->client(), std::move(options));
    EXPECT_TRUE(bench.ok()) << bench.status();
    if (!bench.ok()) return {};
    return (*bench)->Run(nullptr);
  }

  // Every answer OK, figures in order, the server's split present.
  void ExpectHealthy(const BenchLevel& level) {
    const BenchSummary& s = level.summary;
    EXPECT_GT(s.requests, 0);
    EXPECT_EQ(s.ok, s.requests);
    EXPECT_TRUE(s.errors.empty());
    EXPECT_GT(s.throughput, 0);
    EXPECT_GT(s.latency_p50_ms, 0);
    EXPECT_LE(s.latency_p50_ms, s.latency_p90_ms);
    EXPECT_LE(s.latency_p90_ms, s.latency_p95_ms);
    EXPECT_LE(s.latency_p95_ms, s.latency_p99_ms);
    EXPECT_LE(s.latency_p99_ms, s.latency_max_ms);
    EXPECT_GT(s.inference_ms, 0);
    EXPECT_GE(s.server_ms, s.inference_ms);
    EXPECT_GE(s.batch_size, 1);
    EXPECT_LE(s.batch_size, 8);  // the server's max_batch_size
    EXPECT_GT(level.client_cpu, 0);
    EXPECT_GT(level.client_threads, 1);
  }

  // Skips the test while the server answers ClassifyStream UNIMPLEMENTED.
  bool StreamUnimplemented(const BenchResult& result) {
    for (const BenchLevel& level : result.levels) {
      const auto& errors = level.summary.errors;
      if (errors.size() == 1 && errors.count("UNIMPLEMENTED") &&
          level.summary.ok == 0) {
        return true;
      }
    }
    return false;
  }

  std::unique_ptr<RunningServer> server_;
};

TEST_F(BenchTest, RefusesOptionsThatCannotRun) {
  BenchOptions options = Options();
  options.levels = {1.5};
  EXPECT_THAT(Bench::Create(&server_->client(), options).status().message(),
              HasSubstr("whole number"));
  options = Options();
  options.images.clear();
  EXPECT_FALSE(Bench::Create(&server_->client(), options).ok());
  options = Options();
  options.duration = std::chrono::milliseconds(0);
  options.stable_windows = 4;
  options.max_windows = 3;
  EXPECT_FALSE(Bench::Create(&server_->client(), options).ok());
}

TEST_F(BenchTest, ClosedLoopSweepAnswersEveryRequest) {
  BenchOptions options = Options();
  options.levels = {1, 4};
  const double before = OkRequestsSeenByServer(server_->server());
  BenchResult result = Run(options);
  ASSERT_EQ(result.levels.size(), 2u);
  EXPECT_EQ(result.image_count, 10);
  EXPECT_EQ(result.levels[0].level, 1);
  EXPECT_EQ(result.levels[1].level, 4);
  int64_t answered = 0;
  for (const BenchLevel& level : result.levels) {
    ExpectHealthy(level);
    EXPECT_EQ(level.windows, 1);
    EXPECT_EQ(level.skipped, 0);
    answered += level.summary.ok;
  }
  // One request in flight never shares a batch.
  EXPECT_DOUBLE_EQ(result.levels[0].summary.batch_size, 1.0);
  // The server saw at least what was measured (plus what was not: the
  // requests in flight when each level's measurement ended).
  EXPECT_GE(OkRequestsSeenByServer(server_->server()) - before, answered);

  nlohmann::json json = nlohmann::json::parse(BenchReport(result).Json());
  ASSERT_EQ(json["levels"].size(), 2u);
  EXPECT_EQ(json["levels"][1]["concurrency"], 4.0);
  EXPECT_EQ(json["levels"][1]["ok"], result.levels[1].summary.ok);
  EXPECT_TRUE(json["levels"][1]["errors"].empty());
}

TEST_F(BenchTest, WindowsRepeatUntilStable) {
  BenchOptions options = Options();
  options.duration = std::chrono::milliseconds(0);
  options.window = std::chrono::milliseconds(400);
  options.stable_windows = 2;
  options.max_windows = 4;
  options.stability = 100;  // any two windows with answers agree
  BenchResult result = Run(options);
  ASSERT_EQ(result.levels.size(), 1u);
  EXPECT_TRUE(result.levels[0].stable);
  EXPECT_EQ(result.levels[0].windows, 2);
  ExpectHealthy(result.levels[0]);

  options.stability = 1e-9;  // never stable: runs every window
  result = Run(options);
  EXPECT_FALSE(result.levels[0].stable);
  EXPECT_EQ(result.levels[0].windows, 4);
  EXPECT_GT(result.levels[0].summary.ok, 0);
}

TEST_F(BenchTest, OpenLoopAtConstantAndPoissonRates) {
  for (Arrivals arrivals : {Arrivals::kConstant, Arrivals::kPoisson}) {
    BenchOptions options = Options();
    options.mode = LoadMode::kOpenLoop;
    options.arrivals = arrivals;
    options.levels = {40};
    options.duration = std::chrono::milliseconds(1000);
    BenchResult result = Run(options);
    ASSERT_EQ(result.levels.size(), 1u);
    ExpectHealthy(result.levels[0]);
    EXPECT_EQ(result.levels[0].skipped, 0);
    nlohmann::json json = nlohmann::json::parse(BenchReport(result).Json());
    EXPECT_EQ(json["config"]["mode"], "open");
    EXPECT_EQ(json["levels"][0]["rate"], 40.0);
  }
}

TEST_F(BenchTest, OpenLoopAtItsLimitSkipsRatherThanQueues) {
  BenchOptions options = Options();
  options.mode = LoadMode::kOpenLoop;
  options.levels = {2000};
  options.max_outstanding = 1;
  options.duration = std::chrono::milliseconds(500);
  BenchResult result = Run(options);
  ASSERT_EQ(result.levels.size(), 1u);
  // 1000 requests are due; one at a time in flight cannot send them all.
  EXPECT_GT(result.levels[0].skipped, 0);
  EXPECT_TRUE(result.levels[0].summary.errors.empty());
}

TEST_F(BenchTest, ClosedLoopStreaming) {
  BenchOptions options = Options();
  options.streaming = true;
  options.levels = {1, 3};
  BenchResult result = Run(options);
  ASSERT_EQ(result.levels.size(), 2u);
  if (StreamUnimplemented(result)) {
    GTEST_SKIP() << "the server answers ClassifyStream UNIMPLEMENTED";
  }
  for (const BenchLevel& level : result.levels) ExpectHealthy(level);
}

TEST_F(BenchTest, OpenLoopStreaming) {
  BenchOptions options = Options();
  options.streaming = true;
  options.streams = 2;
  options.mode = LoadMode::kOpenLoop;
  options.levels = {40};
  options.duration = std::chrono::milliseconds(1000);
  BenchResult result = Run(options);
  ASSERT_EQ(result.levels.size(), 1u);
  if (StreamUnimplemented(result)) {
    GTEST_SKIP() << "the server answers ClassifyStream UNIMPLEMENTED";
  }
  ExpectHealthy(result.levels[0]);
}

}  // namespace
}  // namespace gcnserve
